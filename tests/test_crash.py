"""kill -9 at random points of indexing leaves the previous index answering exactly as before, and
running the same command again completes the job."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from rag.config import Config
from rag.pipeline import Pipeline
from rag.store import Index, current_generation
from tests.conftest import ROOT

QUESTIONS = (
    "Who is the US special representative for reconciliation in Afghanistan?",
    "Which provincial capitals did the Taliban advance on?",
    "What did the dock workers in town 17 ask for?",
)
# Seeded, so a failure names points that can be replayed. Point i is a random moment in the i-th
# quarter of the time an uninterrupted build takes: early, middle and late, up to the commit.
KILL_SEED = 20240607
KILLS = 4


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


def _wait_for_build(index_dir: Path, process: subprocess.Popen) -> float:
    """Wait until the indexer has started building (the model is loaded); returns that moment."""
    deadline = time.monotonic() + 300
    while not list(index_dir.glob(".building-*")):
        assert process.poll() is None, "indexing ended before it started building"
        assert time.monotonic() < deadline, "indexing never started building"
        time.sleep(0.01)
    return time.monotonic()


def _answers(index_dir: Path, embedder) -> dict[str, dict]:
    pipeline = Pipeline(Config(index_dir=index_dir), embedder=embedder)
    return {q: pipeline.ask(q).to_dict() for q in QUESTIONS}


@dataclass(frozen=True)
class Reference:
    """An uninterrupted run: how long its build took and what the finished index answers."""

    build_seconds: float
    answers: dict[str, dict]


@pytest.fixture(scope="module")
def reference(seed_index, many_articles, embedder, tmp_path_factory) -> Reference:
    index_dir = tmp_path_factory.mktemp("reference") / "index"
    shutil.copytree(seed_index, index_dir)
    process = _start(index_dir, many_articles)
    started = _wait_for_build(index_dir, process)
    assert process.wait(timeout=600) == 0
    build_seconds = time.monotonic() - started
    assert Index.open(index_dir).manifest.articles == 121
    return Reference(build_seconds, _answers(index_dir, embedder))


def test_kill_at_random_points_keeps_the_old_index_and_a_rerun_completes(
    seed_index, seed_copy, embedder, many_articles, reference
):
    before = _answers(seed_copy, embedder)
    assert before != reference.answers  # the new articles change what is answered
    generation = current_generation(seed_copy)
    rng = random.Random(KILL_SEED)
    killed = 0
    for i in range(KILLS):
        delay = (i + rng.random()) / KILLS * reference.build_seconds
        process = _start(seed_copy, many_articles)
        started = _wait_for_build(seed_copy, process)
        time.sleep(max(0.0, started + delay - time.monotonic()))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        if current_generation(seed_copy) == generation:
            # Killed before its commit: the old generation is live and answers as before.
            killed += 1
            assert _answers(seed_copy, embedder) == before, f"killed after {delay:.2f} s"
        else:
            # Killed (or finished) after its commit: the new index is whole. Start over.
            assert _answers(seed_copy, embedder) == reference.answers, f"after {delay:.2f} s"
            shutil.rmtree(seed_copy)
            shutil.copytree(seed_index, seed_copy)
            generation = current_generation(seed_copy)
    assert killed >= KILLS // 2, f"only {killed} of {KILLS} kills landed before the commit"

    rerun = _start(seed_copy, many_articles)
    assert rerun.wait(timeout=600) == 0
    assert Index.open(seed_copy).manifest.articles == 121
    assert _answers(seed_copy, embedder) == reference.answers
    leftovers = sorted(p.name for p in seed_copy.iterdir() if not p.name.startswith("gen-"))
    assert leftovers == [".lock", "CURRENT"], "a killed run's build folder was not cleaned up"
