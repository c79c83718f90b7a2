"""Find the paragraphs that answer a question: dense, keyword, or a fusion of both with
sentence-level rescoring."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.store import Index, Passage

RETRIEVERS = ("hybrid", "dense", "bm25")

# Weights of the z-scored signals in hybrid fusion; see README "Retrieval" for how they were fitted.
WEIGHTS = {"bm25": 0.4, "paragraph": 0.2, "sentence": 0.4}
CANDIDATES = 50

_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "s",
        "t",
        "don",
    ]
)
_WORD = re.compile(r"\w+", re.UNICODE)


def content_words(text: str) -> list[str]:
    """Lower-cased words of text without stopwords, in order, each once."""
    words = [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]
    return list(dict.fromkeys(words))


def fts_query(question: str) -> str:
    """An FTS5 MATCH expression: any of the question's content words, each quoted as a literal."""
    words = content_words(question) or list(dict.fromkeys(_WORD.findall(question.lower())))
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words[:64])


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
    index: Index, question: str, query_vector: np.ndarray, k: int, retriever: str = "hybrid"
) -> list[Hit]:
    """Return the k best paragraphs for the question, best first."""
    if retriever not in RETRIEVERS:
        raise ValueError(f"unknown retriever {retriever!r}; choose one of {', '.join(RETRIEVERS)}")
    depth = max(CANDIDATES, k)
    dense = dict(index.search(query_vector, depth)) if retriever != "bm25" else {}
    keyword = dict(index.keyword_search(fts_query(question), depth)) if retriever != "dense" else {}
    if retriever == "dense":
        ranked = sorted(dense, key=dense.get, reverse=True)[:k]
        scores = dense
    elif retriever == "bm25":
        ranked = sorted(keyword, key=keyword.get, reverse=True)[:k]
        scores = keyword
    else:
        ranked, scores = _fuse(index, query_vector, dense, keyword, k)
    return _hits(index, query_vector, ranked, scores)


def _zscores(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / spread if spread > 1e-9 else np.zeros_like(values)


def _fuse(
    index: Index,
    query_vector: np.ndarray,
    dense: dict[int, float],
    keyword: dict[int, float],
    k: int,
) -> tuple[list[int], dict[int, float]]:
    candidates = list(dict.fromkeys([*dense, *keyword]))
    if not candidates:
        return [], {}
    q = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    paragraph = index.vectors("paragraphs", candidates) @ q
    sentence_ids, owners = index.sentence_ids_of(candidates)
    sentence = np.full(len(candidates), -1.0, dtype=np.float32)
    if sentence_ids:
        np.maximum.at(sentence, owners, index.vectors("sentences", sentence_ids) @ q)
    floor = min(keyword.values(), default=0.0)
    bm25 = np.array([keyword.get(c, floor) for c in candidates], dtype=np.float32)
    fused = (
        WEIGHTS["bm25"] * _zscores(bm25)
        + WEIGHTS["paragraph"] * _zscores(paragraph)
        + WEIGHTS["sentence"] * _zscores(sentence)
    )
    order = np.argsort(-fused, kind="stable")[:k]
    return [candidates[i] for i in order], {candidates[i]: float(fused[i]) for i in order}


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
