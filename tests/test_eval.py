"""`rag eval` on tiny datasets whose metric values can be computed by hand."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from rag.evaluate import auroc, fit_threshold, ndcg, recall, reciprocal_rank
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
