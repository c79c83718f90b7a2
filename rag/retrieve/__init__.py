"""Find the paragraphs that answer a question: dense, keyword, or a fusion of both with
sentence-level rescoring."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.retrieve.features import NAMES, QueryTerms, candidate_features
from rag.retrieve.model import RANKER, LinearModel, load_model
from rag.store import Index, Passage
from rag.store.keywords import STOPWORDS

RETRIEVERS = ("hybrid", "dense", "bm25")

# Candidates for the hybrid: this many from BM25 and this many from the paragraph vectors.
CANDIDATES = 100
# Paragraphs this similar are copies of one another (a story syndicated to several sites).
DUPLICATE_COSINE = 0.97
SPARE = 10
# A cross-encoder, when configured, reorders this many of the best paragraphs.
RERANK_DEPTH = 20

# (question, paragraph texts) -> one relevance score per text, higher is better.
Rerank = Callable[[str, Sequence[str]], Sequence[float]]

_WORD = re.compile(r"\w+", re.UNICODE)


def content_words(text: str) -> list[str]:
    """Lower-cased words of text without stopwords, in order, each once."""
    words = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]
    return list(dict.fromkeys(words))


@dataclass(frozen=True)
class Hit:
    """A retrieved paragraph with its fused score and each sentence's similarity to the question."""

    passage: Passage
    score: float
    dense: float  # cosine of question and paragraph
    sentence_scores: tuple[float, ...]  # cosine of question and each sentence, in order
    features: tuple[float, ...] = ()  # the candidate's row of features.NAMES

    @property
    def best_sentence(self) -> float:
        """The highest sentence cosine in the paragraph."""
        return max(self.sentence_scores, default=self.dense)


def ranker() -> LinearModel:
    """The packaged ranker (rag/retrieve/ranker.json), read once."""
    return load_model(RANKER, NAMES)


def retrieve(
    index: Index,
    question: str,
    query_vector: np.ndarray,
    k: int,
    retriever: str = "hybrid",
    rerank: Rerank | None = None,
    carry: Sequence[int] = (),
) -> list[Hit]:
    """Return the k best paragraphs for the question, best first, near-duplicates collapsed.

    carry: paragraph ids from earlier turns of a conversation; the hybrid retriever scores them
    with the other candidates, so a follow-up can stay with the passages it is about.
    """
    if retriever not in RETRIEVERS:
        raise ValueError(f"unknown retriever {retriever!r}; choose one of {', '.join(RETRIEVERS)}")
    q = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    # Rank a little deeper than asked: collapsing copies and reranking both need spare candidates.
    want = max(k, RERANK_DEPTH if rerank else 0)
    ranked, scores, features = _rank(index, question, q, want + SPARE, retriever, carry)
    ranked = collapse_duplicates(index, ranked, want)
    hits = _hits(index, q, ranked, scores, features)
    if rerank is not None and hits:
        order = np.argsort(
            -np.asarray(rerank(question, [h.passage.text for h in hits])), kind="stable"
        )
        hits = [hits[i] for i in order]
    return hits[:k]


def candidates(
    index: Index, question: str, query_vector: np.ndarray
) -> tuple[list[int], np.ndarray]:
    """Every candidate paragraph of the hybrid retriever, in the ranker's order, with its row of
    features (what the ranker is fitted on: rag.fit)."""
    q = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    ranked, _, features = _rank(index, question, q, CANDIDATES, "hybrid", ())
    rows = np.array([features[pid] for pid in ranked], dtype=np.float32).reshape(-1, len(NAMES))
    return ranked, rows


def _rank(
    index: Index, question: str, q: np.ndarray, depth: int, retriever: str, carry: Sequence[int]
) -> tuple[list[int], dict[int, float], dict[int, np.ndarray]]:
    """Paragraph ids best first (at most depth), their scores and their feature rows."""
    query = QueryTerms.of(question)
    keyword = index.keywords.paragraphs.scores(list(query.terms))
    pool = max(CANDIDATES, depth) if retriever == "hybrid" else depth
    dense_ids = [pid for pid, _ in index.search(q, pool)] if retriever != "bm25" else []
    keyword_ids: list[int] = []
    if retriever != "dense":
        rows = _top(keyword, pool)
        if retriever == "bm25":  # alone, a paragraph sharing no word with the question is no hit
            rows = rows[keyword[rows] > 0]
        keyword_ids = index.keywords.paragraph_ids[rows].tolist()
    # Carried ids no longer in the index (an article removed since) are dropped.
    carried = np.asarray(carry if retriever == "hybrid" else (), dtype=np.int64)
    carried = carried[np.isin(carried, index.keywords.paragraph_ids)].tolist()
    candidates = np.array(list(dict.fromkeys([*keyword_ids, *dense_ids, *carried])), dtype=np.int64)
    if not len(candidates):
        return [], {}, {}
    features = candidate_features(
        index,
        q,
        query,
        keyword,
        candidates,
        {pid: rank for rank, pid in enumerate(dense_ids)},
        {pid: rank for rank, pid in enumerate(keyword_ids)},
        pool,
    )
    if retriever == "hybrid":
        scores = ranker().score(features)
    elif retriever == "dense":
        scores = features[:, NAMES.index("dense")]
    else:
        scores = keyword[index.keywords.paragraph_rows(candidates)]
    order = np.argsort(-scores, kind="stable")
    if retriever != "hybrid":
        order = order[:depth]
    ranked = candidates[order].tolist()
    return (
        ranked,
        dict(zip(ranked, scores[order].tolist(), strict=True)),
        dict(zip(ranked, features[order], strict=True)),
    )


def collapse_duplicates(index: Index, ranked: Sequence[int], limit: int) -> list[int]:
    """Keep the best of each group of near-identical paragraphs (syndicated copies), in order."""
    kept: list[int] = []
    if not ranked:
        return kept
    vectors = index.vectors("paragraphs", ranked)
    chosen: list[int] = []
    for row, pid in enumerate(ranked):
        if chosen and float(np.max(vectors[chosen] @ vectors[row])) >= DUPLICATE_COSINE:
            continue
        chosen.append(row)
        kept.append(pid)
        if len(kept) == limit:
            break
    return kept


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows of the k highest scores, best first."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    rows = np.argpartition(-scores, k - 1)[:k]
    return rows[np.argsort(-scores[rows], kind="stable")]


def _hits(
    index: Index,
    query_vector: np.ndarray,
    ranked: Sequence[int],
    scores: dict[int, float],
    features: dict[int, np.ndarray],
) -> list[Hit]:
    passages = index.passages(ranked)
    q = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    hits = []
    for pid in ranked:
        passage = passages.get(pid)
        if passage is None:
            continue
        sentence_scores = index.vectors("sentences", passage.sentence_ids) @ q
        dense = float(index.vectors("paragraphs", [pid])[0] @ q)
        hits.append(
            Hit(
                passage,
                scores[pid],
                dense,
                tuple(float(s) for s in sentence_scores),
                tuple(float(f) for f in features[pid]),
            )
        )
    return hits
