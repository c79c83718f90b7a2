"""Articles → paragraphs with sentence offsets, and embedding windows that fit the model.

The paragraph is the unit of retrieval and citation. A paragraph longer than the model's window is
embedded as several windows cut at sentence boundaries, so no text is silently truncated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.text import Span, split_sentences

if TYPE_CHECKING:
    from rag.ingest import Article

# Bump when paragraph/sentence boundaries change: stored offsets would no longer match.
CHUNKER_VERSION = "1"

TokenSpans = Callable[[str], Sequence[tuple[int, int]]]
TokenCounts = Callable[[Sequence[str]], Sequence[int]]


def stable_id(*parts: str) -> int:
    """Return a positive 63-bit integer identifying the given parts (usable as a FAISS id)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


@dataclass(frozen=True)
class Paragraph:
    """One paragraph of an article, with its sentences and embedding windows as character spans."""

    id: int
    article_id: int
    index: int  # 1-based position in the article: the "¶ n" users see
    heading: str | None
    text: str
    sentences: tuple[Span, ...]
    windows: tuple[Span, ...]


def article_id(source: str) -> int:
    """Return the id of the article read from `source` (its identity is where it came from)."""
    return stable_id("article", source)


def _split_long(text: str, span: Span, token_spans: TokenSpans, max_tokens: int) -> list[Span]:
    """Cut one over-long sentence into pieces of at most max_tokens tokens, at token boundaries."""
    tokens = token_spans(text[span.start : span.end])
    pieces: list[Span] = []
    piece_start = span.start
    for i in range(max_tokens, len(tokens), max_tokens):
        cut = span.start + tokens[i][0]
        pieces.append(Span(piece_start, cut))
        piece_start = cut
    pieces.append(Span(piece_start, span.end))
    return [_trim(text, piece) for piece in pieces if text[piece.start : piece.end].strip()]


def _trim(text: str, span: Span) -> Span:
    start, end = span.start, span.end
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end)


def windows_for(
    text: str, sentences: Sequence[Span], token_spans: TokenSpans, max_tokens: int
) -> tuple[tuple[Span, ...], tuple[Span, ...]]:
    """Group sentences into windows of at most max_tokens tokens; returns (sentences, windows).

    Sentences longer than a window are first cut into pieces, which then count as sentences.
    """
    counted: list[tuple[Span, int]] = []
    for sentence in sentences:
        n = len(token_spans(text[sentence.start : sentence.end]))
        if n <= max_tokens:
            counted.append((sentence, n))
        else:
            counted.extend(
                (piece, len(token_spans(text[piece.start : piece.end])))
                for piece in _split_long(text, sentence, token_spans, max_tokens)
            )
    windows: list[Span] = []
    window_start: int | None = None
    window_end = 0
    used = 0
    for sentence, n in counted:
        # Joined sentences can merge tokens at the seam; one token of slack per sentence covers it.
        if window_start is not None and used + n + 1 > max_tokens:
            windows.append(Span(window_start, window_end))
            window_start, used = None, 0
        if window_start is None:
            window_start = sentence.start
        window_end = sentence.end
        used += n + 1
    if window_start is not None:
        windows.append(Span(window_start, window_end))
    return tuple(sentence for sentence, _ in counted), tuple(windows)


def chunk_article(
    article: Article,
    token_spans: TokenSpans,
    max_tokens: int,
    token_counts: TokenCounts | None = None,
) -> tuple[Paragraph, ...]:
    """Turn an article's blocks into paragraphs with sentence spans and embedding windows.
    token_counts, when given, counts the tokens of all the article's paragraphs in one call (a
    tokenizer is faster on a batch); token_spans then only cuts the ones too long for a window."""
    owner = article_id(article.source)
    kept = [
        (position, block, text)
        for position, block in enumerate(article.blocks, start=1)
        if (text := block.text.strip())
    ]
    if token_counts is not None:
        counts = list(token_counts([text for _, _, text in kept]))
    else:
        counts = [len(token_spans(text)) for _, _, text in kept]
    paragraphs = []
    for (position, block, text), count in zip(kept, counts, strict=True):
        sentences = split_sentences(text) or (Span(0, len(text)),)
        if count <= max_tokens:
            windows: tuple[Span, ...] = (Span(0, len(text)),)
        else:
            sentences, windows = windows_for(text, sentences, token_spans, max_tokens)
        paragraphs.append(
            Paragraph(
                id=stable_id("paragraph", str(owner), str(position), text),
                article_id=owner,
                index=position,
                heading=block.heading,
                text=text,
                sentences=sentences,
                windows=windows,
            )
        )
    return tuple(paragraphs)
