"""The records ingest produces (Block, Article, Skipped), its error, and the file types it reads."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from rag.errors import IngestError
from rag.text import is_http_url


@dataclass(frozen=True)
class Block:
    """One paragraph of an article as parsed, before chunking."""

    text: str
    heading: str | None  # the section heading this paragraph sits under, or None


@dataclass(frozen=True)
class Article:
    """One article: where it came from, its title and its paragraphs in reading order."""

    source: str  # file path, URL, or "path#key" for one record of a multi-article file
    title: str
    blocks: tuple[Block, ...]
    url: str | None = None
    published: str | None = None

    @cached_property
    def content_hash(self) -> str:
        """Sha256 hex of title, blocks, url and published, so a changed article can be detected."""
        fields = [self.title, [[b.text, b.heading] for b in self.blocks], self.url, self.published]
        # ensure_ascii keeps lone surrogates hashable instead of failing to encode
        return hashlib.sha256(json.dumps(fields, ensure_ascii=True).encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Skipped:
    """A source that produced no article, with a one-sentence reason."""

    source: str
    reason: str


class _SourceError(IngestError):
    """An IngestError that keeps its short reason, so read_sources can report it in a Skipped."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"Could not ingest {source}: {reason}.")
        self.reason = reason


@dataclass(frozen=True)
class _Piece:
    """One element of a parsed page before titles, headings and furniture are sorted out."""

    text: str
    # "line": a lone line of running text, which may turn out to be a title or heading;
    # "para": certainly body text; "heading": marked up as one; "code": kept verbatim.
    kind: Literal["line", "para", "heading", "code"]


_Reader = Literal["text", "markdown", "html", "pdf", "records"]
_SUFFIXES: dict[str, _Reader] = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".jsonl": "records",
    ".json": "records",
}
_SUPPORTED = ", ".join(_SUFFIXES)


def _suffix(source: str) -> str:
    if is_http_url(source):
        return Path(urlsplit(source).path).suffix.lower()
    return Path(source).suffix.lower()
