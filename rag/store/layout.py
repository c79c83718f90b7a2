"""The files of an index generation, its manifest, and the checks that refuse a bad one."""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO

from rag.errors import IndexFormatError

# 2: paragraphs' entity tags are stored (the entities table). 3: their word tokens' vectors
# (the tokens table, rag.tokens).
FORMAT_VERSION = 3
MANIFEST = "manifest.json"
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
    # The learned ranker and answerability model in use when it was built (their versions).
    ranker: str
    created: str
    tagger: str = ""  # what tagged the paragraphs' entities (rag.answertype.TAGGER_VERSION)
    # Where the vectors are and how they are indexed (rag.store.vectors); an index written
    # before stores existed has flat FAISS files.
    vectors: dict = field(default_factory=lambda: {"store": "faiss"})

    def to_json(self) -> str:
        """Serialize for manifest.json."""
        data = self.__dict__ | {"inputs": list(self.inputs)}
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_file(cls, path: Path) -> Manifest:
        """Read manifest.json, refusing anything that is not a complete, well-typed manifest."""
        rebuild = f"rebuild with: {rebuild_command(path.parent.parent)}"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data["inputs"] = tuple(data["inputs"])
            manifest = cls(**data)
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise IndexFormatError(
                f"{path} is missing or not a valid manifest ({error.__class__.__name__}); {rebuild}"
            ) from None
        for spec in fields(cls):
            value = getattr(manifest, spec.name)
            if not _FIELD_CHECKS[spec.name](value):
                raise IndexFormatError(
                    f"{path} is not a valid manifest ({spec.name} is {value!r}, not "
                    f"{_FIELD_KINDS[spec.name]}); {rebuild}"
                )
        return manifest

    def rebuild_command(self, index_dir: Path, model: str | None = None) -> str:
        """The command that rebuilds this index from its sources, optionally with another model."""
        return rebuild_command(index_dir, self.inputs, model)

    def update_command(self, index_dir: Path) -> str:
        """The command that updates this index from its sources (new and changed articles only)."""
        return index_command(index_dir, self.inputs)


def rebuild_command(index_dir: Path, inputs: Sequence[str] = (), model: str | None = None) -> str:
    """The command that rebuilds an index from inputs (written <sources> when none are known),
    optionally with another model."""
    return f"{index_command(index_dir, inputs, model)} --rebuild"


def index_command(index_dir: Path, inputs: Sequence[str] = (), model: str | None = None) -> str:
    """The command that indexes inputs into an index (written <sources> when none are known)."""
    sources = " ".join(shlex.quote(s) for s in inputs) or "<sources>"
    model_flag = f" --model {shlex.quote(model)}" if model else ""
    return f"rag index {sources} --index {shlex.quote(str(index_dir))}{model_flag}"


def _is_count(value: object) -> bool:
    return type(value) is int and value >= 0


# What each manifest field must hold; JSON would happily give a string or a bool instead.
_FIELD_CHECKS = {
    "format": lambda v: type(v) is int,
    "model": lambda v: isinstance(v, str) and bool(v),
    "dimension": lambda v: _is_count(v) and v > 0,
    "normalized": lambda v: type(v) is bool,
    "chunker": lambda v: isinstance(v, str),
    "articles": _is_count,
    "paragraphs": _is_count,
    "sentences": _is_count,
    "inputs": lambda v: all(isinstance(i, str) for i in v),
    "ranker": lambda v: isinstance(v, str) and bool(v),
    "created": lambda v: isinstance(v, str),
    "tagger": lambda v: isinstance(v, str),
    "vectors": lambda v: isinstance(v, dict) and isinstance(v.get("store"), str),
}
_FIELD_KINDS = {
    "format": "an integer",
    "model": "a model name",
    "dimension": "a positive integer",
    "normalized": "true or false",
    "chunker": "a string",
    "articles": "a count",
    "paragraphs": "a count",
    "sentences": "a count",
    "inputs": "a list of sources",
    "ranker": "the ranker's version",
    "created": "a timestamp",
    "tagger": "a tagger version",
    "vectors": "a vector store description",
}


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
            f"rebuild with: {rebuild_command(index_dir)}"
        )
    return index_dir / name


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


def pin_generation(index_dir: Path) -> tuple[Path | None, IO[bytes] | None]:
    """The live generation and a shared lock on it that keeps writers from deleting it.

    The lock (a shared flock on its manifest) lasts until the returned file is closed. When the
    generation cannot be pinned because it is broken (no manifest), it is returned unpinned so
    that opening it reports what is wrong; (None, None) when there is no index.
    """
    for _ in range(100):
        generation = current_generation(index_dir)
        if generation is None:
            return None, None
        pin = _lock_manifest(generation, fcntl.LOCK_SH)
        if pin is not None:
            return generation, pin
        if current_generation(index_dir) == generation:
            return generation, None  # not being replaced: broken, and opening it will say how
    raise IndexFormatError(
        f"{index_dir} changed 100 times while it was being opened; try again when indexing ends."
    )


def remove_generation(path: Path) -> bool:
    """Delete a generation (or a stale build) unless a reader has pinned it; True if removed."""
    lock = _lock_manifest(path, fcntl.LOCK_EX)
    try:
        if lock is None and (path / MANIFEST).exists():
            return False  # pinned by a reader: the next writer will try again
        shutil.rmtree(path, ignore_errors=True)
        return True
    finally:
        if lock is not None:
            lock.close()


def _lock_manifest(generation: Path, mode: int) -> IO[bytes] | None:
    """Open the generation's manifest and flock it (non-blocking); None if gone or refused."""
    path = generation / MANIFEST
    try:
        file = open(path, "rb")  # noqa: SIM115 — the caller holds it as the lock
    except OSError:
        return None
    try:
        fcntl.flock(file, mode | fcntl.LOCK_NB)
        # Deleted between open and lock: the lock would pin nothing.
        if os.stat(path).st_ino != os.fstat(file.fileno()).st_ino:
            raise FileNotFoundError(path)
    except OSError:
        file.close()
        return None
    return file
