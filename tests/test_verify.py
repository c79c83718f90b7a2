"""Per-sentence citation checks on answer texts with known verdicts, over the sample article."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.answer import Status
from rag.verify import (
    Verifier,
    clauses,
    negation_differs,
    split_claims,
)

QUESTION = "What did Neumann say about sanctions?"


@pytest.fixture(scope="module")
def hits(seed_pipeline):
    return seed_pipeline.search(QUESTION, k=5)


@pytest.fixture(scope="module")
def verifier(embedder):
    return Verifier(embedder.encode_queries)


def number_of(hits, starts: str) -> int:
    """The citation number [n] of the retrieved paragraph that starts with these words."""
    for n, hit in enumerate(hits, start=1):
        if hit.passage.text.startswith(starts):
            return n
    raise AssertionError(f"no retrieved paragraph starts with {starts!r}")


def only(checked):
    assert len(checked.verdicts) == 1, checked.verdicts
    return checked.verdicts[0]


def test_a_supported_sentence_keeps_its_citation_and_highlights_the_evidence(hits, verifier):
    n = number_of(hits, "Neumann, who is the president")
    checked = verifier.check(
        f"Neumann disagreed with the idea of reimposing sanctions [{n}].", hits
    )
    verdict = only(checked)
    assert verdict.status == Status.SUPPORTED and verdict.cited == (n,)
    assert checked.text == "Neumann disagreed with the idea of reimposing sanctions. [1]"
    (citation,) = checked.citations
    assert citation.paragraph_id == hits[n - 1].passage.id
    assert "disagreed with the idea of reimposing sanctions" in citation.sentence
    assert checked.supported_share == 1.0


def test_a_wrong_citation_is_moved_to_the_paragraph_that_supports_the_sentence(hits, verifier):
    right = number_of(hits, "Neumann, who is the president")
    wrong = number_of(hits, "Neumann told CNN the talks should continue")
    checked = verifier.check(f"Neumann disagreed with reimposing sanctions [{wrong}].", hits)
    verdict = only(checked)
    assert verdict.status == Status.RECITED and verdict.cited == (wrong,)
    assert checked.citations[0].paragraph_id == hits[right - 1].passage.id


def test_a_sentence_no_paragraph_supports_is_marked_and_cites_nothing(hits, verifier):
    checked = verifier.check("The sky over Kabul is green and cows can fly [1].", hits)
    verdict = only(checked)
    assert verdict.status == Status.UNSUPPORTED and verdict.citation is None
    assert checked.text.endswith("[⚠ unsupported]") and not checked.citations
    assert checked.supported_share == 0.0


@pytest.mark.parametrize("number", [0, 6, 99])
def test_citations_outside_one_to_k_are_dropped_never_wrapped(hits, verifier, number):
    # [0] must not become the last passage (Python's hits[-1]), nor [k+1] the first.
    sentence = "The Taliban are simply using diplomacy to deceive the United States"
    verdict = only(verifier.check(f"{sentence} [{number}].", hits))
    assert verdict.dropped == (number,) and verdict.cited == ()
    # That sentence is in none of the five retrieved paragraphs.
    assert all(sentence not in hit.passage.text for hit in hits)
    assert verdict.status == Status.UNSUPPORTED


def test_out_of_range_citation_is_replaced_by_a_supporting_paragraph(hits, verifier):
    checked = verifier.check(
        "The Security Council granted temporary exemptions from sanctions to Taliban "
        f"negotiators [{len(hits) + 1}].",
        hits,
    )
    verdict = only(checked)
    assert verdict.dropped == (len(hits) + 1,) and verdict.status == Status.RECITED
    assert "temporary exemptions" in checked.citations[0].sentence


def test_a_number_that_differs_from_the_evidence_makes_the_sentence_unsupported(hits, verifier):
    n = number_of(hits, "Neumann, who is the president")
    right = verifier.check(f"Neumann disagreed with reimposing sanctions [{n}].", hits)
    wrong = verifier.check(f"In 2019 Neumann disagreed with reimposing 40 sanctions [{n}].", hits)
    assert only(right).status == Status.SUPPORTED
    verdict = only(wrong)
    assert verdict.status == Status.UNSUPPORTED and set(verdict.missing) == {"2019", "40"}


def test_a_name_missing_from_the_evidence_makes_the_sentence_unsupported(hits, verifier):
    n = number_of(hits, "Neumann, who is the president")
    verdict = only(
        verifier.check(f"Neumann disagreed with reimposing sanctions on Iran [{n}].", hits)
    )
    assert verdict.status == Status.UNSUPPORTED and verdict.missing == ("iran",)


def test_a_quotation_must_be_in_the_evidence_word_for_word(hits, verifier):
    n = number_of(hits, "Neumann, who is the president")
    true = verifier.check(
        f'Neumann said that "the way to put pressure on negotiations is to keep air '
        f'strikes" [{n}].',
        hits,
    )
    assert only(true).status == Status.SUPPORTED
    # Words from two paragraphs' quotes blended into one quotation: no paragraph says that.
    blended = verifier.check(
        f"Neumann said that “the way to put pressure on negotiations is to list more under the "
        f"sanctions” [{n}].",
        hits,
    )
    verdict = only(blended)
    assert verdict.status == Status.UNSUPPORTED
    assert verdict.missing == (
        "“the way to put pressure on negotiations is to list more under the sanctions”",
    )


def test_a_sentence_that_negates_its_evidence_is_unsupported(seed_pipeline, verifier):
    hits = seed_pipeline.search("Will the Biden administration set a red line on the talks?", k=5)
    n = number_of(hits, "The Biden administration will not set a red line")
    claim = "The Biden administration will {}set a red line on what it would take to stop the talks"
    true = only(verifier.check(f"{claim.format('not ')} [{n}].", hits))
    assert true.status == Status.SUPPORTED and true.missing == ()
    flipped = only(verifier.check(f"{claim.format('')} [{n}].", hits))
    assert flipped.status == Status.UNSUPPORTED and flipped.missing == ("negation",)


def test_a_negation_added_to_a_supported_sentence_makes_it_unsupported(hits, verifier):
    n = number_of(hits, "Neumann, who is the president")
    for claim, status in [
        ("Neumann disagreed with reimposing sanctions", Status.SUPPORTED),
        ("Neumann never disagreed with reimposing sanctions", Status.UNSUPPORTED),
        ("Neumann didn't disagree with reimposing sanctions", Status.UNSUPPORTED),
    ]:
        verdict = only(verifier.check(f"{claim} [{n}].", hits))
        assert verdict.status == status, claim
        assert ("negation" in verdict.missing) == (status == Status.UNSUPPORTED), claim


def test_a_negation_in_another_clause_of_the_evidence_does_not_count(seed_pipeline, verifier):
    # The evidence goes on: "but spokesman Ned Price said this week: “We are not ready to throw in
    # the towel on diplomacy”" — that "not" is about the towel, not about the acknowledgement.
    hits = seed_pipeline.search("What has the State Department acknowledged about the talks?", k=5)
    n = number_of(hits, "The State Department has acknowledged")
    claim = "The State Department has acknowledged that the talks have yet to achieve the outcome"
    assert only(verifier.check(f"{claim} [{n}].", hits)).status == Status.SUPPORTED


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        ("Talks did not resume, but Neumann stayed.", [{"resum"}, set()]),
        ("The envoy didn't meet the Taliban in Doha", [{"meet", "taliban"}]),
        ("No tangible result came of it", [{"tangibl", "result"}]),
        ("He cannot operate without funding", [{"oper", "fund"}]),
        ("It is not only a diplomat but a writer", [set(), set()]),
        ("It may or may not be true", [set()]),
        ("whether or not talks resume", [set()]),
    ],
)
def test_each_clause_knows_what_its_negations_govern(text, negated):
    assert [set(c.negated) for c in clauses(text)] == negated


def test_negation_is_compared_clause_with_matching_clause():
    evidence = clauses("The problem did not go away with the defeat, since troops stayed in Kabul.")
    assert not negation_differs(clauses("Troops stayed in Kabul after the defeat"), evidence)
    assert negation_differs(clauses("Troops did not stay in Kabul"), evidence)
    assert negation_differs(clauses("The problem went away with the defeat"), evidence)
    assert not negation_differs(clauses("The problem did not go away"), evidence)


def test_a_repeated_sentence_is_kept_once(hits, verifier):
    n = number_of(hits, "Neumann, who is the president")
    sentence = f"Neumann disagreed with the idea of reimposing sanctions [{n}]. "
    assert len(verifier.check(sentence * 3, hits).verdicts) == 1


def test_an_acronym_matches_the_name_it_abbreviates(hits, verifier):
    n = number_of(hits, "“If the Taliban want to be legitimate")
    checked = verifier.check(
        f"The UN Security Council exempted Taliban negotiators from sanctions [{n}].", hits
    )
    assert only(checked).status == Status.SUPPORTED


def test_each_sentence_is_checked_on_its_own_and_the_share_is_reported(hits, verifier):
    n = number_of(hits, "Neumann, who is the president")
    text = (
        "Here is what I found:\n"
        f"1. Neumann is the president of the American Academy of Diplomacy. [{n}]\n"
        f"2. He said the sanctions were lifted in 1998 [{n}].\n"
        "3. Neumann argued that pressure on negotiations means keeping up air strikes "
        f"[{n}][2]."
    )
    checked = verifier.check(text, hits)
    statuses = [v.status for v in checked.verdicts]
    assert statuses == [Status.NO_CLAIM, Status.SUPPORTED, Status.UNSUPPORTED, Status.SUPPORTED]
    assert checked.verdicts[3].cited == (n, 2)
    assert checked.supported_share == pytest.approx(2 / 3)
    # Both supported sentences come from the same sentence of the same paragraph: one citation.
    assert checked.verdicts[1].citation == checked.verdicts[3].citation == 1
    assert len(checked.citations) == 1 and checked.text.count("[1]") == 2


def test_markers_are_read_in_every_usual_form():
    assert split_claims("A fact [1]. Another. [2] A third [1, 3]. A fourth [2][4]!") == [
        ("A fact.", (1,)),
        ("Another.", (2,)),
        ("A third.", (1, 3)),
        ("A fourth!", (2, 4)),
    ]
    assert split_claims("") == [] and split_claims("[3]") == []


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=400))
def test_any_generated_text_gets_a_verdict_per_sentence(hits, verifier, text):
    checked = verifier.check(text, hits)
    for verdict in checked.verdicts:
        assert verdict.status in set(Status)
        assert all(1 <= n <= len(hits) for n in verdict.cited)
        if verdict.citation is not None:
            assert 1 <= verdict.citation <= len(checked.citations)
    assert 0.0 <= checked.supported_share <= 1.0
