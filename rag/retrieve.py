"""Find the paragraphs that answer a question: dense, keyword, or a fusion of both with
sentence-level rescoring."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.store import Index, Passage
from rag.store.keywords import STOPWORDS, terms

RETRIEVERS = ("hybrid", "dense", "bm25")

# Hybrid fusion: weights of the z-scored signals over the candidate set, fitted on SQuAD v1.1 and
# SciFact together (README "Retrieval"). The paragraph cosine finds candidates but gets no weight:
# the best sentence's cosine ranks them better.
WEIGHTS = {"bm25": 0.3, "sentence": 0.7, "sentence_bm25": 0.1}
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

    @property
    def best_sentence(self) -> float:
        """The highest sentence cosine in the paragraph."""
        return max(self.sentence_scores, default=self.dense)


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
    ranked, scores = _rank(index, question, q, want + SPARE, retriever, carry)
    ranked = collapse_duplicates(index, ranked, want)
    hits = _hits(index, q, ranked, scores)
    if rerank is not None and hits:
        order = np.argsort(
            -np.asarray(rerank(question, [h.passage.text for h in hits])), kind="stable"
        )
        hits = [hits[i] for i in order]
    return hits[:k]


def _rank(
    index: Index, question: str, q: np.ndarray, depth: int, retriever: str, carry: Sequence[int]
) -> tuple[list[int], dict[int, float]]:
    """Paragraph ids best first (at most depth) and their scores, for one retriever."""
    if retriever == "dense":
        found = index.search(q, depth)
        return [pid for pid, _ in found], dict(found)
    query_terms = terms(question)
    keyword = index.keywords.paragraphs.scores(query_terms)
    if retriever == "bm25":
        rows = _top(keyword, depth)
        rows = rows[keyword[rows] > 0]  # a paragraph sharing no word with the question is no hit
        ids = index.keywords.paragraph_ids[rows].tolist()
        return ids, dict(zip(ids, keyword[rows].tolist(), strict=True))
    depth = max(CANDIDATES, depth)
    dense_ids = [pid for pid, _ in index.search(q, depth)]
    keyword_ids = index.keywords.paragraph_ids[_top(keyword, depth)]
    # Carried ids no longer in the index (an article removed since) are dropped.
    carried = np.asarray(carry, dtype=np.int64)
    carried = carried[np.isin(carried, index.keywords.paragraph_ids)].tolist()
    candidates = np.array(
        list(dict.fromkeys([*keyword_ids.tolist(), *dense_ids, *carried])), dtype=np.int64
    )
    if not len(candidates):
        return [], {}
    fused = _fuse(index, q, query_terms, keyword, candidates)
    order = np.argsort(-fused, kind="stable")
    ranked = candidates[order].tolist()
    return ranked, dict(zip(ranked, fused[order].tolist(), strict=True))


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


def _zscores(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / spread if spread > 1e-9 else np.zeros_like(values)


def _fuse(
    index: Index,
    q: np.ndarray,
    query_terms: list[str],
    keyword: np.ndarray,
    candidates: np.ndarray,
) -> np.ndarray:
    """The fused score of each candidate paragraph."""
    keywords = index.keywords
    bm25 = keyword[keywords.paragraph_rows(candidates)]
    rows, owners = keywords.sentence_rows(candidates)
    sentence = np.full(len(candidates), -1.0, dtype=np.float32)
    sentence_bm25 = np.zeros(len(candidates), dtype=np.float32)
    if len(rows):
        cosines = index.vectors("sentences", keywords.sentence_ids[rows]) @ q
        np.maximum.at(sentence, owners, cosines)
        if query_terms:
            np.maximum.at(sentence_bm25, owners, keywords.sentences.scores(query_terms)[rows])
    return (
        WEIGHTS["bm25"] * _zscores(bm25)
        + WEIGHTS["sentence"] * _zscores(sentence)
        + WEIGHTS["sentence_bm25"] * _zscores(sentence_bm25)
    )


def _hits(
    index: Index, query_vector: np.ndarray, ranked: Sequence[int], scores: dict[int, float]
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
        hits.append(Hit(passage, scores[pid], dense, tuple(float(s) for s in sentence_scores)))
    return hits
