"""PDF files: page text from pypdf, re-joined into paragraphs, headings and a title."""

from __future__ import annotations

import io

import pypdf

from rag.errors import IngestError
from rag.ingest.article import Article, _Piece, _SourceError
from rag.ingest.clean import _CLOSERS, _assemble, _is_heading_like
from rag.ingest.text import _BLANK_LINE

# A few kilobytes of compressed PDF can hold megabytes of text (pypdf stops each stream at 75 MB
# decompressed); reading stops once the pages hold this much text, a book of ~10,000 pages.
MAX_PDF_CHARS = 20_000_000


def parse_pdf(data: bytes, source: str, *, max_chars: int = MAX_PDF_CHARS) -> Article:
    """Extract the text of a PDF, page by page, into an Article of paragraphs."""
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise _SourceError(source, "PDF is encrypted; save an unencrypted copy and ingest that")
        pages, chars = [], 0
        for page in reader.pages:
            pages.append(page.extract_text() or "")
            chars += len(pages[-1])
            if chars > max_chars:
                raise _SourceError(
                    source,
                    f"PDF holds more than {max_chars:,} characters of text; split it into parts",
                )
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
