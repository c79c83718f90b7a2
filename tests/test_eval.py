"""`rag eval` on tiny datasets whose metric values can be computed by hand."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.errors import ConfigError
from rag.evaluate import (
    Question,
    asked_when,
    auroc,
    fit_threshold,
    ndcg,
    recall,
    reciprocal_rank,
)
from rag.retrieve.recency import When
from tests.conftest import ROOT

ARTICLES = [
    (
        "Volcanoes",
        [
            "Mount Etna is an active stratovolcano on the east coast of Sicily, in Italy.",
            "Lava from Etna erupted in 2021 and the ash closed Catania airport for two days.",
        ],
    ),
    (
        "Bicycles",
        [
            "The penny-farthing bicycle had a very large front wheel and a small rear wheel.",
            "Derailleur gears let a cyclist change the chain between sprockets while riding.",
        ],
    ),
]


def _squad(path, questions):
    data = {
        "version": "test",
        "data": [
            {
                "title": title,
                "paragraphs": [
                    {"context": context, "qas": [q for q in questions if q["at"] == (a, p)]}
                    for p, context in enumerate(contexts)
                ],
            }
            for a, (title, contexts) in enumerate(ARTICLES)
        ],
    }
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                del qa["at"]
    path.write_text(json.dumps(data))
    return path


def _eval(*args):
    result = subprocess.run(
        [sys.executable, "-m", "rag.cli", "eval", *args, "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_metric_functions_on_hand_computed_cases():
    assert recall({"a": 1, "b": 1}, ["c", "a", "d"], 2) == 0.5
    assert recall({"a": 1}, ["c", "a"], 1) == 0.0
    assert reciprocal_rank({"a": 1}, ["c", "d", "a"], 10) == pytest.approx(1 / 3)
    assert reciprocal_rank({"a": 1}, ["c", "d", "a"], 2) == 0.0
    assert ndcg({"a": 2, "b": 1}, ["a", "b"], 10) == pytest.approx(1.0)
    assert ndcg({"a": 2, "b": 1}, ["b", "x", "a"], 10) == pytest.approx(
        (1 + 2 / 2) / (2 + 1 / math.log2(3))
    )
    labels = np.array([True, False, True, False])
    assert auroc(np.array([0.9, 0.8, 0.3, 0.1]), labels) == 0.75
    assert auroc(np.array([0.5, 0.5, 0.5, 0.5]), labels) == 0.5
    assert fit_threshold(np.array([0.9, 0.8, 0.3, 0.1]), np.array([True, True, False, False])) == (
        0.8,
        1.0,
    )


def test_squad_slice_gives_the_hand_computed_metrics(tmp_path):
    questions = [
        # Shares rare words only with its own paragraph: rank 1 for any retriever.
        {
            "at": (0, 0),
            "id": "q1",
            "question": "Which coast of Sicily is Mount Etna on?",
            "answers": [{"text": "east coast", "answer_start": 0}],
        },
        {
            "at": (1, 1),
            "id": "q2",
            "question": "What do derailleur gears let a cyclist change?",
            "answers": [{"text": "the chain", "answer_start": 0}],
        },
        # Written on the penny-farthing paragraph but worded like the Etna one: BM25 never
        # retrieves its gold paragraph, because no word of it occurs there.
        {
            "at": (1, 0),
            "id": "q3",
            "question": "When did lava close Catania airport?",
            "answers": [{"text": "unrelated", "answer_start": 0}],
        },
    ]
    data = _squad(tmp_path / "tiny.json", questions)
    result = _eval(str(data), "--index", str(tmp_path / "index"), "--retriever", "bm25")
    assert result["questions"] == 3 and result["paragraphs"] == 4
    assert result["recall@1"] == pytest.approx(2 / 3, abs=1e-4)
    assert result["recall@20"] == pytest.approx(2 / 3, abs=1e-4)
    assert result["mrr@10"] == pytest.approx(2 / 3, abs=1e-4)
    assert result["answer_in_citation"] == pytest.approx(2 / 3, abs=1e-4)
    assert "abstention" not in result  # v1.1 has no unanswerable questions
    assert {"p50", "p95"} <= set(result["latency_ms"])
    # The same index is reused when the corpus is unchanged.
    generation = (tmp_path / "index" / "CURRENT").read_text()
    again = _eval(
        str(data), "--index", str(tmp_path / "index"), "--retriever", "hybrid", "--limit", "1"
    )
    assert again["questions"] == 1 and again["recall@1"] == 1.0
    assert (tmp_path / "index" / "CURRENT").read_text() == generation


def test_unanswerable_questions_are_scored_for_abstention(tmp_path):
    questions = [
        {
            "at": (0, 0),
            "id": "a1",
            "question": "Where is the active stratovolcano Mount Etna?",
            "answers": [{"text": "Sicily", "answer_start": 0}],
            "is_impossible": False,
        },
        {
            "at": (1, 0),
            "id": "a2",
            "question": "What did the penny-farthing bicycle have?",
            "answers": [{"text": "large front wheel", "answer_start": 0}],
            "is_impossible": False,
        },
        {
            "at": (0, 1),
            "id": "u1",
            "question": "Who won the 2018 football World Cup final?",
            "answers": [],
            "is_impossible": True,
        },
    ]
    data = _squad(tmp_path / "tiny-v2.json", questions)
    result = _eval(str(data), "--index", str(tmp_path / "index"))
    abstention = result["abstention"]
    assert abstention["auroc"] == 1.0  # both answerable questions score above the off-topic one
    assert abstention["accuracy"] == 1.0
    assert abstention["best_accuracy"] == 1.0
    assert result["recall@1"] == 1.0  # only answerable questions count for retrieval


def test_beir_folder_gives_the_hand_computed_ndcg(tmp_path):
    folder = tmp_path / "mini-beir"
    (folder / "qrels").mkdir(parents=True)
    docs = {
        "d1": "Glaciers in Patagonia are retreating quickly.",
        "d2": "Coral reefs bleach when ocean water warms.",
        "d3": "Mangrove forests protect tropical coastlines from storms.",
    }
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in docs.items())
    )
    (folder / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "Patagonia glaciers retreating"})
        + "\n"
        + json.dumps({"_id": "q2", "text": "mangrove coastlines storms"})
        + "\n"
    )
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\nq2\td3\t1\n"
    )
    result = _eval(str(folder), "--index", str(tmp_path / "index"), "--retriever", "bm25")
    # q1: d1 first → 1. q2: only d3 matches → DCG 1/log2(2), ideal 2/log2(2) + 1/log2(3).
    expected = (1 + 1 / (2 + 1 / math.log2(3))) / 2
    assert result["ndcg@10"] == pytest.approx(expected, abs=1e-4)
    assert result["recall@5"] == pytest.approx((1 + 0.5) / 2, abs=1e-4)
    assert "answer_in_citation" not in result  # no answer strings, nothing to measure
    # With the set's answer strings (as the news set has them), the cited sentences are checked.
    (folder / "answers.jsonl").write_text(
        json.dumps({"_id": "q1", "answer": "Patagonia"})
        + "\n"
        + json.dumps({"_id": "q2", "answer": "coral reefs"})
        + "\n"
    )
    result = _eval(str(folder), "--index", str(tmp_path / "index"), "--retriever", "bm25")
    assert result["answer_in_citation"] == pytest.approx(0.5)  # q2 cites the mangroves


def test_holdout_leaves_a_seeded_share_of_paragraphs_out_and_their_questions_unanswerable(
    tmp_path,
):
    from rag.evaluate import holdout, load_dataset

    questions = [
        {"at": (a, p), "id": f"q{a}{p}", "question": text, "answers": []}
        for (a, p), text in {
            (0, 0): "Which coast of Sicily is Mount Etna on?",
            (0, 1): "What closed Catania airport?",
            (1, 0): "What did the penny-farthing have?",
            (1, 1): "What do derailleur gears change?",
        }.items()
    ]
    data = _squad(tmp_path / "tiny.json", questions)
    dataset = load_dataset(data)
    first = holdout(dataset, 0.5, 3, tmp_path / "a")
    again = holdout(dataset, 0.5, 3, tmp_path / "b")
    assert [q.answerable for q in first.questions] == [q.answerable for q in again.questions]
    (copy,) = first.inputs
    kept = json.loads(Path(copy).read_text(encoding="utf-8"))["data"]
    contexts = [p["context"] for article in kept for p in article["paragraphs"]]
    answerable = [q for q in first.questions if q.answerable]
    assert len(contexts) == len(answerable)  # one question per paragraph: kept ⇔ answerable
    for q in answerable:
        ((unit, _),) = q.relevance.items()
        title, position = unit.split("#", 1)[1].split("¶")
        article = next(a for a in kept if a["title"] == title)
        assert q.text.split()[-1].rstrip("?") in json.dumps(
            article["paragraphs"][int(position) - 1]
        )
    assert all(not q.relevance for q in first.questions if not q.answerable)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        holdout(dataset, 1.0, 0, tmp_path / "c")


def test_eval_with_holdout_reports_answered_and_refused_shares(tmp_path):
    questions = [
        {
            "at": (0, 0),
            "id": "e1",
            "question": "Which coast of Sicily is Mount Etna on?",
            "answers": [{"text": "east coast", "answer_start": 0}],
        },
        {
            "at": (0, 1),
            "id": "e2",
            "question": "What closed Catania airport for two days?",
            "answers": [{"text": "the ash", "answer_start": 0}],
        },
        {
            "at": (1, 0),
            "id": "b1",
            "question": "Which wheel of the penny-farthing was large?",
            "answers": [{"text": "front wheel", "answer_start": 0}],
        },
        {
            "at": (1, 1),
            "id": "b2",
            "question": "What do derailleur gears let a cyclist change?",
            "answers": [{"text": "the chain", "answer_start": 0}],
        },
    ]
    data = _squad(tmp_path / "tiny.json", questions)
    result = _eval(str(data), "--index", str(tmp_path / "index"), "--holdout", "0.5")
    abstention = result["abstention"]
    assert result["dataset"] == "tiny-holdout0.5-seed0"
    assert 0 < result["paragraphs"] < 4
    assert {"auroc", "answered", "refused", "threshold"} <= set(abstention)
    assert result["ranker"].startswith("ranker-")


def test_fixed_halves_split_squad_by_article_and_beir_by_date_or_id(tmp_path):
    from rag.evaluate import _beir_parts, load_dataset

    data = _squad(
        tmp_path / "tiny.json",
        [
            {"at": (0, 0), "id": "v", "question": "Etna?", "answers": []},
            {"at": (1, 0), "id": "b", "question": "Wheel?", "answers": []},
        ],
    )
    parts = {q.id: q.part for q in load_dataset(data).questions}
    assert parts == {"v": "fit", "b": "check"}  # first half of the articles (sorted) fits
    dated = _beir_parts(
        ["x", "y", "z", "w"],
        {"x": "2021-05-01", "y": "2020-01-01", "z": "2022-01-01", "w": "2020-06-01"},
    )
    assert dated == {"y": "fit", "w": "fit", "x": "check", "z": "check"}
    assert _beir_parts(["3", "4"], {}) == {"3": "fit", "4": "check"}


def test_a_question_is_asked_as_of_its_date_one_day_for_all_or_without_dates():
    """rag eval asks a dated question as of its date, every question as of --as-of DATE when
    given (an archive asked later), and ignores dates altogether with --no-dates."""

    class Now:  # what a pipeline gives a question that names no day: as of its configured day
        def when(self):
            return When(dt.date(2026, 1, 1))

    dated = Question("q", "Which embassy was attacked?", {"a": 1}, date=dt.date(2021, 8, 6))
    undated = Question("u", "Which embassy was attacked?", {"a": 1})
    later = dt.date(2023, 1, 6)
    assert asked_when(dated, Now()) == When(dt.date(2021, 8, 6))
    assert asked_when(undated, Now()) == When(dt.date(2026, 1, 1))
    assert asked_when(dated, Now(), as_of=later) == When(later)
    assert asked_when(undated, Now(), as_of=later) == When(later)
    assert asked_when(dated, Now(), dates=False, as_of=later) == When()
