"""kill -9 in the middle of indexing leaves the previous index answering exactly as before."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.config import Config
from rag.pipeline import Pipeline
from rag.store import Index, current_generation
from tests.conftest import ROOT

QUESTIONS = (
    "Who is the US special representative for reconciliation in Afghanistan?",
    "Which provincial capitals did the Taliban advance on?",
)


@pytest.fixture(scope="module")
def many_articles(tmp_path_factory) -> Path:
    """Enough articles that indexing them takes a few seconds."""
    folder = tmp_path_factory.mktemp("many")
    for i in range(120):
        # Five full sentences a paragraph: long enough that embedding takes several seconds.
        paragraphs = [
            f"Report {i} paragraph {j}: the harbour authority of town {i} logged {i * j} ships. "
            f"The mayor said trade rose by {j} percent this year, mostly in grain and timber. "
            f"Dock workers in town {i} asked for a new crane and longer winter shifts. "
            f"Ferry crossings to the islands were cancelled on {j + 2} stormy days. "
            f"A new customs office is planned for the northern quay of town {i}."
            for j in range(5)
        ]
        (folder / f"report-{i:03d}.txt").write_text(
            f"Harbour report {i}\n\n" + "\n\n".join(paragraphs)
        )
    return folder


def _start(index_dir: Path, folder: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "index", str(folder), "--index", str(index_dir)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for_build(index_dir: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not list(index_dir.glob(".building-*")):
        assert process.poll() is None, "indexing ended before it started building"
        assert time.monotonic() < deadline, "indexing never started building"
        time.sleep(0.02)


@pytest.mark.parametrize("delay", [0.0, 1.0, 2.5])
def test_kill_mid_indexing_keeps_the_old_index_answering(seed_copy, embedder, many_articles, delay):
    before = {
        q: Pipeline(Config(index_dir=seed_copy), embedder=embedder).ask(q).to_dict()
        for q in QUESTIONS
    }
    generation = current_generation(seed_copy)
    process = _start(seed_copy, many_articles)
    _wait_for_build(seed_copy, process)
    time.sleep(delay)
    assert process.poll() is None, "indexing finished before it could be killed; grow the corpus"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)

    assert current_generation(seed_copy) == generation
    pipeline = Pipeline(Config(index_dir=seed_copy), embedder=embedder)
    assert {q: pipeline.ask(q).to_dict() for q in QUESTIONS} == before

    rerun = _start(seed_copy, many_articles)
    assert rerun.wait(timeout=600) == 0
    index = Index.open(seed_copy)
    assert index.manifest.articles == 121
    assert not list(seed_copy.glob(".building-*")), "the leftover build folder was not cleaned up"
    after = pipeline.ask(QUESTIONS[0])
    assert after.text == before[QUESTIONS[0]]["answer"]
