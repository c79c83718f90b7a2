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
from rag.store.keywords import bm25_idf
from rag.text import STOPWORDS, spelled_names, spells_out, terms

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
# An acronym: two to six capitals, maybe dotted or plural ("UN", "U.N.", "NATO", "CEOs").
_ACRONYM = re.compile(r"\b(?:[A-Z]\.){2,6}|\b[A-Z]{2,6}(?=s?\b)")


@dataclass(frozen=True)
class QueryTerms:
    """The question's stemmed terms (each once) and its names and numbers, as stems; its
    acronyms (term, letters) and the names it spells out that an acronym may stand for
    (letters, terms)."""

    terms: tuple[str, ...]
    names: tuple[str, ...]
    acronyms: tuple[tuple[str, str], ...] = ()
    spelled: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def of(cls, question: str) -> QueryTerms:
        words = tuple(dict.fromkeys(terms(question)))
        named = tuple(dict.fromkeys(t for m in _NAME.findall(question) for t in terms(m)))
        return cls(words, named, *_acronyms(question, words))


def _acronyms(question: str, words: tuple[str, ...]):
    """The question's acronyms whose term it asks about, as (term, capitals), and each run of
    two or more capitalised words it spells out, as (initials as a term, the run's terms):
    "the UN" may be written "the United Nations" in a paragraph, and the other way round. A
    question in capitals throughout has no acronyms."""
    if question.upper() == question:
        return (), ()
    acronyms = []
    for match in _ACRONYM.finditer(question):
        letters = match.group(0).replace(".", "")
        found = terms(letters)
        if found and found[0] in words:
            acronyms.append((found[0], letters))
    spelled = []
    first = question.split(maxsplit=1)
    if len(first) == 2 and first[0].lower() in STOPWORDS:  # "Which United Nations body …"
        question = first[1]
    for initials, name in spelled_names(question, longest=6):
        run = tuple(t for w in name for t in terms(w) if t in words)
        if run:
            spelled.append((initials, run))
    return tuple(dict.fromkeys(acronyms)), tuple(dict.fromkeys(spelled))


def candidate_features(
    index: Index,
    q: np.ndarray,
    query: QueryTerms,
    keyword: np.ndarray,
    candidates: np.ndarray,
    dense_rank: dict[int, int],
    keyword_rank: dict[int, int],
    depth: int,
    spelled: Spelled | None = None,
) -> np.ndarray:
    """One row of NAMES per candidate paragraph id, shape (len(candidates), len(NAMES)).

    keyword: every paragraph's BM25 for the question; dense_rank/keyword_rank: 0-based rank of a
    paragraph in each list (absent: ranked at depth or below); spelled: which candidates spell
    out the question's acronyms (spelled_out()), when it has any.
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
    # An acronym and its spelled-out name count as the same words.
    in_paragraphs, in_sentences = (spelled.paragraphs, spelled.sentences) if spelled else ({}, {})
    present, weights = _presence(keywords.paragraphs, rows, query.terms, query, in_paragraphs)
    coverage = present @ weights if len(weights) else np.zeros(n, dtype=np.float32)
    if len(sentence_rows):
        cosines = index.vectors("sentences", keywords.sentence_ids[sentence_rows]) @ q
        np.maximum.at(sentence, owners, cosines)
        if query.terms:
            scores = keywords.sentences.scores(list(query.terms), sentence_rows)
            np.maximum.at(sentence_bm25, owners, scores)
            # Sentence presence is read from the sentence matrix, weighted by paragraph IDF.
            in_sentence, _ = _presence(
                keywords.sentences, sentence_rows, query.terms, query, in_sentences
            )
            np.maximum.at(sentence_coverage, owners, in_sentence @ weights)
    names = _share(keywords.paragraphs, rows, query, in_paragraphs, fallback=coverage)
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


def _presence(
    matrix_index,
    rows: np.ndarray,
    words: tuple[str, ...],
    query: QueryTerms | None = None,
    spelled: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, ...]:
    """Whether each row holds each query term (rows × terms, 0/1), and each term's share of the
    question's IDF (terms the index has never seen count fully, as absent everywhere). With the
    query, an acronym of the question counts as held where a row spells it out (spelled: the
    rows that do, by the acronym's term), and a name it spells out where a row holds its
    acronym."""
    if not words:
        return np.zeros((len(rows), 0), dtype=np.float32), np.zeros(0, dtype=np.float32)
    total = matrix_index.matrix.shape[0]
    present, frequency = matrix_index.presence(rows, words)
    if query is not None:
        _acronyms_held(present, matrix_index, rows, words, query, spelled or {})
    idf = np.full(len(words), bm25_idf(total, 0), dtype=np.float32)
    positions = [i for i, w in enumerate(words) if w in matrix_index.vocabulary]
    if positions:
        known = frequency[positions]
        idf[positions] = bm25_idf(total, known)
    return present, idf / idf.sum()


def _acronyms_held(
    present: np.ndarray,
    matrix_index,
    rows: np.ndarray,
    words: tuple[str, ...],
    query: QueryTerms,
    spelled: dict[str, np.ndarray],
) -> None:
    """Mark in present (rows × words) the question's acronyms that a row spells out and the
    names it spells out whose acronym a row holds."""
    column = {w: i for i, w in enumerate(words)}
    for term, held in spelled.items():
        if term in column:
            present[held, column[term]] = 1.0
    for initials, run in query.spelled:
        columns = [column[t] for t in run if t in column]
        if columns and initials in matrix_index.vocabulary:
            held = matrix_index.presence(rows, [initials])[0][:, 0] > 0
            present[np.ix_(held, columns)] = 1.0


@dataclass(frozen=True)
class Spelled:
    """Which candidates spell out each of a question's acronyms (by its term): as booleans over
    the candidates, and over their sentences in the order of keywords.sentence_rows()."""

    paragraphs: dict[str, np.ndarray]
    sentences: dict[str, np.ndarray]


def spelled_out(index: Index, query: QueryTerms, candidates: np.ndarray) -> Spelled | None:
    """Which candidates spell out the question's acronyms in the text their keywords read
    (title, heading and paragraph), and which of their sentences do; None for a question
    without acronyms (texts are read only then, and sentences only of paragraphs that do)."""
    if not query.acronyms or not len(candidates):
        return None
    paragraphs = index.texts([int(c) for c in candidates])
    texts = [paragraphs.get(int(c), "") for c in candidates]
    in_paragraphs = {
        term: np.array([spells_out(text, letters) for text in texts], dtype=bool)
        for term, letters in query.acronyms
    }
    sentence_rows, owners = index.keywords.sentence_rows(candidates)
    ids = index.keywords.sentence_ids[sentence_rows] if len(sentence_rows) else []
    holding = np.any(list(in_paragraphs.values()), axis=0)
    sentences = index.sentence_texts([int(c) for c in candidates[holding]])
    in_sentences = {
        # A sentence spells it out only inside a paragraph that does.
        term: np.array(
            [
                bool(held[owner]) and spells_out(sentences.get(int(sid), ""), letters)
                for sid, owner in zip(ids, owners, strict=True)
            ],
            dtype=bool,
        )
        for (term, letters), held in zip(query.acronyms, in_paragraphs.values(), strict=True)
    }
    return Spelled(in_paragraphs, in_sentences)


def with_spelled_acronyms(
    keyword: np.ndarray, index: Index, candidates: np.ndarray, spelled: Spelled | None
) -> np.ndarray:
    """Paragraph BM25 (every paragraph's, as keywords.paragraphs.scores() gives it) with each
    acronym of the question counted once in the candidates that spell it out and do not hold
    it: as one occurrence in a paragraph of average length, its IDF counting those paragraphs
    too. "What does the FDD say?" then finds "the Foundation for the Defense of Democracies"."""
    if spelled is None:
        return keyword
    matrix = index.keywords.paragraphs
    rows = index.keywords.paragraph_rows(candidates)
    total = matrix.matrix.shape[0]
    keyword = keyword.copy()
    for term, held in spelled.paragraphs.items():
        present, frequency = matrix.presence(rows, [term])
        extra = held & (present[:, 0] == 0)
        if not extra.any():
            continue
        df = float(frequency[0]) + float(extra.sum())
        keyword[rows[extra]] += np.float32(bm25_idf(total, df))
    return keyword


def _share(
    matrix_index,
    rows: np.ndarray,
    query: QueryTerms,
    spelled: dict[str, np.ndarray] | None,
    fallback: np.ndarray,
) -> np.ndarray:
    """Unweighted share of the question's names found in each row; fallback where it names
    nothing."""
    if not query.names:
        return fallback
    present, _ = _presence(matrix_index, rows, query.names, query, spelled)
    return present.mean(axis=1)
