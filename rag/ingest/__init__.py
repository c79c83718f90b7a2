"""Ingest: turn files, folders and URLs into clean articles made of paragraph blocks.

Modules, in the order data passes through them:

    sources.py   read_sources: files, folders and http(s) URLs, each handed to its reader
    fetch.py     fetch: a web page from a public address only, every redirect checked
    decode.py    decode_text: bytes to text, by declared charset, BOM or guess
    text.py      parse_text: plain text and Markdown
    html.py      parse_html: the main text of a web page
    pdf.py       parse_pdf: the text of a PDF, re-joined into paragraphs
    records.py   parse_records: JSON and JSONL records, BEIR corpora, SQuAD
    clean.py     furniture, headings and titles, shared by every reader
    article.py   the records produced (Block, Article, Skipped) and the file types read
"""

from rag.ingest.article import Article, Block, Skipped
from rag.ingest.decode import decode_text
from rag.ingest.html import parse_html
from rag.ingest.pdf import parse_pdf
from rag.ingest.records import parse_records
from rag.ingest.sources import read_sources
from rag.ingest.text import parse_text

__all__ = [
    "Article",
    "Block",
    "Skipped",
    "decode_text",
    "parse_html",
    "parse_pdf",
    "parse_records",
    "parse_text",
    "read_sources",
]
