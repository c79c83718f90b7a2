"""Bytes to text: declared charsets, UTF-8 and UTF-16 with BOMs, legacy code-page guessing."""

from __future__ import annotations

import codecs
import re

import charset_normalizer

from rag.ingest.article import _SourceError

_NOT_TEXT = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f\ufffd]")


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
