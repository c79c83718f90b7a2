"""Shared fixtures: the packaged model loaded once, and a built index of the sample article."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import settings

from rag.config import Config
from rag.embed import Embedder, load_embedder
from rag.pipeline import Pipeline, index_sources

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
# Dated news: the Valdoria flood's toll on 20 and 28 July 2021, a wire copy on the 21st that
# repeats a paragraph of the 20th, and an undated article on something else.
DATED = ROOT / "tests" / "fixtures" / "dated"
FLOOD_QUESTION = "How many people died in the Valdoria flood?"
SHARED_DATA = ROOT.parent / "shared" / "data"
# The chat app's fixtures (a served app, its client, a browser) and the loopback network's.
pytest_plugins = ["tests.app_fixtures", "tests.network"]

# The property tests draw the same examples on every run, so a red run is reproducible and a
# change is judged on the inputs the last green run passed. To look for new failing inputs, run
# them with fresh random examples: `pytest --hypothesis-profile=explore tests/test_ingest.py`.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False, database=None)
settings.load_profile("repeatable")


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The default packaged model, loaded once for the whole run."""
    return load_embedder("all-MiniLM-L6-v2", True)


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory, embedder) -> Path:
    """An index of the sample article, built once; tests must not modify it."""
    index_dir = tmp_path_factory.mktemp("seed") / "index"
    index_sources(Config(index_dir=index_dir), [str(SAMPLE)], embedder=embedder)
    return index_dir


@pytest.fixture(scope="session")
def dated_index(tmp_path_factory, embedder) -> Path:
    """An index of the dated articles, built once; tests must not modify it."""
    index_dir = tmp_path_factory.mktemp("dated") / "index"
    index_sources(Config(index_dir=index_dir), [str(DATED)], embedder=embedder)
    return index_dir


@pytest.fixture(scope="session")
def seed_pipeline(seed_index, embedder) -> Pipeline:
    """A pipeline answering over the sample article."""
    return Pipeline(Config(index_dir=seed_index), embedder=embedder)


@pytest.fixture
def seed_copy(seed_index, tmp_path) -> Path:
    """A private copy of the sample index that a test may change."""
    target = tmp_path / "index"
    shutil.copytree(seed_index, target)
    return target


def squad_path(name: str = "dev-v1.1.json") -> Path:
    """A SQuAD file from the shared evaluation data beside the checkout (required, not skipped)."""
    path = SHARED_DATA / "squad" / name
    assert path.is_file(), (
        f"evaluation data missing: {path} (the shared data folder sits beside the checkout)"
    )
    return path
