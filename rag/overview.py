"""Questions about the library itself ("What is this article about?", "Summarize the articles"):
answered from each article's opening. Search finds no paragraph that says what an article is
about, so such a question would otherwise be refused."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from rag.answer import ABSTAIN_TEXT, Answer, Citation
from rag.retrieve.recency import When
from rag.store import ArticleInfo, Index
from rag.store.reader import day_ordinal

_WRITING = r"(?:article|story|stories|piece|text|document|report|post|news|page)s?"
_THAT = r"(?:this|that|the|these|those|my|our)"
# The whole question must be one of these, so that "What is the article about Doha about?" or
# "Summarize what Neumann said" are searched as usual.
_OVERVIEW = re.compile(
    rf"""^\s*(?:
        (?:so\s+)?what(?:'s|’s|\s+is|\s+are|\s+was|\s+were)\s+(?:it|they|this|that|{_THAT}\s+{_WRITING})
            \s+(?:all\s+)?(?:about|saying)
      | what\s+(?:does|do|did)\s+(?:it|they|{_THAT}\s+{_WRITING})\s+(?:say|cover|discuss)
      | (?:please\s+)?(?:summari[sz]e|sum\s+up|recap)(?:\s+(?:it|them|{_THAT}(?:\s+{_WRITING})?))?
            (?:\s+for\s+me)?(?:\s+please)?
      | (?:(?:can|could)\s+you\s+)?(?:give|show)\s+(?:me\s+)?(?:a\s+|an\s+)?
            (?:short\s+|brief\s+|quick\s+)?(?:summary|overview)
            (?:\s+of\s+(?:it|them|{_THAT}(?:\s+{_WRITING})?))?(?:\s+please)?
      | (?:a\s+|an\s+)?(?:short\s+|brief\s+|quick\s+)?(?:summary|overview)
            (?:\s+of\s+(?:it|them|{_THAT}(?:\s+{_WRITING})?))?(?:\s+please)?
      | what\s+are\s+(?:the\s+)?(?:main|key)\s+(?:points|takeaways|ideas|facts)
            (?:\s+of\s+(?:it|them|{_THAT}(?:\s+{_WRITING})?))?
      | tl;?dr
    )\s*[?.!]*\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
# Sentences of an article's opening shown, at most.
OPENING_SENTENCES = 2
_NAMES_WRITING = re.compile(rf"\b{_WRITING}\b", re.IGNORECASE)


def asks_overview(question: str, *, after_turns: bool = False) -> bool:
    """Whether the question asks what the articles are about, as a whole. after_turns: asked
    after earlier turns of a conversation, where "it" may be what they were about, so the
    question must name the articles ("Summarize the article", not "Summarize it").

    >>> asks_overview("What is this article about?"), asks_overview("What is Doha about?")
    (True, False)
    """
    if _OVERVIEW.match(question) is None:
        return False
    return not after_turns or _NAMES_WRITING.search(question) is not None


def overview(question: str, index: Index, limit: int, when: When | None = None) -> Answer:
    """The opening sentences of each article (the newest `limit` of them, by publication day and
    then by when they were added), each cited; the refusal for an empty library or window.
    when: only articles published in its window, where it has one."""
    visible = _in_window(index.articles(), when)
    openings = [(a, p) for a in _newest(visible, limit) if (p := index.opening(a.id)) is not None]
    if not openings:
        return Answer(question, ABSTAIN_TEXT, True, (), 0.0)
    citations, parts = [], []
    for n, (article, passage) in enumerate(openings, start=1):
        spans = passage.sentences[:OPENING_SENTENCES]
        start = spans[0].start if spans else 0
        end = spans[-1].end if spans else len(passage.text)
        citations.append(Citation.of(n, passage, start, end, 0.0))  # score 0: not searched for
        opening = passage.text[start:end]
        parts.append(f"{article.title}: {opening} [{n}]")
    note = (
        f"The openings of the {len(openings)} newest of {len(visible)} articles; ask about a "
        "subject to search them all."
        if len(visible) > len(openings)
        else None
    )
    return Answer(question, "\n".join(parts), False, tuple(citations), 1.0, note=note)


def _in_window(articles: Sequence[ArticleInfo], when: When | None) -> list[ArticleInfo]:
    """The articles a question asked at `when` may use (all of them when it filters none)."""
    if when is None or not when.filters:
        return list(articles)
    keep = when.allowed(np.array([day_ordinal(a.published) for a in articles], dtype=float))
    return [a for a, kept in zip(articles, keep, strict=True) if kept]


def _newest(articles: Sequence[ArticleInfo], limit: int) -> list[ArticleInfo]:
    """The newest `limit` articles, newest first: by publication day (undated ones last), then
    by when they were added."""
    ordered = sorted(articles, key=lambda a: (a.published or "", a.added_at), reverse=True)
    return ordered[:limit]
