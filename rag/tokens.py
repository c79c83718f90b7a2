"""Token vectors: each paragraph's contextual token embeddings, kept small at indexing, and how
closely the question's words are matched in a paragraph and in each of its sentences (late
interaction: for every content word of the question, its best cosine with any token of the text,
averaged). The embedding model reads the question and the paragraph apart, as for the paragraph
vectors, but a match is word by word where a pooled vector is one blur: "Which year did the
council first meet?" matches "first" and "met" in the sentence that says when.

Stored per token: a seeded random projection of its vector to DIMENSIONS (no fitting, so any
model's vectors go the same way) in int8, and where it starts in the paragraph. On the first
1,500 SQuAD v1.1 check questions, ordering the best five by the shipped key plus this match
lifted recall@1 from 0.817 to 0.836 with 128 dimensions and 0.841 with all 384
(benchmarks/ and the README's Retrieval section)."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.text import STOPWORDS, Span

# Dimensions a token vector is projected to (a model with fewer keeps its own).
DIMENSIONS = 128
_SEED = 20261130
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class TokenVectors:
    """A paragraph's word tokens: where each starts in the paragraph and its vector (int8, to be
    normalised when read)."""

    starts: np.ndarray  # int32, shape (n,)
    codes: np.ndarray  # int8, shape (n, dimensions)

    def to_blobs(self) -> tuple[bytes, bytes]:
        return self.starts.astype("<i4").tobytes(), self.codes.astype(np.int8).tobytes()

    @classmethod
    def from_blobs(cls, starts: bytes, codes: bytes) -> TokenVectors:
        found = np.frombuffer(starts, dtype="<i4").astype(np.int32)
        vectors = np.frombuffer(codes, dtype=np.int8)
        width = vectors.size // len(found) if len(found) else 0
        if len(found) == 0 or width == 0 or width * len(found) != vectors.size:
            raise ValueError("token vectors do not match their starts")
        return cls(found, vectors.reshape(len(found), width))

    def vectors(self) -> np.ndarray:
        """Unit-length float32 vectors."""
        return _unit(self.codes.astype(np.float32))


@functools.lru_cache(maxsize=4)
def _projection(dimension: int) -> np.ndarray | None:
    if dimension <= DIMENSIONS:
        return None
    rng = np.random.default_rng(_SEED)
    return (rng.standard_normal((dimension, DIMENSIONS)) / np.sqrt(DIMENSIONS)).astype(np.float32)


def project(vectors: np.ndarray) -> np.ndarray:
    """Token vectors (n, model dimension) as unit-length float32 vectors of DIMENSIONS."""
    vectors = np.asarray(vectors, dtype=np.float32)
    matrix = _projection(vectors.shape[1])
    return _unit(vectors if matrix is None else vectors @ matrix)


def pack(vectors: np.ndarray, starts: Sequence[int]) -> TokenVectors | None:
    """Model token vectors and their start offsets as stored TokenVectors (None for none)."""
    if len(starts) == 0:
        return None
    unit = project(vectors)
    scale = np.abs(unit).max(axis=1, keepdims=True) / 127.0
    codes = np.round(unit / np.maximum(scale, 1e-12)).astype(np.int8)
    return TokenVectors(np.asarray(starts, dtype=np.int32), codes)


def word_tokens(text: str, offsets: np.ndarray, *, content: bool = False) -> np.ndarray:
    """Which of a text's tokens (char offsets, (n, 2)) lie inside a word of it, or with content
    inside a word that is not a stopword; special and punctuation tokens are left out."""
    words = [
        m.span() for m in _WORD.finditer(text) if not content or m.group().lower() not in STOPWORDS
    ]
    keep = np.zeros(len(offsets), dtype=bool)
    if not words:
        return keep
    bounds = np.array(words, dtype=np.int64)
    starts, ends = offsets[:, 0].astype(np.int64), offsets[:, 1].astype(np.int64)
    place = np.searchsorted(bounds[:, 0], starts, side="right") - 1
    inside = place >= 0
    keep[inside] = (ends[inside] > starts[inside]) & (ends[inside] <= bounds[place[inside], 1])
    return keep


def match(
    question: np.ndarray, tokens: TokenVectors | None, sentences: Sequence[Span]
) -> tuple[float, tuple[float, ...]] | None:
    """How closely the question's word vectors (unit length, from project()) are matched in the
    paragraph and in each sentence: the mean over question words of the best cosine with any of
    the text's tokens. None when either side has no tokens; a sentence with none gets the
    paragraph's."""
    if tokens is None or len(question) == 0:
        return None
    similarity = question @ tokens.vectors().T  # (question words, paragraph tokens)
    paragraph = float(similarity.max(axis=1).mean())
    each = []
    for sentence in sentences:
        inside = (tokens.starts >= sentence.start) & (tokens.starts < sentence.end)
        each.append(float(similarity[:, inside].max(axis=1).mean()) if inside.any() else paragraph)
    return paragraph, tuple(each)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
