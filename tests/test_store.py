"""The index on disk: exact search, round trips, incremental updates, refusals, atomicity."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.chunk import Paragraph
from rag.config import Config
from rag.embed import ParagraphVectors
from rag.errors import ConfigError, IndexFormatError
from rag.ingest import Article, Block
from rag.pipeline import Pipeline, index_sources
from rag.store import FORMAT_VERSION, Index, Writer, current_generation
from rag.store.vectors import PARAGRAPH_VECTORS, SENTENCE_VECTORS
from rag.text import Span


def _random_index(path: Path, n: int, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """Write an index of n one-sentence paragraphs with seeded random unit vectors."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = []
    with Writer(path, model="random", dimension=dim, ranker="test-ranker") as writer:
        for i in range(n):
            text = f"Paragraph number {i}."
            article = Article(source=f"/r/{i}.txt", title=f"R{i}", blocks=(Block(text, None),))
            paragraph = Paragraph(
                id=1000 + i,
                article_id=i,
                index=1,
                heading=None,
                text=text,
                sentences=(Span(0, len(text)),),
                windows=(Span(0, len(text)),),
            )
            writer.add(article, [paragraph], [ParagraphVectors(vectors[i], vectors[i : i + 1])], i)
            ids.append(1000 + i)
        writer.commit(["/r"])
    return vectors, ids


def test_faiss_search_equals_brute_force_numpy_even_when_k_exceeds_the_index(tmp_path):
    vectors, ids = _random_index(tmp_path / "index", 37)
    index = Index.open(tmp_path / "index")
    queries = np.random.default_rng(1).normal(size=(5, 16)).astype(np.float32)
    for query in queries:
        hits = index.search(query, 100)
        scores = vectors @ query
        expected = np.argsort(-scores)
        assert [h[0] for h in hits] == [ids[i] for i in expected]  # all 37, no -1 padding
        np.testing.assert_allclose([h[1] for h in hits], scores[expected], rtol=1e-5, atol=1e-6)


def test_vector_lookup_returns_stored_vectors_by_id(tmp_path):
    vectors, ids = _random_index(tmp_path / "index", 10)
    index = Index.open(tmp_path / "index")
    np.testing.assert_array_equal(index.vectors("paragraphs", [ids[3], ids[0]]), vectors[[3, 0]])
    with pytest.raises(KeyError):
        index.vectors("paragraphs", [42])


def test_build_save_load_gives_the_same_hits(seed_index, seed_pipeline, embedder, tmp_path):
    question = "Which provincial capitals did the Taliban advance on?"
    before = seed_pipeline.ask(question)
    moved = tmp_path / "moved"
    shutil.copytree(seed_index, moved)
    after = Pipeline(Config(index_dir=moved), embedder=embedder).ask(question)
    assert after.to_dict() == before.to_dict()


def test_reindexing_unchanged_articles_embeds_nothing_and_keeps_the_generation(seed_copy, embedder):
    from tests.conftest import SAMPLE

    generation = current_generation(seed_copy)
    report = index_sources(Config(index_dir=seed_copy), [str(SAMPLE)], embedder=embedder)
    assert (report.unchanged, report.added, report.updated, report.paragraphs) == (1, [], [], 0)
    assert current_generation(seed_copy) == generation


def test_changed_article_is_reembedded_and_vanished_one_pruned(tmp_path, embedder):
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a.txt").write_text("Alpha title\n\nThe alpha orchard grows apples.\n")
    (folder / "b.txt").write_text("Beta title\n\nThe beta paragraph talks about bananas.\n")
    config = Config(index_dir=tmp_path / "index")
    first = index_sources(config, [str(folder)], embedder=embedder)
    assert len(first.added) == 2
    (folder / "a.txt").write_text("Alpha title\n\nThe alpha orchard now grows apricots.\n")
    (folder / "b.txt").unlink()
    kept = index_sources(config, [str(folder)], embedder=embedder)
    assert (len(kept.updated), kept.removed, kept.paragraphs) == (1, [], 1)
    assert Index.open(config.index_dir).manifest.articles == 2  # b stays without --prune
    pruned = index_sources(config, [str(folder)], prune=True, embedder=embedder)
    assert [Path(s).name for s in pruned.removed] == ["b.txt"]
    index = Index.open(config.index_dir)
    assert [a.title for a in index.articles()] == ["Alpha title"]
    assert index.manifest.paragraphs == index.vector_store.count("paragraphs") == 1
    answer = Pipeline(config, embedder=embedder).ask("What does the alpha orchard grow?")
    assert "apricots" in answer.text


def test_model_mismatch_is_refused_naming_both_models(seed_index):
    with pytest.raises(IndexFormatError) as error:
        Index.open(seed_index, model="BAAI/bge-small-en-v1.5")
    message = str(error.value)
    assert "all-MiniLM-L6-v2" in message and "BAAI/bge-small-en-v1.5" in message
    assert "rag index" in message and "--rebuild" in message


def test_writer_refuses_to_mix_models(seed_copy):
    with pytest.raises(IndexFormatError, match="all-MiniLM-L6-v2.*other-model"):
        Writer(seed_copy, model="other-model", dimension=384, ranker="test-ranker")
    Index.open(seed_copy)  # untouched, and the lock was released


def _manifest(index_dir: Path) -> Path:
    return current_generation(index_dir) / "manifest.json"


def test_other_format_version_is_refused_with_the_rebuild_command(seed_copy):
    path = _manifest(seed_copy)
    data = json.loads(path.read_text())
    path.write_text(json.dumps(data | {"format": 99}))
    with pytest.raises(
        IndexFormatError,
        match=rf"format 99 .* reads format {FORMAT_VERSION}; rebuild with: rag index",
    ):
        Index.open(seed_copy)


def test_manifest_that_lies_about_counts_is_refused(seed_copy):
    path = _manifest(seed_copy)
    data = json.loads(path.read_text())
    path.write_text(json.dumps(data | {"paragraphs": data["paragraphs"] + 1}))
    with pytest.raises(IndexFormatError, match="index.sqlite holds .* but the manifest says"):
        Index.open(seed_copy)


def test_vector_file_that_disagrees_with_the_manifest_is_refused(seed_copy):
    generation = current_generation(seed_copy)
    shutil.copyfile(generation / "sentences.faiss", generation / "paragraphs.faiss")
    with pytest.raises(
        IndexFormatError, match=r"paragraphs.faiss holds \d+ vectors but the manifest says"
    ):
        Index.open(seed_copy)


def test_truncated_faiss_file_is_named_in_the_error(seed_copy):
    path = current_generation(seed_copy) / "paragraphs.faiss"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(IndexFormatError, match=r"paragraphs\.faiss is not a readable FAISS index"):
        Index.open(seed_copy)


def test_corrupt_sqlite_file_is_named_in_the_error(seed_copy):
    path = current_generation(seed_copy) / "index.sqlite"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(IndexFormatError, match=r"index\.sqlite is not a readable SQLite database"):
        Index.open(seed_copy)


def test_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(IndexFormatError, match="No index at .* build one with: rag index"):
        Index.open(tmp_path / "nothing")


def test_a_failed_build_leaves_the_previous_generation_live(seed_copy, seed_pipeline):
    generation = current_generation(seed_copy)
    with (
        pytest.raises(RuntimeError),
        Writer(seed_copy, model="all-MiniLM-L6-v2", dimension=384, ranker="test-ranker") as writer,
    ):
        writer.remove([a.source for a in Index.open(seed_copy).articles()])
        raise RuntimeError("simulated failure before commit")
    assert current_generation(seed_copy) == generation
    assert not list(seed_copy.glob(".building-*"))
    assert Index.open(seed_copy).manifest.articles == 1


def test_bm25_matrix_matches_the_formula_computed_by_hand():
    import math

    from rag.store.keywords import KeywordIndex
    from rag.text import terms

    documents = [terms("Etna volcano erupts"), terms("a quiet volcano"), terms("bicycles")]
    index = KeywordIndex.build(documents)
    n, average = 3, (3 + 2 + 1) / 3

    def bm25(tf: int, df: int, length: int) -> float:
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        return idf * tf * 2.5 / (tf + 1.5 * (1 - 0.75 + 0.75 * length / average))

    scores = index.scores(terms("volcano Etna"))
    expected = [bm25(1, 1, 3) + bm25(1, 2, 3), bm25(1, 2, 2), 0.0]
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    assert not index.scores(terms("the of and")).any()  # stopwords only: nothing matches


def test_an_index_whose_model_cannot_be_loaded_names_its_manifest(seed_copy):
    generation = current_generation(seed_copy)
    manifest = json.loads((generation / "manifest.json").read_text())
    manifest["model"] = str(seed_copy / "no-such-model-folder")
    (generation / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError) as error:
        Pipeline(Config(index_dir=seed_copy))
    message = str(error.value)
    assert "no-such-model-folder" in message and str(generation / "manifest.json") in message
    assert "--rebuild" in message and len(message.splitlines()) == 1


def test_an_open_index_maps_its_vectors_instead_of_copying_them(seed_index):
    index = Index.open(seed_index)
    mapped = Path("/proc/self/maps").read_text()
    for name in (PARAGRAPH_VECTORS, SENTENCE_VECTORS):
        assert str((index.generation / name).resolve()) in mapped, name
    ids = list(index.passages(list(range(1, 4))))
    vectors = index.vectors("paragraphs", ids)  # lookups are ordinary arrays
    assert vectors.shape == (len(ids), index.manifest.dimension) and vectors.flags.writeable
