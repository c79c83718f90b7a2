"""Which sentences of the retrieved paragraphs answer the question: what each sentence offers (the
thing of the asked-for kind in it, how much of the question it holds, how its paragraph ranked)
as a row of features, and the packaged model that ranks them (rag/retrieve/sentences.json,
gradient-boosted trees fitted by `python -m rag.fit --only sentences`); and whether the thing of
the asked-for kind in the chosen sentence is marked as the answer (rag/retrieve/phrases.json, a
logistic regression fitted by `python -m rag.fit --only phrases`)."""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from rag.answertype import (
    DATE,
    NAME,
    NUMBER,
    ORG,
    OTHER,
    PERSON,
    PLACE,
    REASON,
    Entity,
    asked_type,
    asked_unit,
    narrow,
    one_asked,
)
from rag.errors import ConfigError
from rag.retrieve import Hit
from rag.retrieve.features import NAMES
from rag.retrieve.model import MODELS, PHRASES, SENTENCES, LinearModel, TreeModel, load_model
from rag.store import Passage
from rag.text import content_words, terms

# The sentences of this many best paragraphs are candidates (the answer is given five).
PARAGRAPHS = 5
# How much a paragraph's retrieval score counts beside its best sentence's score when the best
# paragraphs are put in order (reorder): the best mean MRR@10 over the fit halves of SQuAD v1.1,
# SciFact and the news set asked with and without dates, of 0, 0.5, 1, 2 and 4; and how much the
# recency prior's penalty counts once more, so that the sentence does not trade the asked-for
# week for the wording: the best MRR@10 on the news fit half asked as of its dates, of 0, 0.5, 1
# and 2; and how much the paragraph's word-by-word match with the question counts (rag.tokens):
# the best mean MRR@10 over the same fit halves, of 0, 0.5, 1, 2 and 4
# (python benchmarks/reorder.py).
REORDER_WEIGHT = 1.0
REORDER_PRIOR = 2.0
REORDER_MATCH = 2.0
# The kinds of question, in the order the model's "kind" feature numbers them.
KINDS = (PERSON, ORG, PLACE, DATE, NUMBER, REASON, OTHER)
FEATURES = (
    "cosine",  # the sentence's cosine with the question
    "cosine_gap",  # ... less the best cosine of any candidate sentence
    "cosine_gap_paragraph",  # ... less the best cosine in its own paragraph
    "terms",  # share of the question's stemmed terms the sentence holds
    "pairs",  # share of the question's adjacent term pairs it holds, in order
    "terms_before",  # the share of terms of the sentence before it (0 for the first)
    "terms_after",  # ... and of the sentence after it (0 for the last)
    "rank",  # its paragraph's rank (0 = best)
    "paragraph_score",  # its paragraph's retrieval score
    "paragraph_gap",  # ... less the best paragraph's
    "paragraph_cosine",  # the cosine of the question and its paragraph
    "match",  # how closely the question's words are matched in it, word by word (rag.tokens)
    "match_gap",  # ... less the best match of any candidate sentence
    "paragraph_match",  # ... and in its paragraph
    "type_fit",  # the weight of the thing of the asked-for kind in it (answer_phrases)
    "typed",  # whether it holds such a thing at all
    "reason",  # for a why-question: whether it says "because", "due to" and the like
    "kind",  # what the question asks for, numbered as KINDS
    "length",  # log(1 + its number of terms)
    *(f"paragraph_{name}" for name in NAMES),  # its paragraph's row of ranker features
    "question_terms",  # how many distinct terms the question has
)
_COLUMN = {name: i for i, name in enumerate(FEATURES)}
# What decides whether a chosen sentence's thing of the asked-for kind is marked as the answer:
# the sentence model's score of that sentence, its gap to the best sentence's, the answerability
# probability, and some of the sentence's own FEATURES.
_PHRASE_COLUMNS = (
    "type_fit",
    "terms",
    "pairs",
    "match",
    "cosine",
    "rank",
    "question_terms",
    "length",
)
PHRASE_FEATURES = ("sentence_score", "sentence_gap", "confidence", *_PHRASE_COLUMNS)
# scored() remembers this many questions' rows and scores (search, then the answer, read them).
_REMEMBERED = 64
_SCORED: OrderedDict = OrderedDict()
_LOCK = threading.Lock()

# How well each entity type answers each kind of question; a NAME is a name of no clear kind.
_ACCEPTS = {
    PERSON: {PERSON: 1.0, NAME: 0.6, ORG: 0.3},
    ORG: {ORG: 1.0, NAME: 0.6, PERSON: 0.3, PLACE: 0.3},
    PLACE: {PLACE: 1.0, NAME: 0.6, ORG: 0.3},
    DATE: {DATE: 1.0},
    NUMBER: {NUMBER: 1.0},
}
# Characters between a phrase and the question's words at which closeness counts half.
_NEAR = 40
_REASON_CUES = re.compile(
    r"\b(?:because|due to|since|so that|in order to|as a result|owing to|thanks to|reasons?|"
    r"led to|caused|so as to)\b",
    re.IGNORECASE,
)


def model() -> TreeModel:
    """The packaged sentence model (rag/retrieve/sentences.json), read once."""
    found = load_model(SENTENCES, FEATURES)
    if not isinstance(found, TreeModel) or found.margin is None:
        raise _unusable(SENTENCES, "a ranking model with a margin", "sentences")
    return found


def phrase_model() -> LinearModel:
    """The packaged phrase model (rag/retrieve/phrases.json), read once."""
    found = load_model(PHRASES, PHRASE_FEATURES)
    if not isinstance(found, LinearModel) or found.threshold is None:
        raise _unusable(PHRASES, "a probability model with a threshold", "phrases")
    return found


def _unusable(filename: str, kind: str, part: str) -> ConfigError:
    """The one-line error for a packaged model file this code cannot use, and its fix."""
    return ConfigError(
        f"{MODELS / filename} is not {kind}; reinstall the package or refit with: "
        f"python -m rag.fit --only {part}."
    )


def phrase_row(row: np.ndarray, score: float, best: float, confidence: float) -> np.ndarray:
    """The row of PHRASE_FEATURES for the phrase of a sentence with this row of FEATURES and
    sentence score, best: the best sentence score of the question, confidence: the answerability
    probability."""
    picked = [float(row[_COLUMN[name]]) for name in _PHRASE_COLUMNS]
    return np.array([score, score - best, confidence, *picked], dtype=np.float32)


def marks(row: np.ndarray) -> bool:
    """Whether the phrase with this row of PHRASE_FEATURES is marked as the answer: the phrase
    model's probability that it is the answer reaches its threshold."""
    model = phrase_model()
    return model.probability(row) >= model.threshold


def candidates(
    question: str, hits: Sequence[Hit]
) -> tuple[list[tuple[int, int, Entity | None]], np.ndarray]:
    """Every sentence of the best PARAGRAPHS hits as (hit rank, sentence index, the thing of the
    asked-for kind in it or None), with its row of FEATURES, in paragraph then sentence order."""
    words = set(content_words(question))
    stems = list(dict.fromkeys(terms(question)))
    wanted, pairs = set(stems), set(pairwise(stems))
    kind, unit, one = asked_type(question), asked_unit(question), one_asked(question)
    hits = hits[:PARAGRAPHS]
    cosines = [_cosines(hit) for hit in hits]
    best_cosine = max((max(c) for c in cosines if c), default=0.0)
    matches = [_matches(hit, c) for hit, c in zip(hits, cosines, strict=True)]
    best_match = max((max(m) for m in matches if m), default=0.0)
    paragraph_match = paragraph_matches(hits)
    # A paragraph's rank and gap are read from the retrieval scores, not from the order the hits
    # come in, so that a sentence's row is the same after reorder() as before.
    scores = np.array([hit.score for hit in hits], dtype=np.float64)
    place = np.empty(len(hits), dtype=np.float64)
    place[np.argsort(-scores, kind="stable")] = np.arange(len(hits))
    top = float(scores.max()) if len(hits) else 0.0
    found: list[tuple[int, int, Entity | None]] = []
    rows: list[list[float]] = []
    for rank, hit in enumerate(hits):
        passage = hit.passage
        phrases = [
            (phrase and narrow(phrase, passage.text, unit), fit)
            for phrase, fit in answer_phrases(passage, kind, words, one)
        ]
        texts = [passage.text[s.start : s.end] for s in passage.sentences]
        said = [terms(text) for text in texts]
        share = [len(wanted & set(s)) / len(wanted) if wanted else 0.0 for s in said]
        paragraph = list(hit.features) if len(hit.features) == len(NAMES) else [0.0] * len(NAMES)
        best_here = max(cosines[rank], default=0.0)
        for i, text in enumerate(texts):
            phrase, fit = phrases[i]
            held = set(pairwise(said[i]))
            found.append((rank, i, phrase))
            rows.append(
                [
                    cosines[rank][i],
                    cosines[rank][i] - best_cosine,
                    cosines[rank][i] - best_here,
                    share[i],
                    len(pairs & held) / len(pairs) if pairs else 0.0,
                    share[i - 1] if i > 0 else 0.0,
                    share[i + 1] if i + 1 < len(texts) else 0.0,
                    place[rank],
                    hit.score,
                    hit.score - top,
                    hit.dense,
                    matches[rank][i],
                    matches[rank][i] - best_match,
                    paragraph_match[rank],
                    fit,
                    1.0 if phrase is not None else 0.0,
                    1.0 if kind == REASON and _REASON_CUES.search(text) else 0.0,
                    KINDS.index(kind),
                    math.log1p(len(said[i])),
                    *paragraph,
                    len(wanted),
                ]
            )
    return found, np.array(rows, dtype=np.float32).reshape(-1, len(FEATURES))


def scored(
    question: str, hits: Sequence[Hit]
) -> tuple[list[tuple[int, int, Entity | None]], np.ndarray, np.ndarray]:
    """candidates(question, hits) and the sentence model's score of each row. The last few
    questions' are remembered by their paragraphs and scores (a row does not depend on the order
    of the hits): search() reorders by them and the answer then chooses by them."""
    hits = hits[:PARAGRAPHS]
    key = (question, frozenset(_inputs(hit) for hit in hits), len(hits))
    with _LOCK:
        known = _SCORED.get(key)
    if known is None:
        found, rows = candidates(question, hits)
        scores = model().score(rows) if found else np.zeros(0)
        known = {
            (hits[rank].passage.id, i): (phrase, row, score)
            for (rank, i, phrase), row, score in zip(found, rows, scores, strict=True)
        }
        with _LOCK:
            _SCORED[key] = known
            while len(_SCORED) > _REMEMBERED:
                _SCORED.popitem(last=False)
        return found, rows, scores
    found = [
        (rank, i, known[(hit.passage.id, i)][0])
        for rank, hit in enumerate(hits)
        for i in range(len(hit.passage.sentences))
    ]
    entries = [known[(hits[rank].passage.id, i)] for rank, i, _ in found]
    rows = np.array([row for _, row, _ in entries], dtype=np.float32).reshape(-1, len(FEATURES))
    return found, rows, np.array([score for _, _, score in entries], dtype=np.float64)


def _inputs(hit: Hit) -> tuple:
    """Everything of a hit that its sentences' rows are computed from."""
    passage = hit.passage
    return (passage.id, passage.text, passage.entities, hit.score, hit.prior, hit.dense) + (
        hit.sentence_scores,
        hit.features,
        None if math.isnan(hit.match) else hit.match,
        hit.sentence_matches,
    )


def reorder(question: str, hits: Sequence[Hit]) -> list[Hit]:
    """The hits with the best PARAGRAPHS in order of their best sentence's score (the sentence
    model's) plus REORDER_WEIGHT times their retrieval score, less REORDER_PRIOR times what the
    recency prior took off it, plus REORDER_MATCH times its word-by-word match with the question;
    the rest as they were. The paragraph that holds the sentence most likely to answer comes first
    (SQuAD v1.1 check half: recall@1 0.833 -> 0.863)."""
    top = list(hits[:PARAGRAPHS])
    found, _, scores = scored(question, top)
    if len(top) < 2 or not found:
        return list(hits)
    best = np.full(len(top), -np.inf)
    np.maximum.at(best, np.array([rank for rank, _, _ in found]), scores)
    key = (
        best
        + REORDER_WEIGHT * np.array([hit.score for hit in top])
        - REORDER_PRIOR * np.array([hit.prior for hit in top])
        + REORDER_MATCH * paragraph_matches(top)
    )
    return [top[i] for i in np.argsort(-key, kind="stable")] + list(hits[PARAGRAPHS:])


def without_prior(
    rows: np.ndarray, found: Sequence[tuple[int, int, Entity | None]], hits: Sequence[Hit]
) -> np.ndarray:
    """The rows (of `candidates(question, hits)`) as they would be had the recency prior not moved
    the paragraphs: each paragraph's score with the prior's penalty given back, its gap to the
    best such score and its rank by them. What the sentences and paragraphs say is kept."""
    if not found:
        return rows.copy()
    undated = np.array([hit.score + hit.prior for hit in hits[:PARAGRAPHS]], dtype=np.float32)
    place = np.empty(len(undated), dtype=np.float32)
    place[np.argsort(-undated, kind="stable")] = np.arange(len(undated))
    ranks = np.array([rank for rank, _, _ in found], dtype=np.int64)
    moved = rows.copy()
    moved[:, _COLUMN["paragraph_score"]] = undated[ranks]
    moved[:, _COLUMN["paragraph_gap"]] = undated[ranks] - undated.max()
    moved[:, _COLUMN["rank"]] = place[ranks]
    return moved


def paragraph_matches(hits: Sequence[Hit]) -> np.ndarray:
    """Each hit's word-by-word match with the question (its paragraph cosine where it has no token
    vectors: an index of a model that does not mean-pool)."""
    return np.array([hit.dense if math.isnan(hit.match) else hit.match for hit in hits])


def _cosines(hit: Hit) -> list[float]:
    """Each sentence's cosine with the question (the paragraph's where one is missing)."""
    scores = hit.sentence_scores
    return [scores[i] if i < len(scores) else hit.dense for i in range(len(hit.passage.sentences))]


def _matches(hit: Hit, cosines: list[float]) -> list[float]:
    """Each sentence's word-by-word match with the question (its cosine where the hit has no
    token vectors: an index of a model that does not mean-pool)."""
    found = hit.sentence_matches
    return list(found) if len(found) == len(cosines) else cosines


def answer_phrases(
    passage: Passage, kind: str, question_words: set[str], one: str | None = None
) -> list[tuple[Entity | None, float]]:
    """For each sentence of a passage, the entity in it that best answers a question asking for
    `kind`, and its weight (0..1): the entity type's fit, more when it stands near the question's
    words; (None, 0.0) where there is none. An entity made only of the question's own words is not
    an answer to it ("Who is Bill Roggio?"). A person, organisation or place comes with those
    listed beside it, unless the question asks for `one` thing of a kind (one_asked)."""
    found: list[tuple[Entity | None, float]] = [(None, 0.0)] * len(passage.sentences)
    accepts = _ACCEPTS.get(kind)
    if not accepts:
        return found
    text = passage.text
    candidates = [
        (entity, accepts[entity.type])
        for entity in passage.entities
        if entity.type in accepts
        and not all(
            _asked(w, question_words) for w in content_words(text[entity.start : entity.end])
        )
    ]
    # The question's words where they occur (compiled only if some sentence holds a candidate).
    anchor: re.Pattern[str] | None = None if question_words else re.compile(r"(?!)")
    at = 0  # both lists are in text order: walk them together
    for i, sentence in enumerate(passage.sentences):
        while at < len(candidates) and candidates[at][0].start < sentence.start:
            at += 1
        inside = []
        while at < len(candidates) and candidates[at][0].end <= sentence.end:
            inside.append(candidates[at])
            at += 1
        if not inside:
            continue
        if anchor is None:
            anchor = re.compile(
                r"\b(?:" + "|".join(map(re.escape, sorted(question_words))) + r")\b", re.I
            )
        anchors = [m.span() for m in anchor.finditer(text, sentence.start, sentence.end)]
        best = -1
        for j, (entity, fit) in enumerate(inside):
            gaps = [
                max(a - entity.end, entity.start - b)
                for a, b in anchors
                if b <= entity.start or a >= entity.end
            ]
            near = _NEAR / (_NEAR + min(gaps)) if gaps else 0.5
            value = fit * (0.5 + 0.5 * near)
            if value > found[i][1]:
                found[i], best = (entity, value), j
        if best >= 0 and kind in _LISTED:
            found[i] = (_listed(text, [e for e, _ in inside], best, one), found[i][1])
    return found


# Places that qualify a city ("Gdansk, Poland"): asked for one of these, the qualifier answers.
_WIDE_PLACES = frozenset({"country", "nation", "state", "province", "region", "continent"})
# Kinds whose answer is the whole list a sentence names ("William Hanna and Joseph Barbera").
_LISTED = frozenset({PERSON, ORG, PLACE})
_LIST_JOIN = re.compile(r",\s*(?:and\s+)?|\s+and\s+")


def _asked(word: str, question_words: set[str]) -> bool:
    """Whether the question names word itself or by a word of the same start, at least four
    letters of it ("Afghanistan" by "intra-Afghan", "Qatar" by "Qatari")."""
    if word in question_words:
        return True
    return any(
        min(len(word), len(q)) >= 4 and (word.startswith(q) or q.startswith(word))
        for q in question_words
    )


def _listed(text: str, entities: list[Entity], at: int, one: str | None) -> Entity:
    """entities[at] with the entities of its kind listed beside it ("A, B and C") or a place with
    the place that qualifies it ("Redwood City, California"), as one span. Where the question asks
    for `one` thing ("Which city ..."), no list: the place with the place that qualifies it, or
    that place alone where a country or state is asked for ("Poland" of "Gdansk, Poland")."""
    chosen = entities[at]
    if one:
        after = entities[at + 1] if at + 1 < len(entities) else None
        if (
            after is not None
            and chosen.type == after.type == PLACE
            and re.fullmatch(r",\s*", text[chosen.end : after.start])
        ):
            return after if one in _WIDE_PLACES else Entity(chosen.start, after.end, PLACE)
        return chosen

    def joins(left: Entity, right: Entity) -> bool:
        return right.type in (chosen.type, NAME) and bool(
            _LIST_JOIN.fullmatch(text, left.end, right.start)
        )

    first = last = at
    while first > 0 and joins(entities[first - 1], entities[first]):
        first -= 1
    while last + 1 < len(entities) and joins(entities[last], entities[last + 1]):
        last += 1
    listed = any(
        "and" in text[entities[j].end : entities[j + 1].start].split() for j in range(first, last)
    )
    places = all(entities[j].type == PLACE for j in range(first, last + 1))
    if first == last or not (listed or places):
        return chosen
    return Entity(entities[first].start, entities[last].end, chosen.type)
