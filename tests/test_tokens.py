"""Token vectors: which tokens are kept, how they are stored, and the word-by-word match."""

from __future__ import annotations

import re
import sqlite3

import numpy as np
import pytest

from rag.config import Config
from rag.pipeline import Pipeline, index_sources
from rag.store import Index
from rag.text import Span
from rag.tokens import DIMENSIONS, TokenVectors, match, pack, project, word_tokens


def test_word_tokens_keep_words_and_content_words_leave_out_stopwords():
    text = "Who is Bill Roggio?"
    # [CLS], who, is, bill, rog, ##gio, ?, [SEP] as the tokenizer gives their offsets
    offsets = np.array([[0, 0], [0, 3], [4, 6], [7, 11], [12, 15], [15, 18], [18, 19], [0, 0]])
    assert word_tokens(text, offsets).tolist() == [0, 1, 1, 1, 1, 1, 0, 0]
    assert word_tokens(text, offsets, content=True).tolist() == [0, 0, 0, 1, 1, 1, 0, 0]
    assert not word_tokens("?!", np.array([[0, 1], [1, 2]])).any()


def test_packed_vectors_survive_the_database_round_trip_close_to_their_projection():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((7, 384)).astype(np.float32)
    packed = pack(vectors, [0, 4, 9, 15, 20, 26, 31])
    assert packed.codes.dtype == np.int8 and packed.codes.shape == (7, DIMENSIONS)
    back = TokenVectors.from_blobs(*packed.to_blobs())
    assert back.starts.tolist() == [0, 4, 9, 15, 20, 26, 31]
    assert np.array_equal(back.codes, packed.codes)
    cosines = np.sum(back.vectors() * project(vectors), axis=1)
    assert cosines.min() > 0.999
    assert pack(np.zeros((0, 384)), []) is None


def test_stored_vectors_that_do_not_fit_their_starts_are_refused():
    with pytest.raises(ValueError, match="do not match"):
        TokenVectors.from_blobs(np.array([0, 5], "<i4").tobytes(), bytes(3))


def test_match_is_best_in_the_sentence_holding_the_question_words():
    rng = np.random.default_rng(1)
    words = rng.standard_normal((6, 384)).astype(np.float32)
    tokens = pack(words, [0, 5, 10, 20, 25, 30])  # three tokens a sentence
    sentences = (Span(0, 15), Span(20, 35))
    question = project(words[3:5])  # two words of the second sentence
    paragraph, each = match(question, tokens, sentences)
    assert each[1] == pytest.approx(1.0, abs=0.01)
    assert each[0] < 0.5 < each[1]
    assert paragraph == pytest.approx(max(each))
    assert match(question, None, sentences) is None
    assert match(np.zeros((0, DIMENSIONS), np.float32), tokens, sentences) is None


def test_an_index_stores_each_paragraphs_word_tokens_and_a_question_matches_them(
    seed_index, seed_pipeline, embedder
):
    index = Index.open(seed_index)
    passages = index.passages(index.keywords.paragraph_ids.tolist())
    assert passages and all(p.tokens is not None for p in passages.values())
    for passage in passages.values():
        starts = passage.tokens.starts
        assert (np.diff(starts) > 0).all() and starts[0] >= 0 and starts[-1] < len(passage.text)
        assert all(passage.text[s].isalnum() for s in starts)
    vector, tokens = embedder.encode_question("Who is Bill Roggio?")
    assert tokens.shape == (3, DIMENSIONS)  # bill, rog, ##gio
    hits = seed_pipeline.search("Who is Bill Roggio?")
    best = hits[0]
    assert "Roggio" in best.passage.text
    assert len(best.sentence_matches) == len(best.passage.sentences)
    named = [
        i
        for i, s in enumerate(best.passage.sentences)
        if "Roggio" in best.passage.text[s.start : s.end]
    ]
    assert max(best.sentence_matches[i] for i in named) == pytest.approx(max(best.sentence_matches))
    assert best.match == pytest.approx(max(best.sentence_matches))


def test_updating_and_pruning_articles_keeps_one_token_row_per_paragraph(tmp_path, embedder):
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a.txt").write_text("Alpha title\n\nThe alpha orchard grows apples.\n")
    (folder / "b.txt").write_text("Beta title\n\nThe beta paragraph talks about bananas.\n")
    config = Config(index_dir=tmp_path / "index")
    index_sources(config, [str(folder)], embedder=embedder)
    (folder / "a.txt").write_text("Alpha title\n\nThe alpha orchard now grows apricots.\n")
    (folder / "b.txt").unlink()
    index_sources(config, [str(folder)], prune=True, embedder=embedder)
    index = Index.open(config.index_dir)
    with sqlite3.connect(index.database) as db:
        stored = [row[0] for row in db.execute("SELECT paragraph_id FROM tokens")]
    assert sorted(stored) == sorted(index.keywords.paragraph_ids.tolist())
    (passage,) = index.passages(stored).values()
    assert "apricots" in passage.text
    words = {m.start() for m in re.finditer(r"\w+", passage.text)}
    assert words <= set(passage.tokens.starts.tolist())  # every word, none of the full stop
    assert len(passage.text) - 1 not in passage.tokens.starts
    hits = Pipeline(config, embedder=embedder).search("What does the alpha orchard grow?")
    assert hits[0].match == pytest.approx(max(hits[0].sentence_matches)) and hits[0].match > 0.5
