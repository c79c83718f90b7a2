"""Text helpers every stage may use: sentences, words, stemmed terms, names and numbers.

Nothing here knows about articles, indexes or answers; a stage that splits, tokenizes or reads
names out of text uses these, so every stage reads text the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import Stemmer


@dataclass(frozen=True)
class Span:
    """A half-open character range [start, end) inside a paragraph's text."""

    start: int
    end: int


# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before whitespace and
# an opening capital, digit or quote. Lookbehind cannot be variable-width, so abbreviations and
# initials are rejected afterwards in `split_sentences`.
_BOUNDARY = re.compile(r"""[.!?…]+["'”’»)\]]*(?=\s+["'“‘«(\[]?[A-Z0-9À-Ý])""")
_ABBREVIATIONS = frozenset(
    """
mr mrs ms dr prof sr jr st mt ft no vs etc inc ltd co corp gen col lt sgt capt cmdr adm gov sen
rep rev hon pres jan feb mar apr jun jul aug sep sept oct nov dec fig eq approx dept est al e.g
i.e u.s u.k u.n a.m p.m
""".split()
)

STOPWORDS = frozenset(
    """
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most
my myself no nor not now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these they this those
through to too under until up very was we were what when where which while who whom why will with
would you your yours yourself yourselves don
""".split()
)
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_WORD = re.compile(r"\w+", re.UNICODE)
_STEMMER = Stemmer.Stemmer("english")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CAPITALIZED = re.compile(r"\b[A-Z][\w’'-]*")


# A run of two or more capitalised words (not acronyms: "UN Security" spells no "US"), with
# the small words a name may hold between them ("Foundation for the Defense of Democracies").
_LOWER_REST = r"(?:[a-z]|['’][A-Z])[\w’'-]*"
_JOIN = r"\s+(?:(?:of|for|the|and|on|&)\s+)*"
_RUN = re.compile(rf"\b[A-Z]{_LOWER_REST}(?:{_JOIN}[A-Z]{_LOWER_REST})+")
_JOINERS = frozenset({"of", "for", "the", "and", "on", "&"})


def capitalised_runs(text: str) -> list[list[str]]:
    """The words of each run of two or more capitalised words in text, the small words between
    them left out: capitalised_runs("the Bank of England said") == [["Bank", "England"]]."""
    return [[w for w in m.group(0).split() if w not in _JOINERS] for m in _RUN.finditer(text)]


def spelled_names(text: str, longest: int | None = None) -> Iterator[tuple[str, list[str]]]:
    """Every two or more neighbouring words of a capitalised run (at most `longest`), with their
    initials lower-cased: the names an acronym may stand for, in text order ("United Nations
    Security Council" gives ("un", ["United", "Nations"]), ("uns", …), … ("sc", …))."""
    for words in capitalised_runs(text):
        for start in range(len(words) - 1):
            stop = len(words) if longest is None else min(len(words), start + longest)
            for end in range(start + 2, stop + 1):
                yield "".join(w[0] for w in words[start:end]).lower(), words[start:end]


def initialisms(text: str) -> set[str]:
    """The acronyms text spells out, lower-cased: the initials of every two or more neighbouring
    words of a capitalised run ("the United Nations Security Council" gives "un", "unsc", "sc",
    and so on)."""
    return {initials for initials, _ in spelled_names(text)}


def spells_out(text: str, letters: str) -> bool:
    """Whether text spells out an acronym (letters in initialisms(text), found without reading
    every run): spells_out("the United Nations said", "UN")."""
    return _spelling(letters.upper()).search(text) is not None


@lru_cache(maxsize=256)
def _spelling(letters: str) -> re.Pattern[str]:
    """Neighbouring capitalised words whose initials are the letters, in order."""
    words = _JOIN.join(rf"{re.escape(c)}{_LOWER_REST}" for c in letters)
    return re.compile(rf"\b{words}\b")


def split_sentences(text: str) -> tuple[Span, ...]:
    """Split text into sentence spans; whitespace between sentences belongs to neither.

    >>> [text[s.start:s.end] for s in split_sentences(text := "Mr. P. Smith came. He left!")]
    ['Mr. P. Smith came.', 'He left!']
    """
    spans: list[Span] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        word = text[start : match.start() + 1].rsplit(None, 1)[-1].rstrip(".").lower()
        # "P." (an initial) and "Dr." end a token, not a sentence.
        if (len(word) == 1 and word.isalpha()) or word in _ABBREVIATIONS:
            continue
        spans.append(Span(start, end))
        start = end
        while start < len(text) and text[start].isspace():
            start += 1
    if start < len(text.rstrip()):
        spans.append(Span(start, len(text.rstrip())))
    return tuple(span for span in spans if text[span.start : span.end].strip())


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed words of text without stopwords, in order.

    >>> terms("The talks were running in Doha")
    ['talk', 'run', 'doha']
    """
    words = [w for w in _TOKEN.findall(text.lower()) if w not in STOPWORDS]
    return _STEMMER.stemWords(words)


def content_words(text: str) -> list[str]:
    """Lower-cased words of text without stopwords, in order, each once."""
    words = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]
    return list(dict.fromkeys(words))


def bare_word(word: str) -> str:
    """A word lower-cased without its possessive: bare_word("Taliban’s") == "taliban"."""
    word = word.lower()
    for suffix in ("’s", "'s", "’", "'"):
        word = word.removesuffix(suffix)
    return word


def numbers(text: str) -> list[str]:
    """The numbers written in text, without thousands commas: numbers("1,200 and 3.5") ==
    ["1200", "3.5"]."""
    return [n.replace(",", "") for n in _NUMBER.findall(text)]


def proper_nouns(texts: Sequence[str]) -> set[str]:
    """Lower-cased capitalized words that appear inside sentences (not only first) in texts."""
    found = set()
    for text in texts:
        for span in split_sentences(text):
            sentence = text[span.start : span.end]
            for match in _CAPITALIZED.finditer(sentence):
                if match.start() > 0:
                    found.add(bare_word(match.group(0)))
    return found - STOPWORDS


def names_and_numbers(claim: str, known_names: set[str]) -> list[str]:
    """The names and numbers a claim states: capitalized words inside it, known names anywhere."""
    found = numbers(claim)
    for match in _CAPITALIZED.finditer(claim):
        word = bare_word(match.group(0))
        if word in STOPWORDS or len(word) < 2:
            continue
        if match.start() > 0 or word in known_names:
            found.append(word)
    return list(dict.fromkeys(found))


def is_http_url(text: str) -> bool:
    """Whether text is an http(s) address: is_http_url("HTTPS://a.org/x") is True."""
    return text.lower().startswith(("http://", "https://"))


def plural(n: int, noun: str) -> str:
    """A count and its noun: plural(1, "article") == "1 article", plural(2, ...) "2 articles"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
