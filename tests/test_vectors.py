"""The FAISS vector store by size: exact search for small indexes, an inverted file (IVF) with
exact re-ranking above the threshold, kept correct through removals, replacements and filters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.chunk import Paragraph
from rag.config import Config
from rag.embed import ParagraphVectors
from rag.errors import IndexFormatError
from rag.ingest import Article, Block
from rag.pipeline import Pipeline, index_sources
from rag.store import Index, Writer, current_generation
from rag.store import vectors as store_vectors
from rag.store.vectors import (
    ANN_IDS,
    PARAGRAPH_ANN,
    Allowed,
    DayRange,
    describe,
    milvus_address,
    same_store,
    store_error,
)
from rag.text import Span
from tests.conftest import SAMPLE

DIM = 16
QUESTIONS = (
    "Who is the US special envoy for Afghanistan?",
    "Who is Bill Roggio?",
    "What did the Taliban capture?",
)


@pytest.fixture
def small_threshold(monkeypatch):
    """Indexes of more than 100 paragraphs get an inverted file (the real threshold is 50,000),
    all of whose lists are probed, so that approximate search must find the exact top."""
    monkeypatch.setattr(store_vectors, "EXACT_UP_TO", 100)
    monkeypatch.setattr(store_vectors, "PROBES", 1024)


def _vectors(n: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _write(path: Path, numbers: range, vectors: np.ndarray, remove: range = range(0)) -> None:
    """Add articles /r/<i> (one paragraph, id 1000 + i, vector vectors[i]), removing others."""
    with Writer(path, model="random", dimension=DIM, ranker="test-ranker") as writer:
        writer.remove([f"/r/{i}" for i in remove])
        for i in numbers:
            text = f"Paragraph number {i}."
            article = Article(source=f"/r/{i}", title=f"R{i}", blocks=(Block(text, None),))
            paragraph = Paragraph(
                1000 + i, i, 1, None, text, (Span(0, len(text)),), (Span(0, len(text)),)
            )
            vector = vectors[i]
            writer.add(article, [paragraph], [ParagraphVectors(vector, vector[None])], i + 1)
        writer.commit(["/r"])


def _exact(vectors: np.ndarray, live: list[int], query: np.ndarray, k: int) -> list[int]:
    scores = vectors[live] @ query
    return [1000 + live[i] for i in np.argsort(-scores, kind="stable")[:k]]


def test_a_small_index_stays_exact(tmp_path):
    _write(tmp_path / "index", range(60), _vectors(60, 0))
    index = Index.open(tmp_path / "index")
    assert index.manifest.vectors["paragraphs"] == {"index": "flat", "storage": "float32"}
    assert not (index.generation / PARAGRAPH_ANN).exists()
    assert describe(index.manifest.vectors).startswith("faiss: paragraphs exact (float32)")


def test_a_large_index_searches_an_inverted_file_and_reranks_exactly(tmp_path, small_threshold):
    vectors = _vectors(400, 0)
    _write(tmp_path / "index", range(400), vectors)
    index = Index.open(tmp_path / "index")
    ann = index.manifest.vectors["paragraphs"]
    assert ann["index"] == "ivf" and ann["storage"] == "sq8" and ann["rerank"] == "exact"
    # About 4·√n lists, a power of two.
    assert (ann["lists"], ann["vectors"], ann["stale"], ann["trained_on"]) == (64, 400, 0, 400)
    assert "IVF (64 lists, 1024 probed" in describe(index.manifest.vectors)
    for query in _vectors(20, 1):
        hits = index.search(query, 10)
        assert [pid for pid, _ in hits] == _exact(vectors, list(range(400)), query, 10)
        ids = np.array([pid - 1000 for pid, _ in hits])
        # Scores are the exact inner products, not those of the 8-bit codes.
        np.testing.assert_allclose([s for _, s in hits], vectors[ids] @ query, rtol=1e-5)


@pytest.mark.parametrize("share", [0.5, 0.03])
def test_allowed_rows_and_days_filter_the_inverted_file(tmp_path, small_threshold, share):
    """A wide filter is a bitmap over the inverted file, a narrow one (under SPARSE_SHARE) is an
    exact scan of the allowed paragraphs."""
    vectors = _vectors(400, 0)
    _write(tmp_path / "index", range(400), vectors)
    index = Index.open(tmp_path / "index")
    ids = index.keywords.paragraph_ids
    rows = np.random.default_rng(2).random(len(ids)) < share
    allowed = Allowed(DayRange(), rows, ids)
    live = sorted(int(i) - 1000 for i in ids[rows])
    for query in _vectors(10, 3):
        hits = [pid for pid, _ in index.search(query, 10, allowed)]
        assert hits == _exact(vectors, live, query, min(10, len(live)))


def test_removed_and_replaced_paragraphs_are_never_found_by_their_old_vectors(
    tmp_path, small_threshold
):
    vectors = _vectors(400, 0)
    path = tmp_path / "index"
    _write(path, range(400), vectors)
    # Remove 30 articles and replace one with a new vector: the inverted file keeps the old
    # vectors, masked (30 + 1 stale of 370 live is under the rebuild share).
    query = _vectors(1, 9)[0]
    replaced = vectors.copy()
    replaced[5] = query
    _write(path, range(5, 6), replaced, remove=range(300, 330))
    index = Index.open(path)
    ann = index.manifest.vectors["paragraphs"]
    assert (ann["vectors"], ann["stale"], index.manifest.paragraphs) == (401, 31, 370)
    live = [i for i in range(400) if not 300 <= i < 330]
    for q in [*_vectors(20, 1), *vectors[300:310]]:
        hits = [pid for pid, _ in index.search(q, 10)]
        assert not {pid - 1000 for pid in hits} & set(range(300, 330))
        assert hits == _exact(replaced, live, q, 10)
    top, score = index.search(query, 1)[0]
    assert top == 1005 and score == pytest.approx(1.0, abs=1e-5)  # the new vector, not the old
    # Past the share, the next commit rebuilds the inverted file from the live vectors only.
    _write(path, range(0), vectors, remove=range(200, 300))
    ann = Index.open(path).manifest.vectors["paragraphs"]
    assert (ann["vectors"], ann["stale"], ann["trained_on"]) == (270, 0, 270)
    # Below the threshold the index goes back to exact search.
    _write(path, range(0), vectors, remove=range(0, 200))
    index = Index.open(path)
    assert index.manifest.vectors["paragraphs"]["index"] == "flat"
    assert not (index.generation / PARAGRAPH_ANN).exists()


def test_an_index_grown_past_its_lists_is_fitted_again(tmp_path, small_threshold):
    vectors = _vectors(1200, 0)
    path = tmp_path / "index"
    _write(path, range(200), vectors)
    _write(path, range(200, 800), vectors)  # 800 = 4 × 200: the same lists, vectors added
    ann = Index.open(path).manifest.vectors["paragraphs"]
    assert (ann["lists"], ann["trained_on"], ann["vectors"]) == (64, 200, 800)
    _write(path, range(800, 1200), vectors)  # past 4 × 200: fitted again, more lists
    index = Index.open(path)
    ann = index.manifest.vectors["paragraphs"]
    assert (ann["lists"], ann["trained_on"], ann["vectors"]) == (128, 1200, 1200)
    for query in _vectors(10, 1):
        hits = [pid for pid, _ in index.search(query, 10)]
        assert hits == _exact(vectors, list(range(1200)), query, 10)


def test_a_damaged_inverted_file_is_refused_naming_the_file(tmp_path, small_threshold):
    _write(tmp_path / "index", range(200), _vectors(200, 0))
    generation = current_generation(tmp_path / "index")
    np.save(generation / ANN_IDS, np.arange(10, dtype=np.int64))
    with pytest.raises(IndexFormatError, match=r"paragraphs.ivf.faiss holds 200 vectors"):
        Index.open(tmp_path / "index")
    (generation / ANN_IDS).write_bytes(b"not numpy")
    with pytest.raises(IndexFormatError, match=r"paragraphs.ivf.ids.npy is missing or damaged"):
        Index.open(tmp_path / "index")


def test_the_sample_answers_the_same_through_an_inverted_file(
    tmp_path, monkeypatch, embedder, seed_pipeline
):
    monkeypatch.setattr(store_vectors, "EXACT_UP_TO", 10)
    monkeypatch.setattr(store_vectors, "PROBES", 1024)
    index_dir = tmp_path / "index"
    index_sources(Config(index_dir=index_dir), [str(SAMPLE)], embedder=embedder)
    manifest = json.loads((current_generation(index_dir) / "manifest.json").read_text())
    assert manifest["vectors"]["paragraphs"]["index"] == "ivf"
    pipeline = Pipeline(Config(index_dir=index_dir), embedder=embedder)
    for question in QUESTIONS:
        assert pipeline.ask(question).to_dict() == seed_pipeline.ask(question).to_dict()


def test_store_names_are_read_and_compared_by_what_they_mean():
    assert milvus_address("milvus://127.0.0.1:19530") == ("127.0.0.1", 19530, "rag")
    assert milvus_address("milvus://[::1]:19530/news") == ("::1", 19530, "news")
    assert milvus_address("milvus://host") is None
    assert milvus_address("milvus://host:99999") is None
    assert store_error("faiss") is None and store_error("milvus://h:1/news") is None
    assert store_error("milvus:/h:1") == (
        "--store must be faiss or milvus://HOST:PORT[/NAME], not 'milvus:/h:1'."
    )
    assert same_store("milvus://h:19530", "milvus://h:19530/rag")
    assert not same_store("milvus://h:19530/news", "milvus://h:19530/rag")
    assert not same_store("faiss", "milvus://h:19530")
