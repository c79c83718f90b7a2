"""Follow-up questions: which questions lean on the conversation, the names carried into them,
and the model's rewrite read back; each checked against a hand-written case."""

from __future__ import annotations

import pytest

from rag.followup import Turn, carried_names, clean_rewrite, is_follow_up, with_names

NEUMANN = Turn(
    "Who is Neumann?",
    "Who is Neumann?",
    "Laurel Miller and Neumann said the Taliban want full control. Neumann spoke in Doha in 2020.",
    (7, 9),
)
TALIBAN = Turn("What did the Taliban do?", "What did the Taliban do?", "", ())


@pytest.mark.parametrize(
    ("question", "history", "expected"),
    [
        ("What did he say about sanctions?", [NEUMANN], True),  # a pronoun
        ("What did he say?", [], False),  # nothing to lean on
        ("Why?", [NEUMANN], True),  # too short to name anything
        ("And in 2020?", [NEUMANN], True),  # a number is not a name
        ("Who is Zalmay Khalilzad?", [NEUMANN], False),  # names its own subject
        ("Where is Doha?", [NEUMANN], False),
    ],
)
def test_a_follow_up_leans_on_the_conversation(question, history, expected):
    assert is_follow_up(question, history) is expected


def test_the_names_carried_are_the_last_questions_else_the_last_answers():
    assert carried_names([]) == []
    assert carried_names([NEUMANN]) == ["neumann"]
    assert carried_names([NEUMANN, TALIBAN]) == ["taliban"]
    vague = Turn(
        "what now?",
        "what now?",
        "The Taliban met Neumann. Neumann met the Taliban. Then Neumann left.",
        (),
    )
    assert carried_names([vague]) == ["taliban", "neumann"]


def test_carried_names_are_appended_once_and_capitalized():
    assert with_names("What did he say?", ["neumann", "doha"]) == "What did he say? (Neumann, Doha)"
    assert with_names("What did Neumann say?", ["neumann"]) == "What did Neumann say?"
    assert with_names("What did he say?", []) == "What did he say?"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            "Standalone question: What did Neumann say about sanctions?",
            "What did Neumann say about sanctions?",
        ),
        ('"What did Neumann say?"\nExtra line', "What did Neumann say?"),
        ("Rewritten question: “Why?”", "Why?"),
        ("", None),
        ("   ", None),
        ("Question: " + "x" * 400, None),  # longer than a question
    ],
)
def test_the_rewrite_is_one_clean_question_or_none(reply, expected):
    assert clean_rewrite(reply) == expected
