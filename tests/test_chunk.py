"""Paragraphs, sentences and embedding windows, on hand-computed cases."""

from __future__ import annotations

import numpy as np

from rag.chunk import chunk_article, windows_for
from rag.ingest import Article, Block
from rag.text import Span, split_sentences


def texts(text: str) -> list[str]:
    return [text[s.start : s.end] for s in split_sentences(text)]


def test_sentences_keep_initials_abbreviations_and_quotes_together():
    text = (
        "Former US Ambassador P. Michael McKinley spoke. Mr. Price said “no.” "
        "The U.S. Embassy agreed! Was it 3.5 percent? Yes"
    )
    assert texts(text) == [
        "Former US Ambassador P. Michael McKinley spoke.",
        "Mr. Price said “no.”",
        "The U.S. Embassy agreed!",
        "Was it 3.5 percent?",
        "Yes",
    ]


def test_sentence_offsets_point_into_the_text():
    text = "First one.  Second one.\nThird."
    spans = split_sentences(text)
    assert spans == (Span(0, 10), Span(12, 23), Span(24, 30))


def test_text_without_punctuation_is_one_sentence():
    assert texts("no punctuation at all here") == ["no punctuation at all here"]


def test_long_paragraph_is_windowed_at_sentence_boundaries_without_losing_text(embedder):
    sentence = "The delegation met officials in Doha to discuss the ceasefire proposal again. "
    text = (sentence * 40).strip()
    article = Article(source="/tmp/x.txt", title="X", blocks=(Block(text, None),))
    (paragraph,) = chunk_article(article, embedder.token_spans, embedder.window_tokens)
    assert len(paragraph.windows) > 1
    for window in paragraph.windows:
        assert len(embedder.token_spans(text[window.start : window.end])) <= embedder.window_tokens
        # Windows start and end on sentence boundaries.
        assert any(s.start == window.start for s in paragraph.sentences)
        assert any(s.end == window.end for s in paragraph.sentences)
    covered = "".join(text[w.start : w.end] for w in paragraph.windows).replace(" ", "")
    assert covered == text.replace(" ", "")


def test_one_enormous_sentence_is_cut_into_pieces_that_fit(embedder):
    text = " ".join(f"word{i}" for i in range(2000))
    sentences, windows = windows_for(
        text, split_sentences(text), embedder.token_spans, embedder.window_tokens
    )
    assert len(sentences) > 1
    assert "".join(text[s.start : s.end] for s in sentences).replace(" ", "") == text.replace(
        " ", ""
    )
    for span in windows:
        assert len(embedder.token_spans(text[span.start : span.end])) <= embedder.window_tokens


def test_paragraphs_know_article_heading_position_and_have_stable_ids(embedder):
    article = Article(
        source="/a.txt", title="T", blocks=(Block("One. Two.", None), Block("Three.", "Section"))
    )
    first = chunk_article(article, embedder.token_spans, embedder.window_tokens)
    # Literals: an id that changed between runs or versions would orphan every stored paragraph.
    assert [p.id for p in first] == [5504307983734568979, 3789885621410241041]
    assert first[0].article_id == 2726089746475269959
    assert [(p.index, p.heading) for p in first] == [(1, None), (2, "Section")]
    assert first[0].article_id == first[1].article_id
    moved = Article(source="/b.txt", title="T", blocks=article.blocks)
    assert chunk_article(moved, embedder.token_spans, 254)[0].id != first[0].id


def test_counting_an_articles_tokens_in_one_batch_chunks_it_the_same(embedder):
    sentence = "The delegation met officials in Doha to discuss the ceasefire proposal again. "
    blocks = (
        Block("Short one. Two.", None),
        Block("   ", None),  # blank: no paragraph, and the positions after it keep counting
        Block((sentence * 40).strip(), "Long"),
        Block("Price said “no.”", None),
    )
    article = Article(source="/c.txt", title="C", blocks=blocks)
    texts = [b.text.strip() for b in blocks if b.text.strip()]
    assert embedder.token_counts(texts) == [len(embedder.token_spans(t)) for t in texts]
    assert embedder.token_counts([]) == []
    one_by_one = chunk_article(article, embedder.token_spans, embedder.window_tokens)
    batched = chunk_article(
        article, embedder.token_spans, embedder.window_tokens, embedder.token_counts
    )
    assert batched == one_by_one
    assert [p.index for p in batched] == [1, 3, 4]
    assert len(batched[1].windows) > 1


def test_windows_are_embedded_in_batches_of_like_token_counts(embedder, monkeypatch):
    # Plain words and codes of the same length in characters, alternating: the codes take about
    # three times the tokens, so batches sorted by characters would pad every word to a code.
    words = "The delegation met officials in Doha to discuss the ceasefire again."
    codes = "X7-QZ 93/41 K2J-8F 0.57 RT-449 B9 Z-12 QX 66-AA 3.14 YV-7 Q8 ZZ-901!"
    assert len(words) == len(codes)
    blocks = tuple(Block(f"{i:03d} {codes if i % 2 else words}", None) for i in range(128))
    paragraphs = chunk_article(
        Article(source="/b.txt", title="B", blocks=blocks),
        embedder.token_spans,
        embedder.window_tokens,
        embedder.token_counts,
    )
    batches = []
    forward = embedder._forward

    def recording(texts, **kwargs):
        batches.append(embedder.token_counts(texts))
        return forward(texts, **kwargs)

    monkeypatch.setattr(embedder, "_forward", recording)
    together = embedder.encode_paragraphs(paragraphs, batch_size=64)
    assert [len(b) for b in batches] == [64, 64]
    assert all(max(b) - min(b) <= 1 for b in batches)  # no padding to speak of
    # Each paragraph gets its own vectors back, whatever batch it was embedded in.
    for i in (0, 1, 126, 127):
        alone = embedder.encode_paragraphs([paragraphs[i]])[0]
        assert float(alone.paragraph @ together[i].paragraph) > 0.999
        assert np.allclose(alone.sentences, together[i].sentences, atol=0.02)


def test_a_model_that_does_not_mean_pool_embeds_many_paragraphs_per_call(embedder, monkeypatch):
    # Such a model encodes each window and sentence as a text of its own: the packaged model,
    # made to take that path, must give every paragraph the vectors of its own texts.
    sentence = "The delegation met officials in Doha to discuss the ceasefire proposal again. "
    blocks = tuple(
        Block(f"Talk number {i} went on. " + (sentence * (30 if i == 3 else 1)), None)
        for i in range(70)
    )
    paragraphs = chunk_article(
        Article(source="/s.txt", title="S", blocks=blocks),
        embedder.token_spans,
        embedder.window_tokens,
        embedder.token_counts,
    )
    assert len(paragraphs[3].windows) > 1
    monkeypatch.setattr(embedder, "_is_mean_pooling", lambda: False)
    calls = []
    plain = embedder._encode_plain

    def recording(texts):
        calls.append(len(texts))
        return plain(texts)

    monkeypatch.setattr(embedder, "_encode_plain", recording)
    done = []
    vectors = embedder.encode_paragraphs(paragraphs, progress=done.append)
    assert len(calls) == 2 and sum(done) == len(paragraphs) == 70  # 64 paragraphs, then 6
    for i in (0, 3, 69):
        p = paragraphs[i]
        windows = plain([p.text[w.start : w.end] for w in p.windows])
        mean = windows.mean(0)
        assert np.allclose(vectors[i].paragraph, mean / np.linalg.norm(mean), atol=0.02)
        sentences = plain([p.text[s.start : s.end] for s in p.sentences])
        assert np.allclose(vectors[i].sentences, sentences, atol=0.02)
        assert vectors[i].tokens is None
