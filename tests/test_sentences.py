"""The sentence model: which sentences of the retrieved paragraphs an answer cites. Deterministic
features, a checked model file, and the choices a person reads in the chat."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from rag.answer import MAX_SENTENCES
from rag.errors import ConfigError
from rag.fit import MARK_RATE, cited_margin, phrase_regression
from rag.retrieve import retrieve
from rag.retrieve.answerable import model_versions
from rag.retrieve.model import MODELS, PHRASES, SENTENCES, LinearModel, TreeModel, read_model
from rag.sentences import (
    FEATURES,
    KINDS,
    PARAGRAPHS,
    PHRASE_FEATURES,
    REORDER_MATCH,
    REORDER_PRIOR,
    REORDER_WEIGHT,
    candidates,
    model,
    paragraph_matches,
    phrase_model,
    reorder,
    scored,
    without_prior,
)


def test_the_packaged_sentence_model_loads_with_its_margin():
    packaged = model()
    assert isinstance(packaged, TreeModel)
    assert packaged.features == FEATURES
    assert 0.0 < packaged.margin < 10.0
    assert " sentences-" in model_versions()


def test_the_packaged_phrase_model_loads_with_its_threshold():
    packaged = phrase_model()
    assert isinstance(packaged, LinearModel)
    assert packaged.features == PHRASE_FEATURES
    assert 0.0 < packaged.threshold < 1.0
    # A sentence that scores below the best of the question is less likely to hold the answer.
    assert packaged.weights[PHRASE_FEATURES.index("sentence_gap")] > 0


def test_the_phrase_threshold_keeps_the_asked_share_of_right_phrases(tmp_path):
    rng = np.random.default_rng(7)
    tables, labels = [], []
    for size, right_share in ((900, 0.65), (150, 0.7), (800, 0.35)):
        right = rng.random(size) < right_share
        rows = rng.normal(size=(size, len(PHRASE_FEATURES)))
        rows[:, 0] += 1.5 * right  # the sentence score tells right phrases from wrong ones
        tables.append(rows.astype(np.float32))
        labels.append(right.astype(float))
    fitted = phrase_regression(tables, labels)
    assert fitted.features == PHRASE_FEATURES
    assert fitted.weights[0] > 0 and np.abs(fitted.weights[1:]).max() < fitted.weights[0] / 3
    kept = [
        np.mean([fitted.probability(row) >= fitted.threshold for row in t[y == 1]])
        for t, y in zip(tables[:2], labels[:2], strict=True)
    ]
    assert np.mean(kept) >= MARK_RATE - 1e-9
    # The highest such threshold: a little higher keeps fewer than asked.
    higher = [
        np.mean([fitted.probability(row) >= fitted.threshold + 1e-3 for row in t[y == 1]])
        for t, y in zip(tables[:2], labels[:2], strict=True)
    ]
    assert np.mean(higher) < MARK_RATE
    # Wrong phrases are dropped more often than right ones.
    dropped = np.mean(
        [fitted.probability(row) < fitted.threshold for row in tables[2][labels[2] == 0]]
    )
    assert dropped > 1 - MARK_RATE + 0.1
    path = tmp_path / PHRASES
    path.write_text(fitted.to_json(), encoding="utf-8")
    assert read_model(path, PHRASE_FEATURES).threshold == pytest.approx(fitted.threshold, abs=1e-4)


def test_a_sentence_model_round_trips_through_its_json(tmp_path):
    packaged = model()
    copy = tmp_path / SENTENCES
    copy.write_text(packaged.to_json(), encoding="utf-8")
    loaded = read_model(copy, FEATURES)
    assert loaded.margin == pytest.approx(packaged.margin, abs=1e-4)
    rows = np.random.default_rng(0).normal(size=(50, len(FEATURES)))
    np.testing.assert_allclose(loaded.score(rows), packaged.score(rows), atol=1e-9)


@pytest.mark.parametrize("margin", [-0.5, float("nan"), float("inf")])
def test_a_margin_below_zero_or_not_finite_is_one_line_naming_the_file(tmp_path, margin):
    data = json.loads((MODELS / SENTENCES).read_text(encoding="utf-8"))
    path = tmp_path / SENTENCES
    path.write_text(json.dumps(data | {"margin": margin}), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        read_model(path, FEATURES)
    text = str(raised.value)
    assert "margin" in text and str(path) in text and "python -m rag.fit" in text
    assert "\n" not in text


def test_sentence_features_are_the_same_numbers_on_every_run(seed_pipeline):
    question = "When did the Taliban take control of Afghanistan?"
    hits = seed_pipeline.search(question, k=8)
    found, rows = candidates(question, hits)
    again, rows_again = candidates(question, seed_pipeline.search(question, k=8))
    assert found == again
    np.testing.assert_array_equal(rows, rows_again)
    # Every sentence of the best five paragraphs, in reading order, each with a full row.
    best = hits[:PARAGRAPHS]
    expected = [(r, i) for r, hit in enumerate(best) for i in range(len(hit.passage.sentences))]
    assert [(r, i) for r, i, _ in found] == expected
    assert rows.shape == (len(expected), len(FEATURES)) and np.isfinite(rows).all()
    column = {name: i for i, name in enumerate(FEATURES)}
    assert set(rows[:, column["kind"]]) == {KINDS.index("date")}
    assert rows[:, column["cosine_gap"]].max() == 0.0  # the best sentence's gap
    assert (rows[:, column["terms"]] >= 0).all() and (rows[:, column["terms"]] <= 1).all()


def test_no_paragraphs_give_no_candidates():
    found, rows = candidates("Who is Bill Roggio?", [])
    assert found == [] and rows.shape == (0, len(FEATURES))


def test_the_margin_cites_the_asked_number_of_sentences_on_average():
    rng = np.random.default_rng(4)
    scores = [rng.normal(size=rng.integers(1, 30)) for _ in range(400)]
    for cited in (1.2, 1.6, 2.0):
        margin = cited_margin(scores, cited)
        chosen = [min(MAX_SENTENCES, int((s >= s.max() - margin).sum())) for s in scores]
        assert np.mean(chosen) == pytest.approx(cited, abs=0.01)
    assert cited_margin(scores, 1.2) < cited_margin(scores, 1.6) < cited_margin(scores, 2.0)


@pytest.mark.parametrize(
    ("question", "words"),
    [
        ("Who is Bill Roggio?", ["Roggio"]),
        ("When did the Taliban take control of Afghanistan?", ["Taliban"]),
        ("Who is the US special representative for reconciliation in Afghanistan?", ["Khalilzad"]),
    ],
)
def test_the_sample_article_cites_the_sentence_that_answers(seed_pipeline, question, words):
    answer = seed_pipeline.ask(question)
    assert not answer.abstained
    assert 1 <= sum(len(c.sentence) > 0 for c in answer.citations) <= MAX_SENTENCES
    cited = " ".join(c.sentence for c in answer.citations)
    assert all(word in cited for word in words), cited


def test_without_the_prior_a_report_it_ranked_lower_is_ranked_by_its_own_score(seed_pipeline):
    question = "What did Neumann say about sanctions?"
    hits = seed_pipeline.search(question, k=5)[:3]
    found, rows = candidates(question, hits)
    np.testing.assert_array_equal(without_prior(rows, found, hits), rows)  # no prior: as ranked
    # The prior took 10 off the best paragraph: given back, it is first again.
    scores = [hits[0].score - 10.0, *(h.score for h in hits[1:])]
    priors = [10.0] + [0.0] * (len(hits) - 1)
    lowered = [replace(h, score=s, prior=p) for h, s, p in zip(hits, scores, priors, strict=True)]
    reordered = sorted(lowered, key=lambda h: h.score, reverse=True)
    found, rows = candidates(question, reordered)
    moved = without_prior(rows, found, reordered)
    column = {name: i for i, name in enumerate(FEATURES)}
    first = [j for j, (rank, _, _) in enumerate(found) if reordered[rank] is lowered[0]]
    assert set(moved[first, column["rank"]]) == {0.0}
    assert set(moved[first, column["paragraph_gap"]]) == {0.0}
    np.testing.assert_allclose(moved[first, column["paragraph_score"]], hits[0].score, rtol=1e-6)
    assert (moved[:, column["paragraph_gap"]] <= 0).all()
    # Scores below zero (the ranker's scale has no floor): the best is still the one of no gap.
    sunk = [replace(h, score=h.score - 100.0) for h in reordered]
    gaps = without_prior(rows, found, sunk)[:, column["paragraph_gap"]]
    assert gaps.max() == 0.0 and set(gaps[first]) == {0.0}


@pytest.mark.parametrize(
    ("loader", "field", "filename", "part"),
    [
        ("model", "margin", SENTENCES, "sentences"),
        ("phrase_model", "threshold", PHRASES, "phrases"),
    ],
)
def test_a_model_without_its_operating_point_is_one_line_naming_the_file(
    monkeypatch, loader, field, filename, part
):
    import rag.sentences

    packaged = getattr(rag.sentences, loader)()
    unusable = replace(packaged, **{field: None})
    monkeypatch.setattr(rag.sentences, "load_model", lambda *_: unusable)
    with pytest.raises(ConfigError) as raised:
        getattr(rag.sentences, loader)()
    text = str(raised.value)
    assert str(MODELS / filename) in text and f"python -m rag.fit --only {part}" in text
    assert "\n" not in text


def test_a_sentence_row_does_not_depend_on_the_order_of_the_hits(seed_pipeline):
    question = "What did Roggio say about the Taliban?"
    hits = seed_pipeline.search(question, k=5)
    found, rows = candidates(question, hits)
    shuffled = [hits[i] for i in (3, 0, 4, 2, 1)]
    found_again, rows_again = candidates(question, shuffled)
    by_sentence = {(hits[r].passage.id, i): row for (r, i, _), row in zip(found, rows, strict=True)}
    for (r, i, _), row in zip(found_again, rows_again, strict=True):
        np.testing.assert_array_equal(row, by_sentence[(shuffled[r].passage.id, i)])


def test_reorder_puts_the_paragraph_of_the_best_sentence_first(seed_pipeline):
    question = "What did Roggio say about the Taliban?"
    vector, tokens = seed_pipeline.embedder.encode_question(question)
    when = seed_pipeline.when()
    hits = retrieve(seed_pipeline.index, question, vector, 8, when=when, tokens=tokens)
    reordered = reorder(question, hits)
    # A permutation of the best five; the rest stay where they were.
    assert sorted(h.passage.id for h in reordered[:PARAGRAPHS]) == sorted(
        h.passage.id for h in hits[:PARAGRAPHS]
    )
    assert reordered[PARAGRAPHS:] == hits[PARAGRAPHS:]
    found, rows = candidates(question, hits)
    scores = model().score(rows)
    assert all(0.0 < hit.match <= 1.0 for hit in hits[:PARAGRAPHS])  # the sample keeps tokens
    key = {
        hits[r].passage.id: max(s for (q, _, _), s in zip(found, scores, strict=True) if q == r)
        + REORDER_WEIGHT * hits[r].score
        - REORDER_PRIOR * hits[r].prior
        + REORDER_MATCH * hits[r].match
        for r in range(PARAGRAPHS)
    }
    assert [key[h.passage.id] for h in reordered[:PARAGRAPHS]] == sorted(key.values(), reverse=True)
    # A hit without token vectors (a model that does not mean-pool) counts its paragraph cosine.
    bare = [replace(hit, match=float("nan")) for hit in hits[:2]]
    assert list(paragraph_matches(bare)) == [hit.dense for hit in bare]
    # The pipeline's search is the retriever's order, reordered.
    searched = seed_pipeline.search(question, k=8)
    assert [h.passage.id for h in searched] == [h.passage.id for h in reordered]


def test_the_answer_is_the_same_in_either_order(seed_pipeline):
    question = "What did Roggio say about the Taliban?"
    vector = seed_pipeline.embedder.encode_queries([question])[0]
    hits = retrieve(seed_pipeline.index, question, vector, 5, when=seed_pipeline.when())
    plain = seed_pipeline.answer(question, hits)
    reordered = seed_pipeline.answer(question, hits[::-1])
    assert plain.confidence == reordered.confidence
    assert sorted(c.sentence for c in plain.citations) == sorted(
        c.sentence for c in reordered.citations
    )


def test_remembered_scores_are_the_scores_computed_afresh(seed_pipeline):
    question = "Who is Annie Pforzheimer?"
    hits = seed_pipeline.search(question, k=5)
    scored(question, hits)  # remembered
    shuffled = hits[::-1]
    found, rows, scores = scored(question, shuffled)  # read back, in this order
    fresh_found, fresh_rows = candidates(question, shuffled)
    assert found == fresh_found
    np.testing.assert_array_equal(rows, fresh_rows)
    np.testing.assert_allclose(scores, model().score(fresh_rows), rtol=0, atol=1e-12)
