"""The learned ranker and answerability model: deterministic features, checked model files, and
the judgement a person notices first (plain questions answered, others refused)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from rag.errors import ConfigError
from rag.retrieve import Hit, candidates, ranker
from rag.retrieve.answerable import (
    FEATURES,
    NAMED_FLOOR,
    answerability,
    answerability_features,
    model,
    model_versions,
    names_in_a_sentence,
)
from rag.retrieve.features import NAMES, QueryTerms
from rag.retrieve.model import ANSWERABILITY, MODELS, RANKER, LinearModel
from rag.store import Index, Passage
from rag.text import Span


def test_question_names_are_its_capitalised_words_and_numbers_not_its_first_word():
    query = QueryTerms.of("Who is Bill Roggio?")
    assert query.names == ("bill", "roggio")
    assert QueryTerms.of("What did Neumann say in 2021?").names == ("neumann", "2021")
    assert QueryTerms.of("what happened in the talks?").names == ()


def test_features_are_the_same_numbers_on_every_run(seed_pipeline):
    question = "What did Roggio say about the talks with the Taliban?"
    vector = seed_pipeline.embedder.encode_queries([question])[0]
    index = seed_pipeline.index
    first_ids, first = candidates(index, question, vector)
    again_ids, again = candidates(index, question, vector)
    assert first_ids == again_ids
    assert first.shape == (len(first_ids), len(NAMES))
    np.testing.assert_array_equal(first, again)
    hits = seed_pipeline.search(question, k=5)
    np.testing.assert_array_equal(
        answerability_features(question, hits), answerability_features(question, hits)
    )


def test_coverage_and_names_read_the_paragraph_that_holds_every_word(seed_pipeline):
    question = "Who is Bill Roggio?"
    vector = seed_pipeline.embedder.encode_queries([question])[0]
    ids, rows = candidates(seed_pipeline.index, question, vector)
    passages = seed_pipeline.index.passages(ids)
    named = [i for i, pid in enumerate(ids) if "Bill Roggio" in passages[pid].text]
    assert named, "the paragraph naming Bill Roggio is a candidate"
    row = rows[named[0]]
    assert row[NAMES.index("names")] == 1.0
    assert row[NAMES.index("coverage")] == pytest.approx(1.0)
    others = [i for i, pid in enumerate(ids) if "Roggio" not in passages[pid].text]
    assert all(rows[i][NAMES.index("names")] == 0.0 for i in others)


def test_packaged_models_load_and_their_versions_are_in_the_manifest(seed_index):
    assert ranker().features == NAMES
    assert model().features == FEATURES
    assert 0.0 < model().threshold < 1.0
    versions = model_versions()
    assert versions.startswith("ranker-") and " answerability-" in versions
    assert Index.open(seed_index).manifest.ranker == versions


def test_a_model_file_round_trips_through_its_json(tmp_path):
    packaged = LinearModel.load(MODELS / ANSWERABILITY, FEATURES)
    copy = tmp_path / ANSWERABILITY
    copy.write_text(packaged.to_json(), encoding="utf-8")
    loaded = LinearModel.load(copy, FEATURES)
    row = np.linspace(-1, 1, len(FEATURES), dtype=np.float32)
    assert loaded.probability(row) == pytest.approx(packaged.probability(row), abs=1e-5)
    assert loaded.threshold == pytest.approx(packaged.threshold, abs=1e-4)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: "{not json", "not a valid model file (JSONDecodeError)"),
        (lambda d: d | {"features": d["features"][::-1]}, "fitted on other features"),
        (lambda d: d | {"weights": d["weights"][:-1]}, "malformed numbers"),
        (lambda d: d | {"scale": [0.0] * len(d["scale"])}, "malformed numbers"),
        (lambda d: d | {"threshold": 1.5}, "threshold outside 0..1"),
        (lambda d: {k: v for k, v in d.items() if k != "intercept"}, "(KeyError)"),
    ],
)
def test_a_damaged_model_file_is_one_line_naming_it_and_the_fix(tmp_path, change, message):
    data = json.loads((MODELS / RANKER).read_text(encoding="utf-8"))
    changed = change(data)
    path = tmp_path / RANKER
    path.write_text(changed if isinstance(changed, str) else json.dumps(changed))
    with pytest.raises(ConfigError) as raised:
        LinearModel.load(path, NAMES)
    text = str(raised.value)
    assert message in text and str(path) in text and "python -m rag.fit" in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("question", "named"),
    [
        ("Who is Neumann?", "Neumann"),
        ("Who is Annie Pforzheimer?", "Annie Pforzheimer"),
        ("Who is the US special envoy for Afghanistan?", "Khalilzad"),
        ("Who is Bill Roggio?", "Bill Roggio"),
        ("Who is Ronald Neumann?", "Neumann"),
        ("Who is Zalmay Khalilzad?", "Khalilzad"),
        ("Who's Ned Price?", "Ned Price"),
    ],
)
def test_short_questions_about_the_people_it_names_are_answered(seed_pipeline, question, named):
    answer = seed_pipeline.ask(question)
    assert not answer.abstained, (question, answer.confidence)
    assert named.split()[-1] in answer.citations[0].paragraph_text
    assert answer.confidence >= seed_pipeline.threshold


@pytest.mark.parametrize(
    "question",
    [
        "Who won the 2018 World Cup?",
        "What is the boiling point of water at sea level?",
        "Who painted the Mona Lisa?",
        "How many moons does Jupiter have?",
        "What is the capital of France?",
        "Who is Taylor Swift?",
        "Who is Bill Gates?",  # "Bill" alone is not the name
        "What is the Long War Journal?",  # the article names its publisher, not the journal
    ],
)
def test_questions_the_article_cannot_answer_are_still_refused(seed_pipeline, question):
    answer = seed_pipeline.ask(question)
    assert answer.abstained, (question, answer.confidence)
    assert answer.confidence < seed_pipeline.threshold
    assert 0.0 <= answer.confidence <= 1.0


@pytest.mark.parametrize(
    ("question", "found"),
    [
        ("Who is Bill Roggio?", True),
        ("who's Ned Price?", True),
        ("What is the Bank of America?", True),
        ("Who is Bill Gates?", False),  # no sentence names both words
        ("What did Roggio say?", False),  # asks more than who he is
        ("What was Ban Ki-Moon the Secretary General of?", False),
        ("Where is Doha?", False),  # a place is asked for: the answer type decides
        ("Who is the president?", False),  # no name
    ],
)
def test_a_question_about_a_name_alone_is_answerable_when_a_sentence_holds_the_name(
    question, found
):
    text = (
        "Bill Roggio of the Long War Journal spoke. Ned Price spoke. The Bank of America paid. "
        "Ban Ki-Moon was Secretary General. Doha hosts the talks. The president said no."
    )
    spans = [m.span() for m in re.finditer(r" ?([^.]+\.)", text)]
    passage = Passage(
        1, 1, "Notes", "notes.txt", 0, None, text, tuple(Span(*s) for s in spans), (1,)
    )
    hit = Hit(passage, 1.0, 0.1, tuple(0.1 for _ in spans), (0.0,) * len(NAMES))
    assert names_in_a_sentence(question, [hit]) is found
    if found:  # the model alone would refuse these cosines; the rule lifts them to the floor
        assert answerability(question, [hit]) == NAMED_FLOOR
