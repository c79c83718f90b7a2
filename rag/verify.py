"""Check a generated answer sentence by sentence against the retrieved paragraphs.

Each sentence's citations [n] are read and those outside 1..k dropped. A cited paragraph supports
the sentence when its best-matching sentence is close in meaning (embedding cosine) and shares
the sentence's content words, when every name, number and quotation in the sentence occurs in it,
and when the two do not differ in negation ("talks resumed" is not supported by "talks did not
resume"). A sentence whose citations do not support it is re-cited to the retrieved paragraph that
does, or marked unsupported when none does. The supporting sentence is what the source highlights.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.answer import Citation, Status, Verdict, cite
from rag.retrieve import Hit
from rag.text import (
    bare_word,
    initialisms,
    names_and_numbers,
    numbers,
    proper_nouns,
    split_sentences,
    terms,
)

# A paragraph supports a claim when its best sentence's cosine with the claim reaches COSINE, or
# reaches one of the lower cosines while the paragraph holds that share of the claim's content
# words. Chosen with benchmarks/verifier.py (README "LLM answers").
COSINE = 0.8
WITH_WORDS = ((0.5, 0.5), (0.35, 0.8))  # (cosine, share of content words)
MIN_COSINE = min(cosine for cosine, _ in WITH_WORDS)  # no support below this
UNSUPPORTED_MARK = "⚠"

_MARKER = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")
_QUOTE = re.compile(r"[“\"]([^”\"]{12,})[”\"]")
# A negation governs the words after it up to the end of its clause. "Not only", "not just" and
# "(may) or (may) not" negate nothing.
_NEGATION = re.compile(
    r"\b(?:not|no|never|none|nobody|nothing|neither|nor|without|cannot)\b|n[’']t\b", re.IGNORECASE
)
_NOT_NEGATING = re.compile(
    r"\bnot\s+(?:only|just|merely|simply)\b|\bor\s+(?:\w+\s+)?not\b", re.IGNORECASE
)
_CLAUSE_END = re.compile(
    r"[.,;:!?()—–]|\b(?:but|while|whereas|although|though|however|since|because)\b", re.IGNORECASE
)
NEGATION_REACH = 2  # content words a negation governs at most
NEGATION_DIFFERS = "negation"  # listed in Verdict.missing when claim and evidence differ in it


def unsupported_reason(verdict: Verdict) -> str:
    """Why a sentence is marked unsupported, in words."""
    reason = "No retrieved paragraph supports this sentence."
    missing = list(verdict.missing)
    if NEGATION_DIFFERS in missing:
        reason += " Its cited paragraph says the opposite: one of them is negated."
        missing.remove(NEGATION_DIFFERS)
    if missing:
        reason += f" Its cited paragraph does not contain: {', '.join(missing)}."
    elif not verdict.cited:
        reason += " It cited no retrieved paragraph."
    return reason


@dataclass(frozen=True)
class Checked:
    """A verified answer: its text with final citations, the citations and each verdict."""

    text: str
    citations: tuple[Citation, ...]
    verdicts: tuple[Verdict, ...]

    @property
    def supported_share(self) -> float:
        """The share of claim sentences that a retrieved paragraph supports."""
        claims = [v for v in self.verdicts if v.status != Status.NO_CLAIM]
        if not claims:
            return 0.0
        return sum(v.status in (Status.SUPPORTED, Status.RECITED) for v in claims) / len(claims)


@dataclass(frozen=True)
class _Support:
    ok: bool
    score: float
    cosine: float
    sentence: int
    missing: tuple[str, ...]


def _marked(verdict: Verdict) -> str:
    """A checked sentence as the answer shows it: with its citation, or marked unsupported."""
    if verdict.status == Status.NO_CLAIM:
        return verdict.text
    if verdict.status == Status.UNSUPPORTED:
        return f"{verdict.text} [{UNSUPPORTED_MARK} unsupported]"
    return f"{verdict.text} [{verdict.citation}]"


def split_claims(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """The sentences of a generated answer, each without its markers, with the numbers it cites.

    A marker after the final period ("… talks. [2]") belongs to the sentence before it.
    """
    claims: list[tuple[str, tuple[int, ...]]] = []
    # Lines end sentences too ("Here is what I found:" then a list); list markers are not text.
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+", "", line)
        line = " ".join(line.split())
        # Move a marker that follows the period before it: "talks. [2]" → "talks [2]."
        line = re.sub(r"([.!?])\s*((?:\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]\s*)+)", r" \2\1 ", line)
        for span in split_sentences(line):
            sentence = line[span.start : span.end]
            numbers = tuple(
                int(n) for group in _MARKER.findall(sentence) for n in re.split(r"[,;]", group)
            )
            plain = " ".join(_MARKER.sub(" ", sentence).split())
            plain = re.sub(r"\s+([.,;:!?])", r"\1", plain)
            if plain:
                claims.append((plain, tuple(dict.fromkeys(numbers))))
            elif claims and numbers:  # a lone marker: it belongs to the sentence before
                previous, cited = claims[-1]
                claims[-1] = (previous, tuple(dict.fromkeys(cited + numbers)))
    return claims


def flatten(text: str) -> str:
    """Text reduced for quote matching: lower case, words only ("Re-imposing," → "reimposing")."""
    text = re.sub(r"[-‐‑’'`]", "", text.lower())
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def quotes(claim: str) -> list[str]:
    """What a claim puts in quotation marks (12 characters or more)."""
    return [q.strip() for q in _QUOTE.findall(claim)]


def _evidence_words(evidence: str) -> set[str]:
    """The words of the evidence, lower-cased, with the acronyms of its capitalized runs
    ("United Nations" also gives "un")."""
    return {bare_word(w) for w in re.findall(r"[\w’'-]+", evidence)} | initialisms(evidence)


def _missing(
    needed: Sequence[str], quoted: Sequence[str], words: set[str], numbers: set[str], flat: str
) -> tuple[str, ...]:
    """What the evidence lacks: names, numbers, and quotations it does not hold word for word."""
    lacking = [item for item in needed if item not in (numbers if item[0].isdigit() else words)]
    return tuple(lacking + [f"“{q}”" for q in quoted if flatten(q) not in flat])


@dataclass(frozen=True)
class Clause:
    """A clause's content terms, and those of them a negation in the clause governs."""

    terms: frozenset[str]
    negated: frozenset[str]


def clauses(text: str) -> list[Clause]:
    """The clauses of text (split at punctuation and words like "but" and "since").

    >>> [sorted(c.negated) for c in clauses("Talks did not resume, but Neumann stayed.")]
    [['resum'], []]
    """
    found = []
    for part in _CLAUSE_END.split(_NOT_NEGATING.sub(" ", text)):
        negated: set[str] = set()
        for match in _NEGATION.finditer(part):
            governed = [t for t in terms(part[match.end() :]) if not _NEGATION.fullmatch(t)]
            negated.update(governed[:NEGATION_REACH])
        if words := frozenset(terms(part)):
            found.append(Clause(words, frozenset(negated)))
    return found


def negation_differs(claim: Sequence[Clause], evidence: Sequence[Clause]) -> bool:
    """Whether a clause of the claim negates what the evidence's matching clause states, or the
    other way round.

    Each clause of the claim is compared with the evidence clauses that share the most words
    with it, so a "not" in another clause of the evidence does not count: "the problem did not
    go away with Saddam's defeat, since American troops remained stationed in the kingdom"
    supports "American troops remained stationed after Saddam's defeat".
    """
    for part in claim:
        overlap = [len(part.terms & c.terms) for c in evidence]
        for match, shared in zip(evidence, overlap, strict=True):
            if shared and shared == max(overlap):
                if part.negated & (match.terms - match.negated):
                    return True  # the claim negates what the evidence states
                if match.negated & (part.terms - part.negated):
                    return True  # the evidence negates what the claim states
    return False


@dataclass(frozen=True)
class _Evidence:
    """What each retrieved paragraph offers to check a claim against, by paragraph."""

    sentence_vectors: list[np.ndarray]  # its sentences' vectors
    sentence_clauses: list[list[list[Clause]]]  # its sentences' clauses
    terms: list[set[str]]  # the stemmed terms of its title, heading and text
    numbers: list[set[str]]
    words: list[set[str]]  # see _evidence_words
    flat: list[str]  # flattened for quote matching
    known: set[str]  # the names the paragraphs mention inside sentences


class _Numbering:
    """The answer's citations, numbered in the order its sentences first cite them."""

    def __init__(self, hits: Sequence[Hit]):
        self.hits = hits
        self.citations: list[Citation] = []
        self._numbers: dict[tuple[int, int], int] = {}

    def number(self, rank: int, sentence: int) -> int:
        """The citation number of sentence `sentence` of hit `rank`, cited anew if need be."""
        key = (rank, sentence)
        if key not in self._numbers:
            self._numbers[key] = len(self.citations) + 1
            self.citations.append(cite(self._numbers[key], self.hits[rank], [sentence]))
        return self._numbers[key]


class Verifier:
    """Checks generated answers against the paragraphs they were generated from."""

    def __init__(self, encode):
        # encode: texts -> normalized vectors (the embedder's query encoder)
        self.encode = encode

    def check(self, answer_text: str, hits: Sequence[Hit]) -> Checked:
        """Verify every sentence of answer_text against hits (numbered 1..len(hits))."""
        claims = split_claims(answer_text)
        if not claims:
            return Checked("", (), ())
        claim_vectors, evidence = self._evidence([c for c, _ in claims], hits)
        numbering = _Numbering(hits)
        verdicts = []
        seen: set[str] = set()
        for c, (claim, marks) in enumerate(claims):
            if claim in seen:  # a model that repeats itself: say it once
                continue
            seen.add(claim)
            vector = claim_vectors[c] if claim_vectors is not None else None
            verdicts.append(self._judge(claim, marks, vector, evidence, numbering))
        text = " ".join(_marked(v) for v in verdicts)
        return Checked(text, tuple(numbering.citations), tuple(verdicts))

    def _evidence(
        self, claims: Sequence[str], hits: Sequence[Hit]
    ) -> tuple[np.ndarray | None, _Evidence]:
        """The claims' vectors (None without hits) and the hits' evidence, encoded together."""
        sentence_texts = [
            [h.passage.text[s.start : s.end] for s in h.passage.sentences] or [h.passage.text]
            for h in hits
        ]
        flat = [t for texts in sentence_texts for t in texts]
        vectors = self.encode(list(claims) + flat) if flat else None
        claim_vectors = vectors[: len(claims)] if vectors is not None else None
        sentence_vectors = []
        start = len(claims)
        for texts in sentence_texts:
            sentence_vectors.append(vectors[start : start + len(texts)])
            start += len(texts)
        evidence = [
            " ".join(filter(None, (h.passage.article_title, h.passage.heading, h.passage.text)))
            for h in hits
        ]
        return claim_vectors, _Evidence(
            sentence_vectors=sentence_vectors,
            # Per evidence sentence: its clauses, with what their negations govern.
            sentence_clauses=[[clauses(t) for t in texts] for texts in sentence_texts],
            terms=[set(terms(e)) for e in evidence],
            numbers=[set(numbers(e)) for e in evidence],
            words=[_evidence_words(e) for e in evidence],
            flat=[flatten(e) for e in evidence],
            known=proper_nouns([h.passage.text for h in hits]),
        )

    def _judge(
        self,
        claim: str,
        marks: tuple[int, ...],
        vector: np.ndarray | None,
        evidence: _Evidence,
        numbering: _Numbering,
    ) -> Verdict:
        """The verdict on one claim citing `marks`: supported by a cited paragraph, re-cited to
        another that supports it, unsupported, or no claim at all."""
        k = len(evidence.terms)
        cited = tuple(n for n in marks if 1 <= n <= k)
        dropped = tuple(n for n in marks if not 1 <= n <= k)
        claim_terms = set(terms(claim))
        needed = names_and_numbers(claim, evidence.known)
        # "Here is what I found:" states nothing to check.
        if len(claim_terms) <= 1 and not needed:
            return Verdict(claim, Status.NO_CLAIM, cited, dropped, None, 0.0, ())
        quoted = quotes(claim)
        claim_clauses = clauses(claim)
        supports = [
            self._support(
                vector,
                evidence.sentence_vectors[h],
                evidence.sentence_clauses[h],
                claim_clauses,
                claim_terms,
                evidence.terms[h],
                _missing(needed, quoted, evidence.words[h], evidence.numbers[h], evidence.flat[h]),
            )
            for h in range(k)
        ]
        best_cited = max(
            (n for n in cited if supports[n - 1].ok),
            key=lambda n: supports[n - 1].score,
            default=None,
        )
        if best_cited is not None:
            status, rank = Status.SUPPORTED, best_cited - 1
        else:
            others = [h for h in range(k) if supports[h].ok]
            status, rank = (
                Status.RECITED,
                max(others, key=lambda h: supports[h].score, default=None),
            )
        if rank is None:
            missing = tuple(dict.fromkeys(m for n in cited for m in supports[n - 1].missing))
            best = max((s.cosine for s in supports), default=0.0)
            return Verdict(claim, Status.UNSUPPORTED, cited, dropped, None, best, missing)
        support = supports[rank]
        n = numbering.number(rank, support.sentence)
        return Verdict(claim, status, cited, dropped, n, support.cosine, ())

    @staticmethod
    def _support(
        claim_vector: np.ndarray,
        sentence_vectors: np.ndarray,
        sentence_clauses: Sequence[list[Clause]],
        claim_clauses: list[Clause],
        claim_terms: set[str],
        evidence_terms: set[str],
        missing: tuple[str, ...],
    ) -> _Support:
        cosines = sentence_vectors @ claim_vector
        best = int(np.argmax(cosines))
        cosine = float(cosines[best])
        # The closest sentence saying the opposite refutes the claim, whatever else the paragraph
        # holds: "X was not built in 1900" is not supported by a paragraph that says it was.
        if negation_differs(claim_clauses, sentence_clauses[best]):
            missing = (*missing, NEGATION_DIFFERS)
        overlap = len(claim_terms & evidence_terms) / max(len(claim_terms), 1)
        ok = not missing and (
            cosine >= COSINE or any(cosine >= c and overlap >= share for c, share in WITH_WORDS)
        )
        return _Support(ok, cosine + 0.5 * overlap, cosine, best, missing)
