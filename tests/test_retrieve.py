"""Retrieval: the three retrievers, collapsing syndicated copies, and an optional reranker."""

from __future__ import annotations

import numpy as np
import pytest

from rag.config import Config
from rag.embed import load_reranker
from rag.pipeline import Pipeline, index_sources

STORY = (
    "The city council approved a new tram line on Tuesday, linking the harbour district to "
    "the university campus by 2028."
)


@pytest.fixture(scope="module")
def syndicated(tmp_path_factory, embedder):
    """Two sites carrying the same story (one with a trailing credit), and an unrelated article."""
    folder = tmp_path_factory.mktemp("syndicated")
    (folder / "site-a.txt").write_text(
        f"Tram line approved\n\n{STORY}\n\nOther local news follows.\n"
    )
    (folder / "site-b.txt").write_text(
        f"Council backs tram\n\n{STORY} (Wire service)\n\nWeather: rain expected all week.\n"
    )
    (folder / "bikes.txt").write_text(
        "Bicycle lanes\n\nThe council also painted new bicycle lanes "
        "along the river promenade last summer.\n"
    )
    index_dir = folder / "index"
    index_sources(Config(index_dir=index_dir), [str(folder)], embedder=embedder)
    return Pipeline(Config(index_dir=index_dir), embedder=embedder)


def test_syndicated_copies_are_collapsed_to_one_hit(syndicated):
    hits = syndicated.search("When will the tram line to the university open?", k=3)
    tram = [h for h in hits if "tram line" in h.passage.text]
    assert len(tram) == 1
    assert len(hits) == 3  # the slot went to the next distinct paragraph


@pytest.mark.parametrize("retriever", ["hybrid", "dense", "bm25"])
def test_every_retriever_finds_the_answering_paragraph(seed_pipeline, retriever):
    hits = seed_pipeline.search(
        "Which provincial capitals did the Taliban advance on?", k=3, retriever=retriever
    )
    assert "Lashkar Gah" in hits[0].passage.text
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_bm25_returns_nothing_for_words_no_paragraph_has(seed_pipeline):
    assert seed_pipeline.search("zyzzyva quokka", retriever="bm25") == []


def test_reranker_reorders_hits_by_cross_encoder_scores(tmp_path, seed_index, embedder):
    from sentence_transformers import CrossEncoder
    from transformers import logging as transformers_logging

    from rag.embed import resolve_model_path

    # No cross-encoder weights can be installed offline: build one from the packaged encoder
    # (its relevance head is untrained, but it is a real CrossEncoder driven through the flag).
    transformers_logging.set_verbosity_error()
    folder = tmp_path / "cross-encoder"
    CrossEncoder(resolve_model_path("all-MiniLM-L6-v2"), num_labels=1).save(str(folder))
    pipeline = Pipeline(Config(index_dir=seed_index, reranker=str(folder)), embedder=embedder)
    question = "What did Neumann say about the talks?"
    hits = pipeline.search(question, k=5)
    scores = load_reranker(str(folder))(question, [h.passage.text for h in hits])
    assert list(scores) == sorted(scores, reverse=True)
    plain = Pipeline(Config(index_dir=seed_index), embedder=embedder).search(question, k=20)
    assert {h.passage.id for h in hits} <= {h.passage.id for h in plain}
    assert not np.isnan(scores).any()
