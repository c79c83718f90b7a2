"""The sample article end to end: clean paragraphs, cited answers, abstention."""

from __future__ import annotations

from rag.store import Index

HEADLINE = "US “unwilling to throw in the towel” on Afghan talks even as Taliban violence escalates"


def test_no_chrome_headline_or_heading_becomes_a_paragraph(seed_index):
    index = Index.open(seed_index)
    (article,) = index.articles()
    assert article.title == HEADLINE
    paragraphs = index.article_paragraphs(article.id)
    texts = [p.text for p in paragraphs]
    for junk in ("Skip to content", "Source link", HEADLINE, "‘A fantasy’", "‘The lion’s share’"):
        assert not any(t.strip(" ‘’'\"") == junk.strip(" ‘’'\"") for t in texts), junk
    assert all(len(t.split()) > 8 for t in texts)
    lashkar = next(p for p in paragraphs if "Lashkar Gah" in p.text)
    assert lashkar.heading == "The lion’s share"
    assert [p.index for p in paragraphs] == list(range(1, len(paragraphs) + 1))


def test_special_representative_question_names_khalilzad_and_cites_his_paragraph(seed_pipeline):
    answer = seed_pipeline.ask(
        "Who is the US special representative for reconciliation in Afghanistan?"
    )
    assert not answer.abstained
    assert "Khalilzad" in answer.text
    assert "[1]" in answer.text
    cited = [c for c in answer.citations if "Khalilzad" in c.sentence]
    assert cited and "special representative for reconciliation" in cited[0].paragraph_text


def test_provincial_capitals_question_cites_the_lashkar_gah_paragraph(seed_pipeline):
    answer = seed_pipeline.ask("Which provincial capitals did the Taliban advance on?")
    assert not answer.abstained
    assert "Lashkar Gah" in answer.citations[0].paragraph_text
    assert "Lashkar Gah" in answer.text


def test_off_topic_question_abstains_and_still_shows_the_nearest_passages(seed_pipeline):
    answer = seed_pipeline.ask("Who won the 2018 World Cup?")
    assert answer.abstained
    assert answer.text == "I couldn't find this in the indexed articles."
    assert answer.citations  # the closest passages are still offered


def test_citations_carry_offsets_of_the_cited_sentence(seed_pipeline):
    answer = seed_pipeline.ask("What did Neumann say about sanctions?")
    assert not answer.abstained and answer.citations
    for citation in answer.citations:
        sentence = citation.paragraph_text[citation.sentence_start : citation.sentence_end]
        assert sentence == citation.sentence
        assert sentence in answer.text
        assert f"{sentence} [{citation.n}]" in answer.text
