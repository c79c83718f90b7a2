"""PDF files: page text from pypdf, re-joined into paragraphs, headings and a title."""

from __future__ import annotations

import io
import math
import multiprocessing
import resource
import signal

import pypdf

from rag.dates import parse_date
from rag.errors import IngestError
from rag.ingest.article import Article, _Piece, _SourceError
from rag.ingest.clean import _CLOSERS, _assemble, _is_heading_like
from rag.ingest.text import _BLANK_LINE

# A few kilobytes of compressed PDF can hold megabytes of text (pypdf stops each stream at 75 MB
# decompressed); reading stops once the pages hold this much text, a book of ~10,000 pages.
MAX_PDF_CHARS = 20_000_000
# A few kilobytes of page content can also take seconds of CPU to read (pypdf spends ~5 µs per
# byte of dense text operators), so a PDF is read in a worker process that gets this much CPU.
MAX_PDF_SECONDS = 120


def parse_pdf(
    data: bytes,
    source: str,
    *,
    max_chars: int = MAX_PDF_CHARS,
    max_seconds: float | None = None,
) -> Article:
    """Extract the text of a PDF, page by page, into an Article of paragraphs.

    The reading runs in a worker process limited to max_seconds of CPU time (where the platform
    has fork servers; elsewhere it runs here, unbounded).
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return _parse_pdf(data, source, max_chars)
    max_seconds = MAX_PDF_SECONDS if max_seconds is None else max_seconds
    context = multiprocessing.get_context("forkserver")
    # Workers fork from a server that has this module (and pypdf) loaded: a few ms each.
    context.set_forkserver_preload([__name__])
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(
        target=_read_in_worker, args=(data, source, max_chars, max_seconds, sender), daemon=True
    )
    worker.start()
    sender.close()
    stuck = False
    try:
        # The CPU limit stops the worker; the wall-clock bound covers a worker that waits.
        stuck = not receiver.poll(3 * max_seconds + 10)
        outcome = None if stuck else receiver.recv()
    except EOFError:  # the worker ended without a word
        outcome = None
    finally:
        if worker.is_alive():
            worker.kill()
        worker.join()
        receiver.close()
    if outcome is None and (stuck or worker.exitcode == -signal.SIGXCPU):
        raise _SourceError(
            source,
            f"PDF took more than {max_seconds:g} s of CPU time to read; "
            "split it into parts or export its text",
        )
    if outcome is None:
        raise _SourceError(source, f"the PDF reader stopped (exit code {worker.exitcode})")
    kind, value = outcome
    if kind == "article":
        return value
    if kind == "reason":
        raise _SourceError(source, value)
    raise IngestError(value)


def _read_in_worker(data: bytes, source: str, max_chars: int, max_seconds: float, sender) -> None:
    """Worker process: read the PDF under a CPU-time limit and send back the outcome."""
    seconds = max(1, math.ceil(max_seconds))
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))  # SIGXCPU ends it
    try:
        outcome = ("article", _parse_pdf(data, source, max_chars))
    except _SourceError as error:
        outcome = ("reason", error.reason)
    except IngestError as error:
        outcome = ("error", str(error))
    sender.send(outcome)
    sender.close()


def _parse_pdf(data: bytes, source: str, max_chars: int) -> Article:
    """Extract the text of a PDF, page by page, into an Article of paragraphs (in this process)."""
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
        # the raw text: pypdf's creation_date raises on a malformed date, which would lose the
        # whole PDF, and reads a bare year as 1 January
        created = metadata.creation_date_raw if metadata else None
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
        published=parse_date(_pdf_text(created)),
    )


def _pdf_text(value: object) -> str | None:
    """A PDF string object as text (byte strings read as Latin-1); None for anything else."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value) if isinstance(value, str) else None


def _pdf_piece(lines: list[str]) -> _Piece:
    """Join a PDF paragraph's lines, re-joining words hyphenated at a line break."""
    text = ""
    for line in lines:
        if text.endswith("-") and text[-2:-1].isalpha() and line[:1].islower():
            text = text[:-1] + line
        else:
            text = f"{text} {line}" if text else line
    return _Piece(text, "line" if len(lines) == 1 else "para")
