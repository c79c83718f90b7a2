"""HTML pages: the main article text via trafilatura, with a plain html.parser fallback."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import trafilatura

from rag.dates import dateline, parse_date
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
        published=_published(fallback, pieces, getattr(document, "date", None)),
    )


def _published(page: _HtmlText, pieces: list[_Piece], extracted: str | None) -> str | None:
    """The page's publication day: its metadata first, then a dateline, then trafilatura's date.

    trafilatura (htmldate) is asked last because, finding nothing better, it takes any ISO date
    written in the text, which may be a date the article talks about.
    """
    return (
        parse_date(page.published_time)
        or _json_ld_published(page.json_ld)
        or next(filter(None, map(parse_date, page.other_dates)), None)
        or dateline("\n".join(p.text for p in pieces[:_DATELINE_PIECES]))
        or dateline("\n".join(p.text for p in page.pieces[:_DATELINE_PIECES]))
        or parse_date(extracted)
    )


_DATELINE_PIECES = 8
_ARTICLE_TYPE = re.compile(r"\w*(Article|Posting|Report)|WebPage", re.IGNORECASE)


def _json_ld_published(scripts: list[str]) -> str | None:
    """datePublished from JSON-LD scripts (a list, an @graph or one object), an article's first."""
    found: list[tuple[bool, str]] = []

    def visit(node: object, depth: int) -> None:
        if depth > 6:
            return
        if isinstance(node, list):
            for item in node:
                visit(item, depth + 1)
        elif isinstance(node, dict):
            kinds = node.get("@type")
            kinds = kinds if isinstance(kinds, list) else [kinds]
            day = parse_date(node["datePublished"]) if "datePublished" in node else None
            if day:
                found.append(
                    (any(isinstance(k, str) and _ARTICLE_TYPE.fullmatch(k) for k in kinds), day)
                )
            visit(node.get("@graph"), depth + 1)

    for script in scripts:
        try:
            visit(json.loads(script), 0)
        except (ValueError, RecursionError):  # broken JSON-LD is common; the page is still read
            continue
    articles = [day for is_article, day in found if is_article]
    return (articles or [day for _, day in found] or [None])[0]


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
        # publication dates as the page's markup states them, strongest signal first
        self.published_time: str | None = None  # <meta property="article:published_time">
        self.json_ld: list[str] = []  # the text of each <script type="application/ld+json">
        self.other_dates: list[str] = []  # <meta name="date">, itemprop, <time> in the article
        self._json_ld: list[str] | None = None
        self._in_article = 0

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

    def _note_date(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Keep the dates that meta, time and JSON-LD markup give for the page."""
        named = {k: (v or "").strip() for k, v in attrs}
        if tag == "article":
            self._in_article += 1
        elif tag == "script" and named.get("type", "").lower() == "application/ld+json":
            self._json_ld = []
        elif tag == "meta" and named.get("content"):
            if named.get("property", "").lower() == "article:published_time":
                self.published_time = self.published_time or named["content"]
            elif (
                named.get("name", "").lower() in ("date", "pubdate", "publish-date")
                or named.get("itemprop") == "datePublished"
            ):
                self.other_dates.append(named["content"])
        elif named.get("itemprop") == "datePublished" and (
            named.get("datetime") or named.get("content")
        ):
            self.other_dates.append(named.get("datetime") or named["content"])
        elif tag == "time" and named.get("datetime") and (self._in_article or "pubdate" in named):
            self.other_dates.append(named["datetime"])

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._note_date(tag, attrs)
        if tag == "title":
            self._in_title = True
        if self._SKIP.fullmatch(tag):
            self._skipping += 1
        elif self._BLOCK.fullmatch(tag) and not self._skipping:
            self._flush()
            if tag not in ("br", "hr"):
                self._open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._note_date(tag, attrs)
        if self._BLOCK.fullmatch(tag) and not self._skipping:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self._in_article = max(0, self._in_article - 1)
        elif tag == "script" and self._json_ld is not None:
            self.json_ld.append("".join(self._json_ld))
            self._json_ld = None
        if tag == "title":
            self._in_title = False
        if self._SKIP.fullmatch(tag):
            self._skipping = max(0, self._skipping - 1)
        elif self._BLOCK.fullmatch(tag) and not self._skipping and tag in self._open:
            self._flush()
            while self._open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._json_ld is not None:
            self._json_ld.append(data)
        if self._in_title:
            self.title += data
        elif not self._skipping:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()
