"""Ingest: turn files, folders and URLs into clean articles made of paragraph blocks."""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import os
import re
import unicodedata
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from html.parser import HTMLParser
from http.client import HTTPException
from pathlib import Path
from typing import Any, Literal
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

import charset_normalizer
import pypdf
import trafilatura

from rag.errors import IngestError


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
_USER_AGENT = "rag-ingest/0.1 (question answering over articles)"

# Page furniture. Matched against whole lines of at most _CHROME_MAX_WORDS words only, so a real
# paragraph that happens to mention "subscribe" or "cookies" is never dropped.
_CHROME_MAX_WORDS = 12
_MONTH = (
    r"(january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)\b\.?"
)
_CHROME = re.compile(
    "|".join(
        [
            r"skip to (the )?(main )?(content|navigation|menu)",
            r"(view )?source( link)?",
            r"(share|tweet|email|print)( this)?( article| story| post| page)?( on \w+)?",
            r"share (on|via) \w+( and \w+)?",
            r"(subscribe|sign up)( now| today| here| free)?( (for|to) .*)?|register( now| here)?",
            r"sign (in|out)|log ?(in|out)|my account|menu|search|home|close|back to top",
            r"advertisement|advertising|sponsored( content)?|ad",
            r"(continue )?read(ing)? more\b.*|read next|continue reading",
            r"read (the )?full (story|article)",
            r"click here\b.*|follow us\b.*|like us on \w+",
            r"(we|this (web)?site) uses? cookies.*|(accept|reject|manage)( all)? cookies.*",
            r"cookie (policy|settings|preferences|notice|consent)",
            r".*\ball rights reserved\b.*|(©|\(c\)|copyright)\s.*",
            r"(related|more)( articles| stories| posts| content| coverage| links| from \w+)?",
            r"(recommended|top stories|most (read|popular)|trending|you may also like)( for you)?",
            r"(image|photo|photograph|picture|video|illustration|caption)s?( credit)?\s*[:|©].*",
            r"(photo|image)s? (by|courtesy of)\b.*|.*\bgetty images\b.*",
            r"(published|updated|posted|last (updated|modified))( on| at)?:? "
            rf"(\d|{_MONTH}|\w+day\b).*",
            r"(page )?\d+( (of|/) \d+)?|\d+ comments?|(show |view )?comments",
            r"listen to this article",
            rf"(\w+day,? )?{_MONTH} \d{{1,2}}(st|nd|rd|th)?,? \d{{4}}(,? \d{{1,2}}[:.]\d\d.*)?",
            rf"\d{{1,2}} {_MONTH},? \d{{4}}(,? \d{{1,2}}[:.]\d\d.*)?|\d{{4}}-\d\d-\d\d([ t].*)?",
        ]
    ),
    re.IGNORECASE,
)
_BYLINE = re.compile(r"By [A-Z][\w.'’-]*( [A-Z][\w.'’-]*){0,3}((,| and| &) .*)?")
_EDGE_PUNCT = " \t.!:|›»>•·–—-"
# Control characters, bidi overrides, soft hyphens, BOMs and lone surrogates: never content.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
_NOT_TEXT = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f\ufffd]")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n\s*")
_QUOTES = "\"'‘’“”«»‹›„‚"
_CLOSERS = "\"'’”»›)]"
_OPENING_QUOTES = "\"'‘“«‹„‚"
_CLOSING_QUOTES = "\"'’”»›“‘"
_SENTENCE_END = ".!?:;,…"
# A lone line this long or longer cannot be hard-wrapped prose, so its newlines end paragraphs.
_UNWRAPPED_LINE = 100


def read_sources(
    inputs: Sequence[str], *, timeout: float = 10.0, max_bytes: int = 50_000_000
) -> Iterator[Article | Skipped]:
    """Yield every article under the given files, folders and http(s) URLs, or a Skipped each."""
    for given in inputs:
        given = os.fspath(given)
        if given.lower().startswith(("http://", "https://")):
            yield from _guarded(given, lambda u=given: _read_url(u, timeout, max_bytes))
            continue
        path = Path(given)
        if not given or not path.exists():
            yield Skipped(given, "no such file or folder")
        elif path.is_dir():
            files = _walk(path)
            if not files:
                yield Skipped(str(path.resolve()), f"folder holds no {_SUPPORTED} files")
            for file in files:
                yield from _guarded(str(file), lambda f=file: _read_file(f, max_bytes))
        else:
            file = path.resolve()
            yield from _guarded(str(file), lambda f=file: _read_file(f, max_bytes))


def _guarded(
    source: str, produce: Callable[[], Iterable[Article | Skipped]]
) -> Iterator[Article | Skipped]:
    """Run one source's reader, turning any failure into a Skipped so the batch carries on."""
    try:
        yield from produce()
    except _SourceError as error:
        yield Skipped(source, error.reason)
    except IngestError as error:
        yield Skipped(source, str(error))
    except Exception as error:  # a batch must never die on one odd file: report it and move on
        yield Skipped(source, f"unexpected {type(error).__name__} while reading it: {error}")


def _walk(root: Path) -> list[Path]:
    """Supported files under a folder, hidden names skipped, in sorted order."""
    found = []
    for folder, dirs, names in os.walk(root.resolve()):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [
            Path(folder, n)
            for n in names
            if not n.startswith(".") and Path(n).suffix.lower() in _SUFFIXES
        ]
    return sorted(found, key=lambda p: p.parts)


def _size_limit(max_bytes: int) -> str:
    return f"{max_bytes / 1e6:g} MB" if max_bytes >= 1_000_000 else f"{max_bytes:,} bytes"


def _read_file(path: Path, max_bytes: int) -> Iterator[Article | Skipped]:
    source = str(path)
    reader = _SUFFIXES.get(path.suffix.lower())
    if reader is None:
        raise _SourceError(source, f"unsupported file type '{path.suffix}'; use {_SUPPORTED}")
    try:
        if not path.is_file():  # a pipe or device could block forever or never end
            raise _SourceError(source, "not a regular file")
        size = path.stat().st_size
        if size == 0:
            raise _SourceError(source, "file is empty")
        if size > max_bytes:
            raise _SourceError(
                source,
                f"file is larger than the {_size_limit(max_bytes)} limit; "
                "split it or raise --max-bytes",
            )
        data = path.read_bytes()
    except OSError as error:
        raise _SourceError(source, f"could not read it: {error.strerror or error}") from error
    if not data:
        raise _SourceError(source, "file is empty")
    yield from _parse(data, source, reader)


def _parse(
    data: bytes,
    source: str,
    reader: _Reader,
    *,
    url: str | None = None,
    charset: str | None = None,
    lines: bool | None = None,
) -> Iterator[Article | Skipped]:
    if reader == "records":
        yield from parse_records(data, source, lines=lines)
    elif reader == "pdf":
        yield parse_pdf(data, source)
    elif reader == "html":
        yield parse_html(_decode(data, source, charset, html=True), source, url=url)
    else:
        text = _decode(data, source, charset)
        yield parse_text(text, source, markdown=reader == "markdown", url=url)


def _read_url(url: str, timeout: float, max_bytes: int) -> Iterator[Article | Skipped]:
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = response.read(max_bytes + 1)
            kind = response.headers.get_content_type()
            charset = response.headers.get_content_charset()
            final_url = response.geturl()
    except HTTPError as error:
        error.close()  # the error holds the open response; leaving it to GC leaks a socket
        raise _SourceError(url, f"HTTP {error.code} {error.reason}") from error
    except (OSError, HTTPException, ValueError) as error:  # URLError and timeouts are OSErrors
        cause = error.reason if isinstance(error, URLError) else error
        if isinstance(cause, TimeoutError):
            raise _SourceError(url, f"could not connect: timed out after {timeout:g} s") from error
        detail = cause.strerror if isinstance(cause, OSError) and cause.strerror else cause
        raise _SourceError(url, f"could not connect: {detail}") from error
    if len(data) > max_bytes:
        raise _SourceError(
            url,
            f"response is larger than the {_size_limit(max_bytes)} limit; "
            "download and split it or raise --max-bytes",
        )
    if not data:
        raise _SourceError(url, "response is empty")
    suffix = Path(urlsplit(final_url).path).suffix.lower()
    if kind in ("text/html", "application/xhtml+xml"):
        reader: _Reader = "html"
    elif kind == "application/pdf":
        reader = "pdf"
    elif kind in ("application/json", "application/x-ndjson", "application/jsonl"):
        reader = "records"
    elif kind in ("text/markdown", "text/x-markdown"):
        reader = "markdown"
    elif kind == "text/plain":
        reader = "markdown" if _SUFFIXES.get(suffix) == "markdown" else "text"
    elif kind == "application/octet-stream" and suffix in _SUFFIXES:
        reader = _SUFFIXES[suffix]
    elif kind == "application/octet-stream" and data.startswith(b"%PDF"):
        reader = "pdf"
    else:
        raise _SourceError(
            url,
            f"unsupported content type {kind}; link to an HTML page, "
            "PDF, JSON or plain text instead",
        )
    lines = True if kind in ("application/x-ndjson", "application/jsonl") else None
    yield from _parse(data, url, reader, url=final_url, charset=charset, lines=lines)


def _decode(data: bytes, source: str, charset: str | None, *, html: bool = False) -> str:
    """Decode with the declared charset (HTTP header or HTML <meta>), else by guessing."""
    if html and not charset and not data.startswith(codecs.BOM_UTF8):
        declared = re.search(rb"""<meta[^>]{0,200}charset=["']?([\w.:-]+)""", data[:4096], re.I)
        charset = declared.group(1).decode("ascii") if declared else None
    if charset and b"\x00" not in data:
        try:
            codec = codecs.lookup(charset).name
            # browsers read these labels as Windows-1252 (WHATWG Encoding), so pages rely on it
            codec = "cp1252" if codec in ("iso8859-1", "ascii") else codec
            return data.decode(codec)
        except (LookupError, UnicodeDecodeError):
            pass  # the declaration is wrong; guessing below does better than failing
    return decode_text(data, source)


def decode_text(data: bytes, source: str) -> str:
    """Decode text: UTF-8 (BOM allowed), else a legacy guess; IngestError for binary data."""
    binary = _SourceError(source, "binary file, not text; convert it to text, HTML or PDF first")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise binary from None
    elif b"\x00" in data:  # prose in any 8-bit encoding or UTF-8 never holds a NUL byte
        raise binary
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = _guess_legacy(data)
    sample = text[:65536]
    if sample and len(_NOT_TEXT.findall(sample)) > 0.05 * len(sample):
        raise binary
    return text


def _guess_legacy(data: bytes) -> str:
    """Decode non-UTF-8 bytes, preferring Windows-1252 unless detection clearly says otherwise."""
    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    # Detection on Western text is a coin toss between code pages that score the same (cp1250
    # turns "ï" into "ď"), so cp1252, the commonest legacy encoding, wins such ties, and wins
    # outright when the guess found no language at all.
    if (
        best is None
        or best.coherence == 0
        or any(
            "cp1252" in m.could_be_from_charset
            for m in matches
            if m.chaos <= best.chaos and m.coherence >= best.coherence
        )
    ):
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            return str(best) if best is not None else data.decode("latin-1")
    return str(best)


def parse_text(
    text: str, source: str, *, markdown: bool | None = None, url: str | None = None
) -> Article:
    """Clean a plain-text or Markdown article into an Article (markdown=None: by suffix)."""
    if markdown is None:
        markdown = _SUFFIXES.get(_suffix(source)) == "markdown"
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if markdown:
        title, published, text = _front_matter(text)
        return _assemble(_markdown_pieces(text), source, title=title, url=url, published=published)
    return _assemble(_text_pieces(text), source, url=url)


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


def parse_html(html: str | bytes, source: str, url: str | None = None) -> Article:
    """Extract the main article text of an HTML page, with its headings, into an Article."""
    if isinstance(html, bytes):
        html = _decode(html, source, None, html=True)
    fallback = _HtmlText()
    try:
        fallback.feed(html)
        fallback.close()
    except (AssertionError, ValueError) as error:  # older html.parser asserts on bad markup
        raise _SourceError(source, f"not readable as HTML ({error})") from error
    try:
        document = trafilatura.bare_extraction(
            html,
            url=url,
            with_metadata=True,
            include_comments=False,
            date_extraction_params={"extensive_search": False, "original_date": True},
        )
    except Exception:  # trafilatura fails in many ways on odd markup; fall back
        document = None
    body = getattr(document, "body", None)
    if body is not None and len(" ".join(body.itertext())) >= 250:
        pieces = _trafilatura_pieces(body)
    else:
        # Under 250 characters trafilatura switches to a baseline that merges headings and
        # paragraphs into one, so the plain html.parser reading is better for small pages.
        pieces = fallback.pieces
    title = getattr(document, "title", None) or fallback.h1 or fallback.title
    return _assemble(
        pieces,
        source,
        title=title,
        url=url or getattr(document, "url", None),
        published=getattr(document, "date", None),
    )


def _trafilatura_pieces(body: Any) -> list[_Piece]:
    """Pieces from trafilatura's XML body: <head>, <p>, <list>, <table>, <quote>, <code>."""
    for line_break in body.iter("lb"):
        line_break.tail = "\n" + (line_break.tail or "")
    pieces = []
    for element in body:
        text = "".join(element.itertext())
        if element.tag == "head":
            pieces.append(_Piece(text, "heading"))
        elif element.tag == "list":
            pieces += [_Piece("".join(item.itertext()), "para") for item in element.iter("item")]
        elif element.tag == "table":
            pieces += [
                _Piece(" | ".join("".join(cell.itertext()) for cell in row), "para")
                for row in element.iter("row")
            ]
        elif element.tag == "code":
            pieces.append(_Piece("".join(element.itertext()), "code"))
        elif element.tag != "graphic":
            pieces.append(_Piece(text, "line" if element.tag == "p" else "para"))
    return pieces


class _HtmlText(HTMLParser):
    """A plain reading of <p>, <li>, <pre> and <h1>-<h6> text, skipping scripts and navigation."""

    # Elements whose text is never article text, and elements that end a run of text.
    _SKIP = re.compile(
        r"script|style|noscript|template|svg|nav|footer|aside|form|button|select"
        r"|iframe|head|figcaption"
    )
    _BLOCK = re.compile(
        r"p|div|li|ul|ol|dl|dt|dd|blockquote|pre|table|tr|td|th|section"
        r"|article|main|header|body|figure|hr|br|h[1-6]"
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[_Piece] = []
        self.title = ""
        self.h1 = ""
        self._skipping = 0
        self._in_title = False
        self._open: list[str] = []  # enclosing block tags, innermost last
        self._buffer: list[str] = []

    def _flush(self) -> None:
        raw = "".join(self._buffer)
        text = raw.strip("\n") if self._open[-1:] == ["pre"] else " ".join(raw.split())
        self._buffer.clear()
        if not text.strip():
            return
        tag = self._open[-1] if self._open else "p"
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.h1 = self.h1 or (text if tag == "h1" else "")
            self.pieces.append(_Piece(text, "heading"))
        else:
            kind = {"pre": "code", "li": "para", "td": "para", "th": "para"}.get(tag, "line")
            self.pieces.append(_Piece(text, kind))  # type: ignore[arg-type]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if self._SKIP.fullmatch(tag):
            self._skipping += 1
        elif self._BLOCK.fullmatch(tag) and not self._skipping:
            self._flush()
            if tag not in ("br", "hr"):
                self._open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._BLOCK.fullmatch(tag) and not self._skipping:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if self._SKIP.fullmatch(tag):
            self._skipping = max(0, self._skipping - 1)
        elif self._BLOCK.fullmatch(tag) and not self._skipping and tag in self._open:
            self._flush()
            while self._open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skipping:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def parse_pdf(data: bytes, source: str) -> Article:
    """Extract the text of a PDF, page by page, into an Article of paragraphs."""
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise _SourceError(source, "PDF is encrypted; save an unencrypted copy and ingest that")
        pages = [page.extract_text() or "" for page in reader.pages]
        metadata = reader.metadata
        title = str(metadata.title or "").strip() if metadata else ""
        created = metadata.creation_date if metadata else None
    except IngestError:
        raise
    except Exception as error:  # pypdf raises a zoo of types on damaged files
        raise _SourceError(
            source,
            f"not a readable PDF ({type(error).__name__}: {error}); re-save it or export the text",
        ) from error
    pieces = []
    has_blank_lines = any(_BLANK_LINE.search(page.replace("\r", "\n")) for page in pages)
    for page in pages:  # a page break ends a paragraph: headers and footers sit between pages
        lines = [line.strip() for line in page.replace("\r", "\n").split("\n")]
        paragraph: list[str] = []
        for position, line in enumerate(lines):
            if not line:
                if has_blank_lines:
                    pieces.append(_pdf_piece(paragraph))
                    paragraph = []
                continue
            following = lines[position + 1] if position + 1 < len(lines) else ""
            # without blank lines a heading shows only as a short line before a fresh sentence
            if (
                not has_blank_lines
                and not paragraph
                and _is_heading_like(line)
                and not line.endswith("-")
                and following[:1].isupper()
            ):
                pieces.append(_Piece(line, "line"))
                continue
            paragraph.append(line)
            if not has_blank_lines and line.rstrip(_CLOSERS)[-1:] in ".!?:":
                pieces.append(_pdf_piece(paragraph))
                paragraph = []
        pieces.append(_pdf_piece(paragraph))
    if title.lower().endswith((".doc", ".docx", ".pdf", ".odt")) or title.lower() == "untitled":
        title = ""  # a file name left in the metadata by the exporting program is no title
    return _assemble(
        [p for p in pieces if p.text],
        source,
        title=title or None,
        published=created.date().isoformat() if created else None,
    )


def _pdf_piece(lines: list[str]) -> _Piece:
    """Join a PDF paragraph's lines, re-joining words hyphenated at a line break."""
    text = ""
    for line in lines:
        if text.endswith("-") and text[-2:-1].isalpha() and line[:1].islower():
            text = text[:-1] + line
        else:
            text = f"{text} {line}" if text else line
    return _Piece(text, "line" if len(lines) == 1 else "para")


def parse_records(
    data: bytes, source: str, *, lines: bool | None = None
) -> Iterator[Article | Skipped]:
    """Yield an Article per JSON/JSONL record (title, text, url, published) or SQuAD article."""
    empty = True
    for item in _records(data, source, lines):
        empty = False
        yield item
    if empty:
        raise _SourceError(source, "no records found in it")


def _records(data: bytes, source: str, lines: bool | None) -> Iterator[Article | Skipped]:
    if lines is None:
        lines = _suffix(source) in (".jsonl", ".ndjson")
    if not lines:
        try:
            document = json.loads(data.decode("utf-8-sig"))
        except UnicodeDecodeError as error:
            raise _SourceError(source, "not valid UTF-8 JSON; save it as UTF-8") from error
        except RecursionError as error:
            raise _SourceError(source, "JSON is nested too deeply to read") from error
        except json.JSONDecodeError as error:
            if error.msg != "Extra data":
                raise _SourceError(
                    source,
                    f"not valid JSON ({error.msg} at line {error.lineno} column {error.colno})",
                ) from error
            document, lines = None, True  # several documents, one a line: read it as JSONL
        except ValueError as error:  # e.g. an integer too long to convert
            raise _SourceError(source, f"not valid JSON ({error})") from error
    if lines:
        yield from _jsonl_records(data, source)
        return
    entries = document.get("data") if isinstance(document, dict) else None
    if isinstance(entries, list) and any(
        isinstance(e, dict) and "paragraphs" in e for e in entries
    ):
        for position, entry in enumerate(entries, 1):
            yield _squad_article(entry, source, position)
    elif isinstance(entries, list) or isinstance(document, list):
        records = entries if isinstance(entries, list) else document
        for position, record in enumerate(records, 1):  # type: ignore[arg-type]
            yield _record_article(record, source, str(position))
    elif isinstance(document, dict) and "text" in document:
        yield _record_article(document, source, None)
    else:
        raise _SourceError(
            source, "JSON holds no articles; expected records with title and text, or SQuAD data"
        )


def _jsonl_records(data: bytes, source: str) -> Iterator[Article | Skipped]:
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
        except UnicodeDecodeError:
            yield Skipped(f"{source}#{number}", f"line {number} is not valid UTF-8 JSON")
        except RecursionError:
            yield Skipped(f"{source}#{number}", f"line {number} is JSON nested too deeply")
        except ValueError as error:
            detail = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
            yield Skipped(f"{source}#{number}", f"line {number} is not valid JSON ({detail})")
        else:
            yield _record_article(record, source, str(number))


def _scalar(value: object, *, clean: bool = True) -> str | None:
    """A JSON string or number as text; None for anything else or blank."""
    if isinstance(value, str) and value.strip():
        return (_clean(value) if clean else value.strip()) or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _record_article(record: object, source: str, position: str | None) -> Article | Skipped:
    """One JSON record as an Article; its key (_id, id, url, else position) names it in source."""
    if not isinstance(record, dict):
        where = f"{source}#{position}" if position else source
        return Skipped(where, "record is not a JSON object with title and text")
    # keys stay as written (only stripped): evaluation data names articles by them
    ids = (record.get("_id"), record.get("id"), record.get("url"))
    key = next((k for k in (_scalar(i, clean=False) for i in ids) if k), None)
    key = key or position
    where = f"{source}#{key}" if position is not None and key else source
    text = record.get("text")
    pieces = _text_pieces(text, drop_chrome=False) if isinstance(text, str) else []
    blocks = tuple(Block(t, None) for t in (_clean(p.text) for p in pieces) if t)
    if not blocks:
        return Skipped(where, "record has no text")
    title = _scalar(record.get("title"))
    if not title:  # BEIR corpora leave many titles empty: fall back to the record's key
        if key and key != position:
            title = _clean(key)
        else:
            title = f"{_humanize(source)} #{position}" if position else _humanize(source)
    return Article(
        where,
        title,
        blocks,
        url=_scalar(record.get("url")),
        published=_scalar(record.get("published")),
    )


def _squad_article(entry: object, source: str, position: int) -> Article | Skipped:
    """A SQuAD article: each context is one block, only stripped (answer offsets point into it)."""
    if not isinstance(entry, dict):
        return Skipped(f"{source}#{position}", "SQuAD article is not a JSON object")
    raw_title = entry.get("title")
    name = raw_title if isinstance(raw_title, str) and raw_title.strip() else str(position)
    where = f"{source}#{name}"
    paragraphs = entry.get("paragraphs")
    if not isinstance(paragraphs, list) or not paragraphs:
        return Skipped(where, "SQuAD article has no paragraphs")
    contexts = [p["context"] for p in paragraphs if isinstance(p, dict) and "context" in p]
    if len(contexts) != len(paragraphs) or not all(isinstance(c, str) for c in contexts):
        return Skipped(where, "SQuAD article has a paragraph without a context string")
    title = name.replace("_", " ").strip()
    return Article(where, title, tuple(Block(c.strip(), None) for c in contexts))


def _suffix(source: str) -> str:
    if source.lower().startswith(("http://", "https://")):
        return Path(urlsplit(source).path).suffix.lower()
    return Path(source).suffix.lower()


def _humanize(source: str) -> str:
    """A readable title from a file name: "us-afghan_talks.txt" -> "Us afghan talks"."""
    path = urlsplit(source).path if source.lower().startswith(("http://", "https://")) else source
    stem = " ".join(re.split(r"[\s_-]+", Path(path).stem)).strip()
    return stem[:1].upper() + stem[1:] if stem else source


def _clean(text: str) -> str:
    """NFC, no invisible control characters, all whitespace runs collapsed to one space."""
    return " ".join(unicodedata.normalize("NFC", _INVISIBLE.sub("", text)).split())


def _clean_code(text: str) -> str:
    text = unicodedata.normalize("NFC", _INVISIBLE.sub("", text))
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


def _is_chrome(line: str) -> bool:
    if len(line) > 200 or len(line.split()) > _CHROME_MAX_WORDS:
        return False
    core = line.strip(_EDGE_PUNCT)
    return bool(_CHROME.fullmatch(core) or _BYLINE.fullmatch(core))


def _is_heading_like(line: str) -> bool:
    """A short line without sentence punctuation at its end, like "‘A fantasy’" or "Costs"."""
    if len(line) > 150 or len(line.split(None, 8)) > 8:
        return False
    core = line.rstrip(_CLOSERS)
    first_letter = next((c for c in line if c.isalpha()), "")
    return (
        bool(core)
        and core[-1] not in _SENTENCE_END
        and first_letter.isalpha()
        and not first_letter.islower()
    )


def _is_title_like(line: str) -> bool:
    core = line.rstrip(_CLOSERS)
    return (
        len(line.split()) <= 25
        and bool(core)
        and core[-1] not in ".,;:…"
        and sum(c.isalpha() for c in line) >= 2
    )


def _unquote(heading: str) -> str:
    """A heading without the quotes some sites wrap it in: "‘A fantasy’" -> "A fantasy"."""
    if len(heading) > 2 and heading[0] in _OPENING_QUOTES and heading[-1] in _CLOSING_QUOTES:
        return heading[1:-1].strip() or heading
    return heading


def _same_words(text: str) -> str:
    """Comparison key that ignores case, quotes and spacing, for spotting a repeated headline."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(text.translate({ord(q): " " for q in _QUOTES}).split()).strip(_EDGE_PUNCT)


def _assemble(
    pieces: Iterable[_Piece],
    source: str,
    *,
    title: str | None = None,
    url: str | None = None,
    published: str | None = None,
) -> Article:
    """Drop furniture, find the title, attach headings to paragraphs, and build the Article."""
    kept = []
    for piece in pieces:
        text = _clean_code(piece.text) if piece.kind == "code" else _clean(piece.text)
        if not any(c.isalnum() for c in text):
            continue  # empty, or a decorative separator such as "* * *"
        if piece.kind != "code" and _is_chrome(text):
            continue
        kept.append(_Piece(text, piece.kind))
    title = _clean(title) if title else ""
    if (
        not title
        and kept
        and (kept[0].kind == "heading" or kept[0].kind == "line" and _is_title_like(kept[0].text))
    ):
        title = kept.pop(0).text
    title = title or _humanize(source)
    headline = _same_words(title)
    blocks = []
    heading = None
    for piece in kept:
        if len(piece.text) < 2 * len(title) + 10 and _same_words(piece.text) == headline:
            continue  # the headline repeated inside the body, as many sites do
        if piece.kind == "heading" or piece.kind == "line" and _is_heading_like(piece.text):
            heading = _unquote(piece.text)
        else:
            blocks.append(Block(piece.text, heading))
    if not blocks:
        raise _SourceError(source, "no article text found after removing page furniture")
    return Article(source, title, tuple(blocks), url=url, published=published)
