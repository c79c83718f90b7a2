"""The files of an index generation, its manifest, and the checks that refuse a bad one."""

from __future__ import annotations

import json
import shlex
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import faiss

from rag.errors import IndexFormatError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PARAGRAPH_VECTORS = "paragraphs.faiss"
SENTENCE_VECTORS = "sentences.faiss"
DATABASE = "index.sqlite"
PARAGRAPH_KEYWORDS = "paragraph-keywords"
SENTENCE_KEYWORDS = "sentence-keywords"


@dataclass(frozen=True)
class Manifest:
    """What an index was built with; loading refuses an index whose manifest does not match."""

    format: int
    model: str
    dimension: int
    normalized: bool
    chunker: str
    articles: int
    paragraphs: int
    sentences: int
    inputs: tuple[str, ...]
    abstain_threshold: float
    created: str

    def to_json(self) -> str:
        """Serialize for manifest.json."""
        data = self.__dict__ | {"inputs": list(self.inputs)}
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_file(cls, path: Path) -> Manifest:
        """Read manifest.json, refusing anything that is not a complete manifest."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data["inputs"] = tuple(data["inputs"])
            return cls(**data)
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise IndexFormatError(
                f"{path} is missing or not a valid manifest ({error.__class__.__name__}); "
                f"rebuild with: rag index <sources> --index {path.parent.parent} --rebuild"
            ) from None

    def rebuild_command(self, index_dir: Path, model: str | None = None) -> str:
        """The command that rebuilds this index from its sources, optionally with another model."""
        sources = " ".join(shlex.quote(s) for s in self.inputs) or "<sources>"
        model_flag = f" --model {shlex.quote(model)}" if model else ""
        return f"rag index {sources} --index {shlex.quote(str(index_dir))}{model_flag} --rebuild"


def current_generation(index_dir: Path) -> Path | None:
    """Return the live generation folder of an index, or None when there is no index."""
    try:
        name = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise IndexFormatError(f"Cannot read {index_dir / 'CURRENT'}: {error.strerror}.") from None
    if not name.startswith("gen-") or "/" in name:
        raise IndexFormatError(
            f"{index_dir / 'CURRENT'} names {name!r}, not a generation folder; "
            f"rebuild with: rag index <sources> --index {index_dir} --rebuild"
        )
    return index_dir / name


def read_faiss(path: Path, rebuild: str) -> faiss.Index:
    if not path.is_file():
        raise IndexFormatError(f"{path} is missing; rebuild with: {rebuild}")
    try:
        return faiss.read_index(str(path))
    except RuntimeError:
        raise IndexFormatError(
            f"{path} is not a readable FAISS index (truncated or corrupt); rebuild with: {rebuild}"
        ) from None


def database_counts(path: Path, rebuild: str) -> tuple[int, int, int]:
    if not path.is_file():
        raise IndexFormatError(f"{path} is missing; rebuild with: {rebuild}")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return tuple(
                connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("articles", "paragraphs", "sentences")
            )
        finally:
            connection.close()
    except sqlite3.DatabaseError:
        raise IndexFormatError(
            f"{path} is not a readable SQLite database (truncated or corrupt); "
            f"rebuild with: {rebuild}"
        ) from None
