"""The learned ranker and answerability model: deterministic features, checked model files, and
the judgement a person notices first (plain questions answered, others refused)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from rag.answertype import PERSON, Entity
from rag.errors import ConfigError
from rag.retrieve import Hit, candidates, ranker
from rag.retrieve.answerable import (
    FEATURES,
    NAMED_FLOOR,
    answerability,
    answerability_features,
    holder_in_a_sentence,
    model,
    model_versions,
    names_in_a_sentence,
)
from rag.retrieve.features import NAMES, QueryTerms
from rag.retrieve.model import (
    ANSWERABILITY,
    MODELS,
    PHRASES,
    RANKER,
    LinearModel,
    TreeModel,
    read_model,
)
from rag.sentences import PHRASE_FEATURES
from rag.store import Index, Passage
from rag.text import Span, initialisms, spells_out


def test_question_names_are_its_capitalised_words_and_numbers_not_its_first_word():
    query = QueryTerms.of("Who is Bill Roggio?")
    assert query.names == ("bill", "roggio")
    assert QueryTerms.of("What did Neumann say in 2021?").names == ("neumann", "2021")
    assert QueryTerms.of("what happened in the talks?").names == ()


def test_acronyms_and_the_names_they_stand_for_are_read_from_the_question():
    query = QueryTerms.of("What did the UN Security Council do?")
    assert query.acronyms == (("un", "UN"),)
    assert ("sc", ("secur", "council")) in query.spelled
    spelled = QueryTerms.of("Which United Nations body met in New York?")
    assert spelled.acronyms == ()
    # The question word is not part of a name; names the question spells out are.
    assert ("un", ("unit", "nation")) in spelled.spelled
    assert ("ny", ("new", "york")) in spelled.spelled
    assert not any(initials.startswith("w") for initials, _ in spelled.spelled)
    assert QueryTerms.of("WHAT DID THE UN DO?").acronyms == ()  # capitals throughout
    assert QueryTerms.of("Who leads NATO?").acronyms == (("nato", "NATO"),)


@pytest.mark.parametrize(
    ("text", "letters", "spelled"),
    [
        ("The United Nations Security Council has granted exemptions.", "UN", True),
        ("Bill Roggio of the Foundation for the Defense of Democracies said.", "FDD", True),
        ("She is now at the Center for Strategic and International Studies.", "CSIS", True),
        ("The UN said so.", "UN", False),  # the acronym itself is the word, not its spelling
        ("the united nations", "UN", False),  # a name is capitalised
        ("United States officials and Nations", "UN", False),  # not next to each other
        ("The UN Security Council met.", "US", False),  # an acronym starts no spelled name
        ("the Bank of England and the Bank for International Settlements", "BIS", True),
    ],
)
def test_a_text_spells_out_an_acronym_with_capitalised_words_in_order(text, letters, spelled):
    assert spells_out(text, letters) is spelled
    # The quick search and the verifier's set of every run's initials agree.
    assert (letters.lower() in initialisms(text)) is spelled


def test_an_acronym_counts_as_found_where_the_paragraph_spells_it_out(seed_pipeline):
    """The article writes "United Nations"; asked about "the UN", its paragraph holds every word
    of the question, and the question is answered from it, as it is when asked in full."""
    rows = {}
    for question in (
        "What did the UN Security Council do?",
        "What did the United Nations Security Council do?",
    ):
        vector = seed_pipeline.embedder.encode_queries([question])[0]
        ids, table = candidates(seed_pipeline.index, question, vector)
        passages = seed_pipeline.index.passages(ids)
        at = [i for i, pid in enumerate(ids) if "Security Council" in passages[pid].text]
        rows[question] = table[at[0]]
        answer = seed_pipeline.ask(question)
        assert not answer.abstained, (question, answer.confidence)
        assert "United Nations Security Council" in answer.citations[0].paragraph_text
    for row in rows.values():
        assert row[NAMES.index("coverage")] == pytest.approx(1.0)
        assert row[NAMES.index("sentence_coverage")] == pytest.approx(1.0)
        assert row[NAMES.index("names")] == 1.0


def test_bm25_counts_an_acronym_where_the_paragraph_spells_it_out(seed_pipeline):
    """No paragraph writes "FDD"; the one naming the Foundation for the Defense of Democracies
    gets the keyword score of one occurrence, and the best of them."""
    question = "What does the FDD say about the Taliban?"
    vector = seed_pipeline.embedder.encode_queries([question])[0]
    ids, table = candidates(seed_pipeline.index, question, vector)
    passages = seed_pipeline.index.passages(ids)
    at = [i for i, pid in enumerate(ids) if "Defense of Democracies" in passages[pid].text][0]
    assert table[at][NAMES.index("bm25_share")] == 1.0
    assert table[at][NAMES.index("names")] == 1.0
    assert all(table[i][NAMES.index("bm25_share")] < 1.0 for i in range(len(ids)) if i != at)


def test_a_name_counts_as_found_where_the_paragraph_holds_its_acronym(tmp_path, embedder):
    from rag.config import Config
    from rag.pipeline import Pipeline, index_sources

    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "un.txt").write_text(
        "Mission news\n\nThe UN Security Council voted on Tuesday to extend the mission.\n\n"
        "Diplomats said the vote was close.\n",
        encoding="utf-8",
    )
    config = Config(index_dir=tmp_path / "index")
    index_sources(config, [str(folder)], embedder=embedder)
    pipeline = Pipeline(config, embedder=embedder)
    question = "What did the United Nations Security Council vote on?"
    vector = embedder.encode_queries([question])[0]
    ids, table = candidates(pipeline.index, question, vector)
    passages = pipeline.index.passages(ids)
    at = [i for i, pid in enumerate(ids) if "UN Security" in passages[pid].text][0]
    other = [i for i, pid in enumerate(ids) if "UN Security" not in passages[pid].text][0]
    assert table[at][NAMES.index("names")] == 1.0
    assert table[at][NAMES.index("coverage")] == pytest.approx(1.0)
    assert table[other][NAMES.index("names")] == 0.0


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
    assert " sentences-" in versions and " phrases-" in versions
    assert Index.open(seed_index).manifest.ranker == versions


@pytest.mark.parametrize(
    ("filename", "features"),
    [(ANSWERABILITY, FEATURES), (RANKER, NAMES), (PHRASES, PHRASE_FEATURES)],
)
def test_a_model_file_round_trips_through_its_json(tmp_path, filename, features):
    packaged = read_model(MODELS / filename, features)
    copy = tmp_path / filename
    copy.write_text(packaged.to_json(), encoding="utf-8")
    loaded = read_model(copy, features)
    assert type(loaded) is type(packaged)
    rows = np.random.default_rng(0).normal(size=(50, len(features))).astype(np.float32)
    np.testing.assert_allclose(loaded.score(rows), packaged.score(rows), atol=1e-5)
    if packaged.threshold is not None:
        assert loaded.threshold == pytest.approx(packaged.threshold, abs=1e-4)


# Two trees over two features: x0 <= 0.5 ? 1.0 : (x1 <= 2.0 ? 2.0 : 3.0), and a lone leaf 0.25.
TREES = {
    "name": "answerability",
    "kind": "trees",
    "features": ["a", "b"],
    "threshold": 0.5,
    "trees": [
        {
            "feature": [0, 1],
            "threshold": [0.5, 2.0],
            "left": [-1, -2],
            "right": [1, -3],
            "value": [1.0, 2.0, 3.0],
        },
        {"feature": [], "threshold": [], "left": [], "right": [], "value": [0.25]},
    ],
}


def _walk(trees: list[dict], row) -> float:
    """The plain reading of the trees: follow each from its root to a leaf."""
    total = 0.0
    for tree in trees:
        node = 0 if tree["feature"] else -1
        while node >= 0:
            left = row[tree["feature"][node]] <= tree["threshold"][node]
            node = tree["left"][node] if left else tree["right"][node]
        total += tree["value"][-1 - node]
    return total


def test_trees_score_every_row_as_walking_them_does(tmp_path):
    path = tmp_path / "trees.json"
    path.write_text(json.dumps(TREES), encoding="utf-8")
    model = read_model(path, ("a", "b"))
    assert isinstance(model, TreeModel)
    rows = np.array([[0.0, 9.0], [0.5, 9.0], [0.6, 2.0], [0.6, 2.1], [-5.0, -5.0]])
    np.testing.assert_array_equal(model.score(rows), [1.25, 1.25, 2.25, 3.25, 1.25])
    grid = np.random.default_rng(1).uniform(-1, 3, size=(200, 2))
    np.testing.assert_allclose(model.score(grid), [_walk(TREES["trees"], r) for r in grid])
    assert model.probability(np.array([0.6, 2.1])) == pytest.approx(1 / (1 + np.exp(-3.25)))


def test_the_packaged_trees_score_as_walking_them_does():
    packaged = model()
    data = json.loads((MODELS / ANSWERABILITY).read_text(encoding="utf-8"))
    rows = np.random.default_rng(2).normal(size=(100, len(FEATURES)))
    np.testing.assert_allclose(
        packaged.score(rows), [_walk(data["trees"], r) for r in rows], atol=1e-9
    )


def test_a_better_match_never_makes_a_question_less_answerable():
    """The packaged trees are monotone: raising a measure of the match or the lead (the rest held)
    never lowers the probability, naming more things or a best paragraph further from the moment
    asked about never raises it; only the number of terms may count either way."""
    packaged = model()
    rng = np.random.default_rng(3)
    scale = np.array([0.15, 0.15, 0.15, 0.3, 0.3, 0.3, 0.35, 0.4, 0.6, 2.0, 1.0])
    middle = np.array([0.55, 0.58, 0.5, 0.65, 0.57, 0.67, 0.7, 1.9, 0.66, 1.5, 1.0])
    rows = middle + rng.normal(size=(300, len(FEATURES))) * scale
    for column, name in enumerate(FEATURES):
        if name == "query_terms":
            continue
        raised = rows.copy()
        raised[:, column] += np.abs(rng.normal(size=len(rows))) * scale[column]
        change = packaged.score(raised) - packaged.score(rows)
        if name in ("query_names", "top_prior"):
            assert (change <= 1e-12).all(), name
        else:
            assert (change >= -1e-12).all(), name


def _tree_change(field, value):
    def change(data):
        trees = [dict(t) for t in data["trees"]]
        trees[0] = trees[0] | {field: value}
        return data | {"trees": trees}

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d | {"features": ["b", "a"]}, "fitted on other features"),
        (_tree_change("left", [1, -2]), "malformed trees"),  # a loop back to the root
        # Two splits that lead to each other, apart from the root: nothing reaches them.
        (
            lambda d: (
                d
                | {
                    "trees": [
                        {
                            "feature": [0, 0, 1],
                            "threshold": [0.5, 1.0, 2.0],
                            "left": [-1, 2, 1],
                            "right": [-2, -3, -4],
                            "value": [1.0, 2.0, 3.0, 4.0],
                        }
                    ]
                }
            ),
            "malformed trees",
        ),
        (_tree_change("feature", [0, 7]), "malformed trees"),  # no such feature
        (_tree_change("value", [1.0, float("nan"), 3.0]), "malformed trees"),
        (_tree_change("right", [1]), "malformed trees"),
        (lambda d: d | {"trees": []}, "malformed trees"),
        (lambda d: d | {"threshold": -0.1}, "threshold outside 0..1"),
        (lambda d: {k: v for k, v in d.items() if k != "trees"}, "(KeyError)"),
    ],
)
def test_damaged_trees_are_one_line_naming_the_file_and_the_fix(tmp_path, change, message):
    path = tmp_path / ANSWERABILITY
    path.write_text(json.dumps(change(json.loads(json.dumps(TREES)))), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        read_model(path, ("a", "b"))
    text = str(raised.value)
    assert message in text and str(path) in text and "python -m rag.fit" in text
    assert "\n" not in text


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
        # Who holds a post, asked by the post's words alone.
        ("Who is the State Department spokesman?", "Ned Price"),
        ("Who was the deputy chief of mission at the US embassy in Kabul?", "Pforzheimer"),
        # A dated article asked years later is an archive: its date must not count against it.
        ("What did Ned Price say?", "Price"),
        ("What did Roggio say about the Taliban?", "Roggio"),
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


@pytest.mark.parametrize(
    ("question", "found"),
    [
        ("Who is the State Department spokesman?", True),  # "spokesman Ned Price"
        ("Who was the chief negotiator?", True),  # "Ann Lee, the chief negotiator"
        ("Who is the US envoy to Qatar?", True),  # "the US envoy to Qatar, Sam Reyes"
        ("Who is the Treasury spokesman?", False),  # a word of the post is missing
        ("Who is the defence minister?", False),  # the post, but no one named beside it
        ("Who is the spokesman who resigned?", False),  # no sentence holds all it asks
        ("Who spoke for the State Department?", False),  # not "who is the ..."
        ("Who is Ned Price?", False),  # a name, not a post (names_in_a_sentence's case)
    ],
)
def test_a_question_about_who_holds_a_post_is_answerable_when_a_sentence_names_the_holder(
    question, found
):
    text = (
        "The State Department said so, but spokesman Ned Price disagreed. "
        "Ann Lee, the chief negotiator, left. The US envoy to Qatar, Sam Reyes, stayed. "
        "Reporters asked the defence minister, who said nothing, and Tom Hale."
    )
    spans = [m.span() for m in re.finditer(r" ?([^.]+\.)", text)]
    people = ("Ned Price", "Ann Lee", "Sam Reyes", "Tom Hale")
    entities = tuple(
        Entity(text.index(name), text.index(name) + len(name), PERSON) for name in people
    )
    passage = Passage(
        1, 1, "Notes", "notes.txt", 0, None, text, tuple(Span(*s) for s in spans), (1,), entities
    )
    hit = Hit(passage, 1.0, 0.1, tuple(0.1 for _ in spans), (0.0,) * len(NAMES))
    assert holder_in_a_sentence(question, [hit]) is found
    if found:
        assert answerability(question, [hit]) == NAMED_FLOOR
