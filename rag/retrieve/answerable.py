"""Answerability: the probability that the retrieved paragraphs answer the question, from what
the best candidates look like (not from one cosine alone)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from rag.answertype import PERSON, asks_about_a_name
from rag.retrieve import Hit
from rag.retrieve.features import NAMES, QueryTerms
from rag.retrieve.model import (
    ANSWERABILITY,
    PHRASES,
    RANKER,
    SENTENCES,
    LinearModel,
    TreeModel,
    file_version,
    load_model,
)
from rag.store import Passage
from rag.text import terms

# A question that asks who or what a name is ("Who is Bill Roggio?") is answerable at least this
# surely when one sentence of the three best paragraphs names all of it: what the articles say
# about that name is the answer. Such questions have low cosines and few terms, which the model
# counts against them (README "Abstention").
NAMED_FLOOR = 0.5

# The lead of a lone paragraph (a library of one), which has no runner-up to lead: about the 95th
# percentile of the best paragraph's lead over answerable questions (README "Abstention").
LONE_LEAD = 4.0

# A library whose nearest retrieved story lies less than a week from the moment asked about is
# live: on the news set asked as of each question's date, 95% of the questions have one within
# five days; asked a week or more after its last story, none has (README "Abstention").
LIVE_DAYS = 7.0

# Measures that mean the same in a library of one article and of thousands, and the best
# paragraph's lead over the next. Other scores relative to the candidates (z-scores of the best
# paragraph) made a small library's best paragraph look weak and refused its plain questions; the
# lead did not (README "Abstention").
FEATURES = (
    "top_sentence",  # the best paragraph's best-sentence cosine
    "best_sentence",  # the best sentence cosine among the top three paragraphs
    "top_dense",  # the best paragraph's own cosine
    "top_coverage",  # IDF-weighted share of the question's terms in the best paragraph
    "top_sentence_coverage",  # … in its best-covering sentence
    "best_coverage",  # the highest coverage among the top three
    "top_names",  # share of the question's names and numbers in the best paragraph
    "query_terms",  # log(1 + number of distinct question terms)
    "query_names",  # log(1 + number of names and numbers in the question)
    "lead",  # the ranker's score of the best paragraph minus the next one's
    # What the recency prior took off the best paragraph's score, in a library that reaches the
    # moment asked about (0 in an archive asked later, an undated library, or dates ignored).
    "top_prior",
)
_COLUMN = {name: i for i, name in enumerate(NAMES)}


def model() -> LinearModel | TreeModel:
    """The packaged answerability model (rag/retrieve/answerability.json), read once."""
    return load_model(ANSWERABILITY, FEATURES)


def model_versions() -> str:
    """The versions of the ranker, the answerability model, the sentence model and the phrase
    model, as the manifest and eval results record them."""
    return " ".join(file_version(name) for name in (RANKER, ANSWERABILITY, SENTENCES, PHRASES))


def answerability_features(question: str, hits: Sequence[Hit]) -> np.ndarray:
    """The row of FEATURES for a question and its retrieved paragraphs, read in the retriever's
    order (which the model was fitted on) whatever order they are shown in."""
    hits = sorted(hits, key=lambda hit: hit.score, reverse=True)
    rows = np.array([hit.features for hit in hits[:3] if hit.features], dtype=np.float32)
    query = QueryTerms.of(question)
    if not len(rows):
        return np.zeros(len(FEATURES), dtype=np.float32)
    top = rows[0]
    lead = hits[0].score - hits[1].score if len(hits) > 1 else LONE_LEAD
    return np.array(
        [
            top[_COLUMN["sentence"]],
            rows[:, _COLUMN["sentence"]].max(),
            top[_COLUMN["dense"]],
            top[_COLUMN["coverage"]],
            top[_COLUMN["sentence_coverage"]],
            rows[:, _COLUMN["coverage"]].max(),
            top[_COLUMN["names"]],
            np.log1p(len(query.terms)),
            np.log1p(len(query.names)),
            lead,
            hits[0].prior if reaches_the_moment(hits) else 0.0,
        ],
        dtype=np.float32,
    )


def reaches_the_moment(hits: Sequence[Hit]) -> bool:
    """Whether a dated paragraph among the hits lies less than LIVE_DAYS from the moment asked
    about: a news feed asked about this week, or a question asked as of its own week. Then a best
    paragraph that the recency prior ranked below nearer ones is another week's story, and
    answering with it is news from the wrong week. Otherwise (an archive asked later, where
    every story lies far back, or an undated library) the prior's penalty tells nothing."""
    return any(hit.away < LIVE_DAYS for hit in hits)  # NaN (undated) compares False


def answerability(question: str, hits: Sequence[Hit]) -> float:
    """The probability (0..1) that these paragraphs answer the question; 0 with none; at least
    NAMED_FLOOR for a question about a name that a sentence of the best paragraph names."""
    hits = sorted(hits, key=lambda hit: hit.score, reverse=True)  # as the features read them
    if not hits or not hits[0].features:
        return 0.0
    probability = model().probability(answerability_features(question, hits))
    if probability < NAMED_FLOOR and (
        names_in_a_sentence(question, hits[:3]) or holder_in_a_sentence(question, hits[:3])
    ):
        return NAMED_FLOOR
    return probability


def names_in_a_sentence(question: str, hits: Sequence[Hit]) -> bool:
    """Whether the question asks who or what a name is and nothing else ("Who is Bill Roggio?",
    "What was the Long War Journal?") and one sentence of the paragraphs holds the whole name."""
    if not asks_about_a_name(question):
        return False
    query = QueryTerms.of(question)
    names = set(query.names)
    if not names or not set(query.terms) <= names:
        return False
    return any(
        names <= set(terms(hit.passage.text[s.start : s.end]))
        for hit in hits
        for s in hit.passage.sentences
    )


# "Who is the State Department spokesman?": who holds a post, named by its words alone.
_WHO_HOLDS = re.compile(
    r"\s*who\s+(?:is|was)\s+(?:the|a|an)\s+([\w'’. -]+?)\s*\??\s*$", re.IGNORECASE
)
# What may stand between a post and its holder's name: "spokesman Ned Price", "Ned Price, the
# State Department spokesman", "the special representative, Zalmay Khalilzad".
_BESIDE = re.compile(r"[\s,]*(?:(?:the|a|an|former|current|then)\s+)*", re.IGNORECASE)


def holder_in_a_sentence(question: str, hits: Sequence[Hit]) -> bool:
    """Whether the question asks who holds a post and nothing else ("Who is the State Department
    spokesman?") and one sentence of the paragraphs holds every word of the post with a person
    named right beside them ("... but spokesman Ned Price said")."""
    asked = _WHO_HOLDS.match(question)
    if not asked:
        return False
    post = asked.group(1)
    wanted = set(terms(post))
    if not wanted or len(post.split()) > 6:
        return False
    return any(
        wanted <= set(terms(hit.passage.text[s.start : s.end]))
        and _named_beside(hit.passage, s.start, s.end, wanted)
        for hit in hits
        for s in hit.passage.sentences
    )


def _named_beside(passage: Passage, start: int, end: int, wanted: set[str]) -> bool:
    """Whether a person's name in text[start:end] stands right beside a word of the post."""
    text = passage.text
    posts = [
        m.span()
        for m in re.finditer(r"[\w'’-]+", text[start:end])
        if set(terms(m.group(0))) & wanted
    ]
    for entity in passage.entities:
        if entity.type != PERSON or entity.start < start or entity.end > end:
            continue
        for a, b in posts:
            a, b = a + start, b + start
            if b <= entity.start and _BESIDE.fullmatch(text[b : entity.start]):
                return True
            if entity.end <= a and _BESIDE.fullmatch(text[entity.end : a]):
                return True
    return False
