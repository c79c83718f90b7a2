"""Clean-up shared by every reader: page furniture, headings, titles, and the final Article."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from rag.dates import dateline, parse_date
from rag.ingest.article import Article, Block, _Piece, _SourceError
from rag.text import is_http_url

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
_DATELINE_PIECES = 8  # a dateline sits among the first pieces of a page, if anywhere
_BYLINE = re.compile(r"By [A-Z][\w.'’-]*( [A-Z][\w.'’-]*){0,3}((,| and| &) .*)?")
_EDGE_PUNCT = " \t.!:|›»>•·–—-"
# Control characters, bidi overrides, soft hyphens, BOMs and lone surrogates: never content.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
_QUOTES = "\"'‘’“”«»‹›„‚"
_CLOSERS = "\"'’”»›)]"
_OPENING_QUOTES = "\"'‘“«‹„‚"
_CLOSING_QUOTES = "\"'’”»›“‘"
_SENTENCE_END = ".!?:;,…"


def _humanize(source: str) -> str:
    """A readable title from a file name: "us-afghan_talks.txt" -> "Us afghan talks"."""
    path = urlsplit(source).path if is_http_url(source) else source
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
    """Drop furniture, find the title, attach headings to paragraphs, and build the Article.

    published is normalized to an ISO day; without one, a dateline among the first pieces gives
    it, read here before the furniture rule drops that line.
    """
    pieces = list(pieces)
    published = parse_date(published) or dateline(
        "\n".join(_clean(p.text) for p in pieces[:_DATELINE_PIECES] if p.kind != "code")
    )
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
    title = title or _clean(_humanize(source)) or source  # a file name can hold controls too
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
