"""Extractive answers: the sentences of the retrieved paragraphs that best answer the question,
each followed by a citation [n] to the paragraph it came from."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from enum import Enum

import numpy as np

from rag import sentences
from rag.answertype import DATE, NAME, PERSON, Entity, asks_about_a_name
from rag.dates import day_named, format_day, parse_date
from rag.retrieve import Hit
from rag.retrieve.answerable import reaches_the_moment
from rag.store import Passage
from rag.text import content_words

ABSTAIN_TEXT = "I couldn't find this in the indexed articles."
MAX_SENTENCES = 3


class Status(str, Enum):
    """The verdict on a sentence of an LLM answer (rag.verify). A StrEnum, spelled out so that
    it runs on Python 3.10: Status.SUPPORTED == "supported"."""

    SUPPORTED = "supported"  # a cited paragraph supports it
    RECITED = "recited"  # another retrieved paragraph supports it; the citation was changed
    UNSUPPORTED = "unsupported"  # no retrieved paragraph supports it
    NO_CLAIM = "no_claim"  # nothing to check ("Here is what I found:")

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Verdict:
    """The check of one sentence of an LLM answer (rag.verify)."""

    text: str  # the sentence without its citation markers
    status: Status
    cited: tuple[int, ...] = ()  # the model's citations that named a retrieved paragraph (1..k)
    dropped: tuple[int, ...] = ()  # the model's citations outside 1..k
    citation: int | None = None  # n of the answer's citation that supports it
    support: float = 0.0  # the best cosine between the sentence and a supporting sentence
    # What its cited paragraphs lack: names, numbers, quotes, "negation".
    missing: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output."""
        return {
            "text": self.text,
            "status": self.status.value,
            "cited": list(self.cited),
            "dropped": list(self.dropped),
            "citation": self.citation,
            "support": round(self.support, 4),
            "missing": list(self.missing),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Verdict:
        """A verdict from its to_dict() data; KeyError without a status, ValueError for one it
        does not know."""
        citation = data.get("citation")
        return cls(
            str(data.get("text") or ""),
            Status(data["status"]),
            tuple(int(n) for n in data.get("cited") or ()),
            tuple(int(n) for n in data.get("dropped") or ()),
            None if citation is None else int(citation),
            float(data.get("support") or 0.0),
            tuple(str(m) for m in data.get("missing") or ()),
        )


@dataclass(frozen=True)
class Citation:
    """Where one part of an answer came from: a paragraph and the cited sentence(s) in it."""

    n: int
    article_title: str
    source: str
    paragraph_index: int
    paragraph_id: int
    heading: str | None
    paragraph_text: str
    sentence_start: int
    sentence_end: int
    score: float
    # The answer phrase inside the cited text (paragraph_text offsets), when the question asks
    # for a kind of thing (a person, a date, ...) and the text names one; else None.
    answer_start: int | None = None
    answer_end: int | None = None
    published: str | None = None  # the article's publication day (ISO), when known
    # Publication days of other versions of this paragraph (near-copies) left out, newest first.
    also: tuple[str, ...] = ()
    # The calendar day (ISO) that a marked weekday names, read from the publication day ("said
    # Wednesday" in an article of Friday 30 July 2021: 2021-07-28); else None.
    answer_day: str | None = None

    @classmethod
    def of(cls, n: int, passage: Passage, start: int, end: int, score: float, **more) -> Citation:
        """Citation n of a stored paragraph, its text [start, end) cited; more: the other
        fields (answer_start, answer_end, also)."""
        return cls(
            n=n,
            article_title=passage.article_title,
            source=passage.source,
            paragraph_index=passage.index,
            paragraph_id=passage.id,
            heading=passage.heading,
            paragraph_text=passage.text,
            sentence_start=start,
            sentence_end=end,
            score=score,
            published=passage.published,
            **more,
        )

    @property
    def sentence(self) -> str:
        """The cited text itself."""
        return self.paragraph_text[self.sentence_start : self.sentence_end]

    @property
    def answer_phrase(self) -> str | None:
        """The marked answer phrase, or None."""
        if self.answer_start is None or self.answer_end is None:
            return None
        return self.paragraph_text[self.answer_start : self.answer_end]

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output."""
        return asdict(self) | {"sentence": self.sentence, "answer_phrase": self.answer_phrase}

    @classmethod
    def from_dict(cls, data: Mapping) -> Citation:
        """A citation from its to_dict() data (the derived sentence and answer_phrase are left
        out)."""
        names = {f.name for f in fields(cls)}
        return cls(
            **{k: v for k, v in data.items() if k in names}
            | {"also": tuple(data.get("also") or ())}
        )


@dataclass(frozen=True)
class Answer:
    """An answer and its citations; when abstaining, the citations are the closest passages."""

    question: str
    text: str
    abstained: bool
    citations: tuple[Citation, ...]
    confidence: float  # the answerability probability (0..1) the decision was made on
    mode: str = "extractive"  # or "llm": written by a language model, then verified
    sentences: tuple[Verdict, ...] = ()  # LLM mode: the check of each sentence, in text order
    supported: float | None = None  # LLM mode: share of sentences the sources support
    note: str | None = None  # why the answer is not what was asked for (the LLM failed, …)
    asked: str | None = None  # the question as retrieval saw it, when a follow-up was resolved

    def support_counts(self) -> tuple[int, int]:
        """LLM mode: (sentences the sources support, sentences that state something)."""
        claims = [s for s in self.sentences if s.status != Status.NO_CLAIM]
        return sum(s.status != Status.UNSUPPORTED for s in claims), len(claims)

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output."""
        return {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "confidence": round(self.confidence, 4),
            "citations": [c.to_dict() for c in self.citations],
            "mode": self.mode,
            "sentences": [s.to_dict() for s in self.sentences],
            "supported": None if self.supported is None else round(self.supported, 4),
            "note": self.note,
            "asked": self.asked,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Answer:
        """An Answer from its to_dict() data (a chat transcript's, or a line of `rag ask --json`);
        KeyError without a question or answer text, ValueError or TypeError for other malformed
        data."""
        supported = data.get("supported")
        return cls(
            data["question"],
            data["answer"],
            bool(data.get("abstained")),
            tuple(Citation.from_dict(c) for c in data.get("citations", ())),
            float(data.get("confidence", 0.0)),
            mode=str(data.get("mode") or "extractive"),
            sentences=tuple(
                Verdict.from_dict(s) for s in data.get("sentences") or () if isinstance(s, Mapping)
            ),
            supported=None if supported is None else float(supported),
            note=data.get("note") or None,
            asked=data.get("asked") or None,
        )


@dataclass(frozen=True)
class _Candidate:
    hit_rank: int
    sentence: int
    score: float
    phrase: Entity | None  # the best thing of the asked-for kind in the sentence
    row: int  # where its row of sentence features is


def extract(
    question: str,
    hits: Sequence[Hit],
    score: float,
    threshold: float,
    *,
    asked: str | None = None,
    mark: Callable[[np.ndarray], bool] = sentences.marks,
) -> Answer:
    """Build the cited extractive answer, or abstain when the score is below threshold. asked:
    the question as retrieval saw it (a follow-up resolved), which the answer is drawn from;
    mark: whether the phrase with a row of sentences.PHRASE_FEATURES is marked as the answer."""
    if not hits or score < threshold:
        return abstain(question, hits, score, asked=asked)
    found, rows, values = sentences.scored(asked or question, hits)
    if not found:
        return abstain(question, hits, score, asked=asked)
    chooser = sentences.model()
    candidates = [
        _Candidate(rank, i, float(value), phrase, row)
        for row, ((rank, i, phrase), value) in enumerate(zip(found, values, strict=True))
    ]
    candidates.sort(key=lambda c: c.score, reverse=True)  # stable: ties keep the reading order
    best = candidates[0].score
    judged = candidates
    if any(hit.prior for hit in hits[: sentences.PARAGRAPHS]):
        # Reports of other days are judged without the recency prior, which ranks them lower
        # than the report nearest the asked-for day: that must not hide a report that differs.
        values = chooser.score(sentences.without_prior(rows, found, hits))
        judged = sorted(
            (
                _Candidate(rank, i, float(value), phrase, row)
                for row, ((rank, i, phrase), value) in enumerate(zip(found, values, strict=True))
            ),
            key=lambda c: c.score,
            reverse=True,
        )
    reports = dated_reports(hits, judged, judged[0].score - chooser.margin)
    if reports:
        return _differing(question, hits, reports, score, asked)
    chosen = [c for c in candidates if c.score >= best - chooser.margin][:MAX_SENTENCES]
    # The answer phrase comes from the best-scoring chosen sentence that holds one of a clear kind;
    # another person does not answer who a named person is ("Who is Ned Price?" is not answered
    # by "Khalilzad"), where their organisation may. It is marked only where the phrase model
    # finds it likely enough to be the answer: a wrong mark misleads more than none.
    about = asks_about_a_name(asked or question, bare=True)
    marked = next(
        (c for c in chosen if _clear(c.phrase) and not (about and c.phrase.type == PERSON)), None
    )
    if marked is not None and not mark(
        sentences.phrase_row(rows[marked.row], marked.score, best, score)
    ):
        marked = None
    # Read in the articles' order: by paragraph rank, then position inside the paragraph.
    chosen.sort(key=lambda c: (c.hit_rank, c.sentence))
    groups: list[tuple[int, list[_Candidate]]] = []
    for c in chosen:
        if groups and groups[-1][0] == c.hit_rank and groups[-1][1][-1].sentence == c.sentence - 1:
            groups[-1][1].append(c)
        else:
            groups.append((c.hit_rank, [c]))
    citations = []
    parts = []
    for n, (rank, run) in enumerate(groups, start=1):
        phrase = marked.phrase if marked in run else None
        citation = cite(n, hits[rank], [c.sentence for c in run], phrase)
        citations.append(citation)
        parts.append(f"{citation.sentence} [{n}]")
    return Answer(question, " ".join(parts), False, tuple(citations), score, asked=asked)


def _clear(phrase: Entity | None) -> bool:
    """Whether a sentence's thing of the asked-for kind is of a kind the tagger knows: a name it
    could not type (NAME) still helps choose the sentence, but is not marked as the answer. On the
    fit halves such marks matched the gold answer exactly for 0.29 of SQuAD v1.1's questions and
    0.35 of the news set's (0.19 and 0.11 of those asking for a place), where typed ones did for
    about half."""
    return phrase is not None and phrase.type != NAME


def dated_reports(
    hits: Sequence[Hit], candidates: Sequence[_Candidate], floor: float
) -> list[_Candidate]:
    """When articles of different dates give different answers of the asked-for kind (a name, a
    number, a date): each date's best sentence among those scoring at least floor (near the
    best), newest first, leaving out a date that repeats a newer one's answer. Else an empty
    list."""
    by_day: dict[str, _Candidate] = {}
    for c in candidates:  # best first, so each day keeps its best sentence
        published = hits[c.hit_rank].passage.published
        if c.phrase is not None and published and c.score >= floor:
            by_day.setdefault(published[:10], c)
    reports, said = [], set()
    for day in sorted(by_day, reverse=True):
        c = by_day[day]
        text = hits[c.hit_rank].passage.text[c.phrase.start : c.phrase.end]
        key = " ".join(content_words(text)) or text.lower()
        if key not in said:
            said.add(key)
            reports.append(c)
    return reports[:MAX_SENTENCES] if len(reports) >= 2 else []


def _differing(
    question: str,
    hits: Sequence[Hit],
    reports: Sequence[_Candidate],
    score: float,
    asked: str | None,
) -> Answer:
    """The answer that gives each dated report, newest first, each with its date and citation."""
    citations, parts = [], ["The articles differ by date."]
    for n, c in enumerate(reports, start=1):
        citation = cite(n, hits[c.hit_rank], [c.sentence], c.phrase)
        citations.append(citation)
        parts.append(f"On {format_day(citation.published)}: {citation.sentence} [{n}]")
    return Answer(question, " ".join(parts), False, tuple(citations), score, asked=asked)


def abstain(
    question: str,
    hits: Sequence[Hit],
    score: float,
    *,
    asked: str | None = None,
    mode: str = "extractive",
    note: str | None = None,
) -> Answer:
    """The refusal: say the articles do not hold the answer, citing the closest passages (asked,
    mode, note: as in Answer), and say so when the closest lies far from the day asked about."""
    nearest = tuple(
        cite(n, hit, [max(range(len(hit.passage.sentences)), key=lambda i: hit.sentence_scores[i])])
        for n, hit in enumerate(hits[:3], start=1)
        if hit.passage.sentences
    )
    notes = [text for text in (note, other_days(hits)) if text]
    return Answer(
        question,
        ABSTAIN_TEXT,
        True,
        nearest,
        score,
        mode=mode,
        note=" ".join(notes) or None,
        asked=asked,
    )


def other_days(hits: Sequence[Hit]) -> str | None:
    """Why a refusal may be about the day: in a library that reaches the day asked about, the
    best paragraph is another day's, ranked below the articles nearer that day (the recency prior
    took from its score), so a question about an earlier story should name its time. None
    otherwise."""
    best = max(hits, key=lambda hit: hit.score, default=None)
    published = parse_date(best.passage.published) if best is not None else None
    if best is None or best.prior <= 0 or published is None or not reaches_the_moment(hits):
        return None
    day = dt.date.fromisoformat(published)
    return (
        f"Nothing near the day asked about answers this; the closest passage is of "
        f'{format_day(best.passage.published)}. To ask about an earlier story, name its time ("in '
        f'{calendar.month_name[day.month]} {day.year}") or ask as of its day.'
    )


def cite(n: int, hit: Hit, sentences: Sequence[int], phrase: Entity | None = None) -> Citation:
    """Citation n: the hit's paragraph, with the given run of its sentences as the cited text
    and, when given, the answer phrase inside it."""
    spans = hit.passage.sentences
    return Citation.of(
        n,
        hit.passage,
        spans[sentences[0]].start,
        spans[sentences[-1]].end,
        round(hit.score, 4),
        answer_start=None if phrase is None else phrase.start,
        answer_end=None if phrase is None else phrase.end,
        also=hit.also,
        answer_day=None
        if phrase is None or phrase.type != DATE
        else day_named(hit.passage.text, phrase.start, phrase.end, hit.passage.published),
    )
