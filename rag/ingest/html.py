"""HTML pages: the main article text via trafilatura, with a plain html.parser fallback."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import trafilatura

from rag.ingest.article import Article, _Piece, _SourceError
from rag.ingest.clean import _assemble
from rag.ingest.decode import _decode


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
