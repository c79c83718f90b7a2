"""What the learned ranker and the answerability model see: numbers that describe how well each
candidate paragraph matches the question, computed over the whole candidate set at once.

Every feature is a pure function of the question, the index and the candidate list, so the same
question over the same index always gives the same numbers (the tests pin this).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rag.store import Index
from rag.text import terms

# The order of the columns; the model files name them, and loading checks the names match.
NAMES = (
    "bm25_z",  # paragraph BM25 (title included), z-scored over the candidates
    "sentence_z",  # cosine of the question and the paragraph's best sentence, z-scored
    "sentence_bm25_z",  # the best sentence's own BM25, z-scored
    "dense_z",  # cosine of the question and the paragraph vector, z-scored
    "sentence",  # the best sentence's cosine itself
    "dense",  # the paragraph's cosine itself
    "bm25_share",  # paragraph BM25 as a share of the best candidate's
    "coverage",  # IDF-weighted share of the question's terms found in the paragraph
    "sentence_coverage",  # the same for the paragraph's best-covering sentence
    "names",  # share of the question's names and numbers found in the paragraph
    "dense_rank",  # log(1 + rank) in the paragraph-vector list
    "bm25_rank",  # log(1 + rank) in the BM25 list
)
# A capitalised word not at the start of the question, or a number: the words a question names.
_NAME = re.compile(r"(?<!^)(?<![.?!]\s)\b(?:[A-Z][\w'’-]*|\d[\d,.:/-]*)")


@dataclass(frozen=True)
class QueryTerms:
    """The question's stemmed terms (each once) and its names and numbers, as stems."""

    terms: tuple[str, ...]
    names: tuple[str, ...]

    @classmethod
    def of(cls, question: str) -> QueryTerms:
        words = tuple(dict.fromkeys(terms(question)))
        named = tuple(dict.fromkeys(t for m in _NAME.findall(question) for t in terms(m)))
        return cls(words, named)


def candidate_features(
    index: Index,
    q: np.ndarray,
    query: QueryTerms,
    keyword: np.ndarray,
    candidates: np.ndarray,
    dense_rank: dict[int, int],
    keyword_rank: dict[int, int],
    depth: int,
) -> np.ndarray:
    """One row of NAMES per candidate paragraph id, shape (len(candidates), len(NAMES)).

    keyword: every paragraph's BM25 for the question; dense_rank/keyword_rank: 0-based rank of a
    paragraph in each list (absent: ranked at depth or below).
    """
    n = len(candidates)
    keywords = index.keywords
    rows = keywords.paragraph_rows(candidates)
    bm25 = keyword[rows].astype(np.float32)
    dense = index.vectors("paragraphs", candidates) @ q
    sentence_rows, owners = keywords.sentence_rows(candidates)
    sentence = np.full(n, -1.0, dtype=np.float32)
    sentence_bm25 = np.zeros(n, dtype=np.float32)
    sentence_coverage = np.zeros(n, dtype=np.float32)
    present, weights = _presence(keywords.paragraphs, rows, query.terms)
    coverage = present @ weights if len(weights) else np.zeros(n, dtype=np.float32)
    if len(sentence_rows):
        cosines = index.vectors("sentences", keywords.sentence_ids[sentence_rows]) @ q
        np.maximum.at(sentence, owners, cosines)
        if query.terms:
            scores = keywords.sentences.scores(list(query.terms), sentence_rows)
            np.maximum.at(sentence_bm25, owners, scores)
            # Sentence presence is read from the sentence matrix, weighted by paragraph IDF.
            in_sentence, _ = _presence(keywords.sentences, sentence_rows, query.terms)
            np.maximum.at(sentence_coverage, owners, in_sentence @ weights)
    names = _share(keywords.paragraphs, rows, query.names, fallback=coverage)
    top = float(bm25.max()) if n else 0.0
    return np.column_stack(
        [
            _zscores(bm25),
            _zscores(sentence),
            _zscores(sentence_bm25),
            _zscores(dense),
            sentence,
            dense,
            bm25 / top if top > 0 else np.zeros(n, dtype=np.float32),
            coverage,
            sentence_coverage,
            names,
            np.log1p([dense_rank.get(int(c), depth) for c in candidates]),
            np.log1p([keyword_rank.get(int(c), depth) for c in candidates]),
        ]
    ).astype(np.float32)


def _zscores(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / spread if spread > 1e-9 else np.zeros_like(values)


def _presence(matrix_index, rows: np.ndarray, words: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """Whether each row holds each query term (rows × terms, 0/1), and each term's share of the
    question's IDF (terms the index has never seen count fully, as absent everywhere)."""
    if not words:
        return np.zeros((len(rows), 0), dtype=np.float32), np.zeros(0, dtype=np.float32)
    total = matrix_index.matrix.shape[0]
    present, frequency = matrix_index.presence(rows, words)
    idf = np.full(len(words), np.log(1 + (total + 0.5) / 0.5), dtype=np.float32)
    positions = [i for i, w in enumerate(words) if w in matrix_index.vocabulary]
    if positions:
        known = frequency[positions]
        idf[positions] = np.log(1 + (total - known + 0.5) / (known + 0.5))
    return present, idf / idf.sum()


def _share(matrix_index, rows: np.ndarray, words: tuple[str, ...], fallback: np.ndarray):
    """Unweighted share of the words found in each row; fallback where there are none."""
    if not words:
        return fallback
    present, _ = _presence(matrix_index, rows, words)
    return present.mean(axis=1)
