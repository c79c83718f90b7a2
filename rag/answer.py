"""Extractive answers: the sentences of the retrieved paragraphs that best answer the question,
each followed by a citation [n] to the paragraph it came from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from rag.retrieve import Hit, content_words

ABSTAIN_TEXT = "I couldn't find this in the indexed articles."
MAX_SENTENCES = 3
# A sentence joins the answer only if it scores close to the best one.
SENTENCE_MARGIN = 0.08
KEYWORD_WEIGHT = 0.25
# The verdicts on a sentence of an LLM answer (rag.verify).
SUPPORTED = "supported"  # a cited paragraph supports it
RECITED = "recited"  # another retrieved paragraph supports it; the citation was changed
UNSUPPORTED = "unsupported"  # no retrieved paragraph supports it
NO_CLAIM = "no_claim"  # nothing to check ("Here is what I found:")


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

    @property
    def sentence(self) -> str:
        """The cited text itself."""
        return self.paragraph_text[self.sentence_start : self.sentence_end]

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output."""
        return asdict(self) | {"sentence": self.sentence}


@dataclass(frozen=True)
class Answer:
    """An answer and its citations; when abstaining, the citations are the closest passages."""

    question: str
    text: str
    abstained: bool
    citations: tuple[Citation, ...]
    confidence: float  # the score the abstention decision was made on
    mode: str = "extractive"  # or "llm": written by a language model, then verified
    # LLM mode: the check of each sentence (rag.verify.Verdict.to_dict() data).
    sentences: tuple[dict, ...] = ()
    supported: float | None = None  # LLM mode: share of sentences the sources support
    note: str | None = None  # why the answer is not what was asked for (the LLM failed, …)
    asked: str | None = None  # the question as retrieval saw it, when a follow-up was resolved

    def support_counts(self) -> tuple[int, int]:
        """LLM mode: (sentences the sources support, sentences that state something)."""
        claims = [s for s in self.sentences if s.get("status") != NO_CLAIM]
        return sum(s.get("status") != UNSUPPORTED for s in claims), len(claims)

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output."""
        return {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "confidence": round(self.confidence, 4),
            "citations": [c.to_dict() for c in self.citations],
            "mode": self.mode,
            "sentences": list(self.sentences),
            "supported": None if self.supported is None else round(self.supported, 4),
            "note": self.note,
            "asked": self.asked,
        }


@dataclass(frozen=True)
class _Candidate:
    hit_rank: int
    sentence: int
    score: float


def confidence(hits: Sequence[Hit]) -> float:
    """The abstention score: how well the best sentence of the best paragraphs matches (cosine)."""
    return max((hit.best_sentence for hit in hits[:3]), default=0.0)


def _keyword_overlap(question_words: set[str], text: str) -> float:
    if not question_words:
        return 0.0
    return len(question_words & set(content_words(text))) / len(question_words)


def extract(question: str, hits: Sequence[Hit], score: float, threshold: float) -> Answer:
    """Build the cited extractive answer, or abstain when the score is below threshold."""
    if not hits or score < threshold:
        return abstain(question, hits, score)
    words = set(content_words(question))
    candidates = []
    for rank, hit in enumerate(hits[:3]):
        for i, span in enumerate(hit.passage.sentences):
            text = hit.passage.text[span.start : span.end]
            similarity = hit.sentence_scores[i] if i < len(hit.sentence_scores) else hit.dense
            value = similarity + KEYWORD_WEIGHT * _keyword_overlap(words, text) - 0.02 * rank
            candidates.append(_Candidate(rank, i, value))
    candidates.sort(key=lambda c: c.score, reverse=True)
    best = candidates[0].score
    chosen = [c for c in candidates if c.score >= best - SENTENCE_MARGIN][:MAX_SENTENCES]
    # Read in the articles' order: by paragraph rank, then position inside the paragraph.
    chosen.sort(key=lambda c: (c.hit_rank, c.sentence))
    groups: list[tuple[int, list[int]]] = []
    for c in chosen:
        if groups and groups[-1][0] == c.hit_rank and groups[-1][1][-1] == c.sentence - 1:
            groups[-1][1].append(c.sentence)
        else:
            groups.append((c.hit_rank, [c.sentence]))
    citations = []
    parts = []
    for n, (rank, sentences) in enumerate(groups, start=1):
        citation = cite(n, hits[rank], sentences)
        citations.append(citation)
        parts.append(f"{citation.sentence} [{n}]")
    return Answer(question, " ".join(parts), False, tuple(citations), score)


def abstain(question: str, hits: Sequence[Hit], score: float) -> Answer:
    """The refusal: say the articles do not hold the answer, citing the closest passages."""
    nearest = tuple(
        cite(n, hit, [max(range(len(hit.passage.sentences)), key=lambda i: hit.sentence_scores[i])])
        for n, hit in enumerate(hits[:3], start=1)
        if hit.passage.sentences
    )
    return Answer(question, ABSTAIN_TEXT, True, nearest, score)


def cite(n: int, hit: Hit, sentences: Sequence[int]) -> Citation:
    """Citation n: the hit's paragraph, with the given run of its sentences as the cited text."""
    passage = hit.passage
    spans = passage.sentences
    return Citation(
        n=n,
        article_title=passage.article_title,
        source=passage.source,
        paragraph_index=passage.index,
        paragraph_id=passage.id,
        heading=passage.heading,
        paragraph_text=passage.text,
        sentence_start=spans[sentences[0]].start,
        sentence_end=spans[sentences[-1]].end,
        score=round(hit.score, 4),
    )
