"""Follow-up questions: resolve "What did he say about sanctions?" from the conversation so far.

Extractive mode carries the previous turn's names and cited paragraphs into retrieval; LLM mode
first asks the model to rewrite the question as a standalone one, and keeps the carried names
when the rewrite drops them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.text import names_and_numbers, proper_nouns

if TYPE_CHECKING:
    from rag.answer import Answer

# Words that point back into the conversation.
_ANAPHORA = re.compile(
    r"\b(he|she|it|they|him|her|his|hers|its|their|theirs|them|this|these|those|"
    r"also|too|else|another)\b",
    re.IGNORECASE,
)
MAX_CARRIED_NAMES = 3
MAX_REWRITE_CHARS = 300


@dataclass(frozen=True)
class Turn:
    """One earlier question and what answered it."""

    question: str  # as asked
    asked: str  # as retrieval saw it (resolved)
    answer: str
    paragraph_ids: tuple[int, ...]  # the paragraphs its answer cited

    @classmethod
    def from_answer(cls, answer: Answer) -> Turn:
        """The turn an answer makes: its question, as asked and as resolved, its text and the
        paragraphs it cited."""
        asked = answer.asked or answer.question
        if answer.abstained:  # nothing was found: no answer or passages to carry forward
            return cls(answer.question, asked, "", ())
        cited = tuple(c.paragraph_id for c in answer.citations)
        return cls(answer.question, asked, answer.text, cited)


def is_follow_up(question: str, history: Sequence[Turn]) -> bool:
    """Whether the question leans on the conversation: a pronoun or "also", or so few words
    that it names nothing of its own ("Why?", "And in 2020?")."""
    if not history:
        return False
    if _ANAPHORA.search(question):
        return True
    return len(re.findall(r"\w+", question)) <= 3 and not any(
        not n[0].isdigit() for n in names_and_numbers(question, set())
    )


def carried_names(history: Sequence[Turn]) -> list[str]:
    """The names the conversation is about: those of the last question that named any, else the
    most frequent ones of the last answer."""
    for turn in reversed(history):
        texts = [turn.asked, turn.answer]
        known = proper_nouns(texts)
        names = [n for n in names_and_numbers(turn.asked, known) if not n[0].isdigit()]
        if names:
            return names[:MAX_CARRIED_NAMES]
        counts = Counter(n for n in names_and_numbers(turn.answer, known) if not n[0].isdigit())
        if counts:
            return [n for n, _ in counts.most_common(MAX_CARRIED_NAMES)]
    return []


def with_names(question: str, names: Sequence[str]) -> str:
    """The question with the carried names it does not already mention appended."""
    lowered = question.lower()
    extra = [n for n in names if n not in lowered]
    if not extra:
        return question
    return f"{question} ({', '.join(n[:1].upper() + n[1:] for n in extra)})"


def clean_rewrite(text: str) -> str | None:
    """The model's rewritten question, or None when it is not a usable single question."""
    text = text.strip().splitlines()[0].strip() if text.strip() else ""
    text = re.sub(r"^(standalone |rewritten )?question\s*:\s*", "", text, flags=re.IGNORECASE)
    text = text.strip().strip('"“”')
    if not text or len(text) > MAX_REWRITE_CHARS:
        return None
    return text
