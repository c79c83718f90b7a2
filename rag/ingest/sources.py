"""Where articles come from: files, folders and http(s) URLs, each handed to its reader."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from rag.errors import IngestError
from rag.ingest.article import _SUFFIXES, _SUPPORTED, Article, Skipped, _Reader, _SourceError
from rag.ingest.decode import _decode
from rag.ingest.fetch import _size_limit, fetch
from rag.ingest.html import parse_html
from rag.ingest.pdf import parse_pdf
from rag.ingest.records import parse_records
from rag.ingest.text import parse_text
from rag.text import is_http_url


def read_sources(
    inputs: Sequence[str],
    *,
    timeout: float = 10.0,
    max_bytes: int = 50_000_000,
    allow_private_urls: bool = False,
) -> Iterator[Article | Skipped]:
    """Yield every article under the given files, folders and http(s) URLs, or a Skipped each.

    URLs are fetched only from public addresses unless allow_private_urls (see fetch.py)."""
    for given in inputs:
        given = os.fspath(given)
        if is_http_url(given):
            yield from _guarded(
                given, lambda u=given: _read_url(u, timeout, max_bytes, allow_private_urls)
            )
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
            raise _too_large(source, max_bytes)
        with path.open("rb") as file:
            data = file.read(max_bytes + 1)  # never more, even if the file grew since stat
    except OSError as error:
        raise _SourceError(source, f"could not read it: {error.strerror or error}") from error
    if not data:
        raise _SourceError(source, "file is empty")
    if len(data) > max_bytes:
        raise _too_large(source, max_bytes)
    yield from _parse(data, source, reader)


def _too_large(source: str, max_bytes: int) -> _SourceError:
    return _SourceError(
        source,
        f"file is larger than the {_size_limit(max_bytes)} limit; split it or raise --max-bytes",
    )


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


def _read_url(
    url: str, timeout: float, max_bytes: int, allow_private: bool
) -> Iterator[Article | Skipped]:
    fetched = fetch(url, timeout=timeout, max_bytes=max_bytes, allow_private=allow_private)
    data, kind, final_url = fetched.data, fetched.content_type, fetched.url
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
    yield from _parse(data, url, reader, url=final_url, charset=fetched.charset, lines=lines)
