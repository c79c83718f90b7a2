"""BM25 keyword search as a sparse matrix of precomputed term scores (Lucene's BM25 variant).

Each paragraph's stemmed terms are computed once, when it is added, and kept in SQLite; a new
generation rebuilds the matrix from those stored terms, so indexing again never re-tokenizes.
A query's scores for every document are one sparse column sum.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

K1 = 1.5
B = 0.75


def _locate(found: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which rows are in the ascending array found, and where."""
    # In found's own type: searchsorted would otherwise convert (copy) all of found per call.
    rows = np.asarray(rows, dtype=found.dtype)
    if not len(found):
        return np.zeros(len(rows), dtype=bool), np.zeros(len(rows), dtype=np.int64)
    where = np.minimum(np.searchsorted(found, rows), len(found) - 1)
    return found[where] == rows, where


def bm25_idf(documents, frequency):
    """BM25's inverse document frequency of a term held by `frequency` of `documents` documents
    (numbers or arrays, computed in their own precision)."""
    return np.log(1 + (documents - frequency + 0.5) / (frequency + 0.5))


class KeywordIndex:
    """BM25 over a fixed list of documents, each given as its list of terms."""

    def __init__(self, vocabulary: dict[str, int], matrix: sp.csc_matrix):
        self.vocabulary = vocabulary
        matrix.sort_indices()  # each term's documents in order, for lookups by bisection
        self.matrix = matrix  # documents × terms, each cell the term's BM25 contribution

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]]) -> KeywordIndex:
        """Precompute every (document, term) BM25 score."""
        vocabulary: dict[str, int] = {}
        rows, cols, counts = [], [], []
        lengths = np.zeros(len(documents), dtype=np.float32)
        for row, document in enumerate(documents):
            lengths[row] = len(document)
            for term, count in Counter(document).items():
                rows.append(row)
                cols.append(vocabulary.setdefault(term, len(vocabulary)))
                counts.append(count)
        rows_a = np.array(rows, dtype=np.int64)
        cols_a = np.array(cols, dtype=np.int64)
        tf = np.array(counts, dtype=np.float32)
        n = max(len(documents), 1)
        df = np.bincount(cols_a, minlength=len(vocabulary)).astype(np.float32)
        idf = bm25_idf(n, df)
        average = float(lengths.mean()) if len(documents) else 1.0
        norm = K1 * (1 - B + B * lengths[rows_a] / max(average, 1e-9))
        values = idf[cols_a] * tf * (K1 + 1) / (tf + norm)
        matrix = sp.csc_matrix(
            (values, (rows_a, cols_a)), shape=(len(documents), len(vocabulary)), dtype=np.float32
        )
        return cls(vocabulary, matrix)

    def scores(self, query_terms: Sequence[str], rows: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every document for the query, shape (documents,); or of the given
        rows only, at a cost that does not grow with the number of documents. Terms are added
        in one fixed order (by column), so both give the same sums to the last bit."""
        columns = sorted({self.vocabulary[t] for t in query_terms if t in self.vocabulary})
        if rows is not None:
            scores = np.zeros(len(rows), dtype=np.float32)
            for column in columns:
                found, values = self._column(column)
                hit, where = _locate(found, rows)
                scores[hit] += values[where[hit]]
            return scores
        scores = np.zeros(self.matrix.shape[0], dtype=np.float32)
        for column in columns:  # a term's documents are distinct: one fancy-indexed add each
            found, values = self._column(column)
            scores[found] += values
        return scores

    def presence(self, rows: np.ndarray, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Whether each row holds each word (rows × words, 0/1), and each word's document
        frequency (0 for a word the index has never seen)."""
        present = np.zeros((len(rows), len(words)), dtype=np.float32)
        frequency = np.zeros(len(words), dtype=np.float32)
        for i, word in enumerate(words):
            if word in self.vocabulary:
                found, _ = self._column(self.vocabulary[word])
                frequency[i] = len(found)
                present[:, i] = _locate(found, rows)[0]
        return present, frequency

    def _column(self, column: int) -> tuple[np.ndarray, np.ndarray]:
        """The documents holding a term (ascending) and its scores in them."""
        start, end = self.matrix.indptr[column], self.matrix.indptr[column + 1]
        return self.matrix.indices[start:end], self.matrix.data[start:end]

    def save(self, folder: Path, name: str) -> None:
        """Write name.npz and name.vocab.json into folder (no pickle)."""
        sp.save_npz(folder / f"{name}.npz", self.matrix, compressed=False)
        words = sorted(self.vocabulary, key=self.vocabulary.get)
        (folder / f"{name}.vocab.json").write_text(json.dumps(words), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, name: str) -> KeywordIndex:
        """Read what save wrote; raises OSError or ValueError on a damaged file."""
        matrix = sp.load_npz(folder / f"{name}.npz").tocsc()
        words = json.loads((folder / f"{name}.vocab.json").read_text(encoding="utf-8"))
        if matrix.shape[1] != len(words):
            raise ValueError("vocabulary and matrix disagree")
        return cls({w: i for i, w in enumerate(words)}, matrix)
