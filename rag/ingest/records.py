"""JSON and JSONL files: one Article per record (BEIR corpora included) or per SQuAD article."""

from __future__ import annotations

import json
from collections.abc import Iterator

from rag.dates import parse_date
from rag.ingest.article import Article, Block, Skipped, _SourceError, _suffix
from rag.ingest.clean import _clean, _humanize
from rag.ingest.text import _text_pieces


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
        published=parse_date(_scalar(record.get("published"))),  # unreadable: None
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
    # Dropping an empty one would renumber the paragraphs that evaluation refers to by position.
    empty = next((n for n, c in enumerate(contexts, 1) if not c.strip()), None)
    if empty is not None:
        return Skipped(where, f"SQuAD article has an empty context (paragraph {empty})")
    title = name.replace("_", " ").strip()
    return Article(where, title, tuple(Block(c.strip(), None) for c in contexts))
