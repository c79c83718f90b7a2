"""Find the paragraphs that answer a question: dense, keyword, or a fusion of both with
sentence-level rescoring."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.config import RETRIEVERS
from rag.retrieve.features import (
    NAMES,
    QueryTerms,
    candidate_features,
    spelled_out,
    with_spelled_acronyms,
)
from rag.retrieve.model import RANKER, LinearModel, load_model
from rag.retrieve.recency import Centre, When, distance, penalty
from rag.store import Index, Passage
from rag.store.vectors import Allowed
from rag.tokens import match

# Candidates for the hybrid: this many from BM25 and this many from the paragraph vectors.
CANDIDATES = 100
# Paragraphs this similar are copies or versions of one another: a story syndicated to several
# sites, or one paragraph updated day by day with new figures (then each date is a version).
DUPLICATE_COSINE = 0.97
SPARE = 10
# A cross-encoder, when configured, reorders this many of the best paragraphs.
RERANK_DEPTH = 20

# (question, paragraph texts) -> one relevance score per text, higher is better.
Rerank = Callable[[str, Sequence[str]], Sequence[float]]


@dataclass(frozen=True)
class Hit:
    """A retrieved paragraph with its fused score and each sentence's similarity to the question."""

    passage: Passage
    score: float
    dense: float  # cosine of question and paragraph
    sentence_scores: tuple[float, ...]  # cosine of question and each sentence, in order
    features: tuple[float, ...] = ()  # the candidate's row of features.NAMES
    # Publication days (ISO) of other versions of this paragraph left out for it, newest first.
    also: tuple[str, ...] = ()
    prior: float = 0.0  # what the recency prior took off its score (score + prior: without it)
    # Days between its publication and the moment asked about (recency.distance); NaN when it is
    # undated or dates are ignored.
    away: float = math.nan
    # How closely the question's words are matched word by word (rag.tokens.match) in the
    # paragraph and in each sentence; NaN and () where either side has no token vectors.
    match: float = math.nan
    sentence_matches: tuple[float, ...] = ()

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
    when: When | None = None,
    *,
    tokens: np.ndarray | None = None,
) -> list[Hit]:
    """Return the k best paragraphs for the question, best first, near-duplicates collapsed.

    carry: paragraph ids from earlier turns of a conversation; the hybrid retriever scores them
    with the other candidates, so a follow-up can stay with the passages it is about.
    when: the moment the question is asked and the publication window it may search (recency.When);
    None ignores publication dates.
    tokens: the question's word vectors (Embedder.encode_question), matched against each hit's.
    """
    if retriever not in RETRIEVERS:
        raise ValueError(f"unknown retriever {retriever!r}; choose one of {', '.join(RETRIEVERS)}")
    q = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    # Rank a little deeper than asked: collapsing copies and reranking both need spare candidates.
    want = max(k, RERANK_DEPTH if rerank else 0)
    # The days the prior favours, read from the question once (None: dates ignored).
    centre = when.centre(question) if when is not None else None
    ranked, scores, features, priors, aways = _rank(
        index, question, q, want + SPARE, retriever, carry, when, centre
    )
    groups = collapse_duplicates(index, ranked, want, centre)
    hits = _hits(index, q, groups, scores, features, priors, aways, tokens)
    if rerank is not None and hits:
        order = np.argsort(
            -np.asarray(rerank(question, [h.passage.text for h in hits])), kind="stable"
        )
        hits = [hits[i] for i in order]
    return hits[:k]


def candidates(
    index: Index, question: str, query_vector: np.ndarray, when: When | None = None
) -> tuple[list[int], np.ndarray]:
    """Every candidate paragraph of the hybrid retriever, in the ranker's order, with its row of
    features (what the ranker is fitted on: rag.fit); when only filters (no recency prior)."""
    q = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    ranked, _, features, _, _ = _rank(index, question, q, CANDIDATES, "hybrid", (), when, None)
    rows = np.array([features[pid] for pid in ranked], dtype=np.float32).reshape(-1, len(NAMES))
    return ranked, rows


def _rank(
    index: Index,
    question: str,
    q: np.ndarray,
    depth: int,
    retriever: str,
    carry: Sequence[int],
    when: When | None,
    centre: Centre | None,
) -> tuple[list[int], dict[int, float], dict[int, np.ndarray], dict[int, float], dict[int, float]]:
    """Paragraph ids best first (at most depth), their scores, their feature rows, what the
    recency prior took off each score and their days from the centre; when filters the
    paragraphs, centre (if any) applies the recency prior to the hybrid score."""
    query = QueryTerms.of(question)
    keyword = index.keywords.paragraphs.scores(list(query.terms))
    # Rows of keywords.paragraph_ids the question may use (None: all of them).
    allowed = index.allowed(when.day_range()) if when is not None and when.filters else None
    pool = max(CANDIDATES, depth) if retriever == "hybrid" else depth
    dense_ids = (
        [pid for pid, _ in index.search(q, pool, _allowed(index, when, allowed))]
        if retriever != "bm25"
        else []
    )
    keyword_ids = _keyword_ids(index, keyword, pool, retriever, allowed)
    # Carried ids no longer in the index (an article removed since) or outside the window are
    # dropped.
    carried = np.asarray(carry if retriever == "hybrid" else (), dtype=np.int64)
    if len(carried):
        ids = index.keywords.paragraph_ids
        rows = np.minimum(index.keywords.paragraph_rows(carried), max(len(ids) - 1, 0))
        usable = (ids[rows] == carried) if len(ids) else np.zeros(len(carried), dtype=bool)
        if allowed is not None:
            usable &= allowed[rows]
        carried = carried[usable]
    carried = carried.tolist()
    candidates = np.array(list(dict.fromkeys([*keyword_ids, *dense_ids, *carried])), dtype=np.int64)
    if not len(candidates):
        return [], {}, {}, {}, {}
    # An acronym of the question counts where a candidate spells it out ("UN" for "United
    # Nations"): in its BM25 and in its share of the question's terms and names.
    spelled = spelled_out(index, query, candidates)
    keyword = with_spelled_acronyms(keyword, index, candidates, spelled)
    features = candidate_features(
        index,
        q,
        query,
        keyword,
        candidates,
        {pid: rank for rank, pid in enumerate(dense_ids)},
        {pid: rank for rank, pid in enumerate(keyword_ids)},
        pool,
        spelled,
    )
    prior = np.zeros(len(candidates), dtype=np.float32)
    away = np.full(len(candidates), np.nan)
    if centre is not None:
        days = index.days()[index.keywords.paragraph_rows(candidates)]
        away = distance(days, centre)
    if retriever == "hybrid":
        scores = ranker().score(features)
        if centre is not None:  # the recency prior
            prior = penalty(days, centre)
            scores = scores - prior
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
        dict(zip(ranked, prior[order].tolist(), strict=True)),
        dict(zip(ranked, away[order].tolist(), strict=True)),
    )


def _allowed(index: Index, when: When | None, rows: np.ndarray | None) -> Allowed | None:
    """What a vector search may return, as the store filters it: days, or rows of the ids."""
    if when is None or rows is None:
        return None
    return Allowed(when.day_range(), rows, index.keywords.paragraph_ids)


def _keyword_ids(
    index: Index, keyword: np.ndarray, pool: int, retriever: str, allowed: np.ndarray | None
) -> list[int]:
    """The pool best paragraphs by BM25 among the allowed ones (none for the dense retriever)."""
    if retriever == "dense":
        return []
    if allowed is None:
        rows = _top(keyword, pool)
    else:
        rows = _top(np.where(allowed, keyword, -np.inf), pool)
        rows = rows[allowed[rows]]
    if retriever == "bm25":  # alone, a paragraph sharing no word with the question is no hit
        rows = rows[keyword[rows] > 0]
    return index.keywords.paragraph_ids[rows].tolist()


def collapse_duplicates(
    index: Index, ranked: Sequence[int], limit: int, centre: Centre | None = None
) -> list[tuple[int, tuple[int, ...]]]:
    """Group near-identical paragraphs, at most limit groups in rank order, and pick one of each:
    the best-ranked, or with centre (the days a question is asked about) the dated version
    published nearest it. Returns (kept id, the group's other ids) per group."""
    if not ranked:
        return []
    vectors = index.vectors("paragraphs", ranked)
    cosines = vectors @ vectors.T  # every pair at once: a few rows, one product
    leaders: list[int] = []  # row of each group's best-ranked member
    members: list[list[int]] = []
    for row in range(len(ranked)):
        if leaders:
            similar = cosines[row, leaders]
            group = int(np.argmax(similar))
            if float(similar[group]) >= DUPLICATE_COSINE:
                members[group].append(row)
                continue
        if len(leaders) < limit:  # later rows are still read: they may be versions of a group
            leaders.append(row)
            members.append([row])
    days = index.days()[index.keywords.paragraph_rows(list(ranked))] if centre is not None else None
    groups = []
    for rows in members:
        kept = rows[0]
        if days is not None and len(rows) > 1:
            away = distance(days[rows], centre)
            if not np.isnan(away).all():
                # Nearest first; among equally near ones, the best-ranked (argmin keeps the first).
                kept = rows[int(np.nanargmin(away))]
        groups.append((int(ranked[kept]), tuple(int(ranked[r]) for r in rows if r != kept)))
    return groups


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
    groups: Sequence[tuple[int, tuple[int, ...]]],
    scores: dict[int, float],
    features: dict[int, np.ndarray],
    priors: dict[int, float],
    aways: dict[int, float],
    tokens: np.ndarray | None,
) -> list[Hit]:
    passages = index.passages([pid for pid, _ in groups])
    q = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    found = [(pid, others, passages[pid]) for pid, others in groups if pid in passages]
    if not found:
        return []
    # Every hit's sentence and paragraph vectors in one look-up each.
    sentence_ids = [sid for _, _, passage in found for sid in passage.sentence_ids]
    all_sentences = index.vectors("sentences", sentence_ids) @ q
    all_dense = index.vectors("paragraphs", [pid for pid, _, _ in found]) @ q
    hits = []
    start = 0
    for (pid, others, passage), dense in zip(found, all_dense.tolist(), strict=True):
        sentence_scores = all_sentences[start : start + len(passage.sentence_ids)]
        start += len(passage.sentence_ids)
        matched = None if tokens is None else match(tokens, passage.tokens, passage.sentences)
        hits.append(
            Hit(
                passage,
                scores[pid],
                dense,
                tuple(float(s) for s in sentence_scores),
                tuple(float(f) for f in features[pid]),
                _other_days(index, others, passage.published),
                priors[pid],
                aways[pid],
                *((math.nan, ()) if matched is None else matched),
            )
        )
    return hits


def _other_days(index: Index, others: Sequence[int], published: str | None) -> tuple[str, ...]:
    """The distinct publication days of a paragraph's other versions, newest first, leaving out
    its own day (same-day copies are copies, not versions)."""
    if not others:
        return ()
    days = index.days()[index.keywords.paragraph_rows(others)]
    found = {dt.date.fromordinal(int(d)).isoformat() for d in days if not np.isnan(d)}
    found.discard((published or "")[:10])
    return tuple(sorted(found, reverse=True))
