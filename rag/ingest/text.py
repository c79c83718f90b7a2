"""Plain text and Markdown: paragraphs, soft wraps, Markdown markup and YAML front matter."""

from __future__ import annotations

import re
from typing import Literal

from rag.dates import dateline, parse_date
from rag.ingest.article import _SUFFIXES, Article, _Piece, _suffix
from rag.ingest.clean import _assemble, _is_chrome

_BLANK_LINE = re.compile(r"\n[^\S\n]*\n\s*")
# A lone line this long or longer cannot be hard-wrapped prose, so its newlines end paragraphs.
_UNWRAPPED_LINE = 100


def parse_text(
    text: str, source: str, *, markdown: bool | None = None, url: str | None = None
) -> Article:
    """Clean a plain-text or Markdown article into an Article (markdown=None: by suffix)."""
    if markdown is None:
        markdown = _SUFFIXES.get(_suffix(source)) == "markdown"
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if markdown:
        title, published, text = _front_matter(text)
        # the body's own lines, before furniture such as "Updated ... 2021" is dropped from them
        published = parse_date(published) or dateline(text)
        return _assemble(_markdown_pieces(text), source, title=title, url=url, published=published)
    return _assemble(_text_pieces(text), source, url=url, published=dateline(text))


def _text_pieces(text: str, *, drop_chrome: bool = True) -> list[_Piece]:
    """Paragraphs of plain text: blank lines separate them, single newlines are soft wraps."""
    pieces = []
    for block in _BLANK_LINE.split(text):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        while drop_chrome and lines and _is_chrome(lines[0]):
            del lines[0]
        while drop_chrome and lines and _is_chrome(lines[-1]):
            del lines[-1]
        if len(lines) == 1 or any(len(line) >= _UNWRAPPED_LINE for line in lines[:-1]):
            pieces += [_Piece(line, "line") for line in lines]
        elif lines:
            pieces.append(_Piece(" ".join(lines), "para"))
    return pieces


_MD_FENCE = re.compile(r" {0,3}(```+|~~~+)")
_MD_HEADING = re.compile(r" {0,3}(#{1,6})\s+(.*?)(\s+#+)?\s*")
_MD_RULE = re.compile(r" {0,3}([-*_=])( ?\1){2,}\s*")
_MD_ITEM = re.compile(r"\s*([-*+]|\d{1,9}[.)])\s+(.*)")
_MD_REFDEF = re.compile(r" {0,3}\[[^\]]+\]:\s*\S+.*")
# Inline markup; every pattern scans only up to the next delimiter, so none is quadratic.
_MD_INLINE = [
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), ""),
    (re.compile(r"\[([^\]]*)\](\([^)]*\)|\[[^\]]*\])"), r"\1"),
    (re.compile(r"<(https?://[^>\s]+)>"), r"\1"),
    (re.compile(r"`([^`]*)`"), r"\1"),
    (re.compile(r"(\*\*|__)([^*_]+)\1"), r"\2"),
    (re.compile(r"\*([^*]+)\*"), r"\1"),
    (re.compile(r"(?<!\w)_([^_]+)_(?!\w)"), r"\1"),
    (re.compile(r"~~([^~]+)~~"), r"\1"),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!>|~])"), r"\1"),
]


def _markdown_inline(line: str) -> str:
    for pattern, replacement in _MD_INLINE:
        line = pattern.sub(replacement, line)
    return line


def _markdown_pieces(text: str) -> list[_Piece]:
    """Headings, paragraphs, list items and code blocks of a Markdown document."""
    pieces: list[_Piece] = []
    lines: list[str] = []  # the paragraph being read
    kind: Literal["line", "para"] = "line"

    def flush() -> None:
        if lines:
            joined = " ".join(lines)
            pieces.append(_Piece(joined, "line" if kind == "line" and len(lines) == 1 else "para"))
            lines.clear()

    fence: str | None = None
    code: list[str] = []
    for raw in text.split("\n"):
        if fence is not None:
            if raw.strip().startswith(fence):
                pieces.append(_Piece("\n".join(code), "code"))
                fence, code = None, []
            else:
                code.append(raw.rstrip())
            continue
        line = raw.strip()
        while line.startswith(">"):
            line = line[1:].strip()
        if opened := _MD_FENCE.match(raw):
            flush()
            fence = opened.group(1)
        elif not line or _MD_REFDEF.fullmatch(line):
            flush()
        elif (heading := _MD_HEADING.fullmatch(line)) is not None:
            flush()
            pieces.append(_Piece(_markdown_inline(heading.group(2)), "heading"))
        elif _MD_RULE.fullmatch(line):
            # "===" or "---" under a single line makes that line a heading (setext style)
            if len(lines) == 1 and kind == "line" and line[0] in "=-":
                pieces.append(_Piece(lines.pop(), "heading"))
            flush()
        elif (item := _MD_ITEM.fullmatch(line)) is not None or line.startswith("|"):
            flush()
            lines.append(_markdown_inline(item.group(2) if item else line.strip("|")))
            kind = "para"  # a list item or table row is body text even when short
        else:
            if not lines:
                kind = "line"
            lines.append(_markdown_inline(line))
    flush()
    if code:
        pieces.append(_Piece("\n".join(code), "code"))
    return pieces


def _front_matter(text: str) -> tuple[str | None, str | None, str]:
    """Split YAML front matter off a Markdown file, keeping its title and date."""
    if not text.startswith("---\n") or (end := text.find("\n---", 4)) < 0:
        return None, None, text
    fields = {}
    for line in text[4:end].split("\n"):
        key, _, value = line.partition(":")
        fields[key.strip().lower()] = value.strip().strip("\"'") or None
    rest = text[end + 4 :].partition("\n")[2]
    return fields.get("title"), fields.get("published") or fields.get("date"), rest
