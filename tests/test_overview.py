"""Questions about the library itself ("What is this article about?") are answered from the
articles' openings, each cited, instead of being refused for want of a paragraph that says so."""

from __future__ import annotations

import datetime as dt

import pytest

from rag.config import Config
from rag.followup import Turn
from rag.overview import OPENING_SENTENCES, asks_overview
from rag.pipeline import Pipeline


@pytest.mark.parametrize(
    "question",
    [
        "What is the article about?",
        "what's this story about",
        "What is this about?",
        "What are these articles about?",
        "What does the article say?",
        "Summarize the article.",
        "Summarise it please",
        "Can you give me a short summary?",
        "Overview of the articles",
        "What are the main points?",
        "TL;DR",
    ],
)
def test_questions_about_the_articles_as_a_whole_ask_for_an_overview(question):
    assert asks_overview(question)


@pytest.mark.parametrize(
    "question",
    [
        "What is Doha about?",
        "What is the article about Doha about?",
        "Summarize what Neumann said about sanctions",
        "What did the article say about Roggio?",
        "What are the main points of the Taliban's demands?",
        "Who wrote the article?",
    ],
)
def test_questions_about_something_in_the_articles_are_searched(question):
    assert not asks_overview(question)


def test_after_earlier_turns_an_overview_must_name_the_articles():
    assert not asks_overview("Summarize it", after_turns=True)
    assert not asks_overview("What is that about?", after_turns=True)
    assert asks_overview("Summarize the article", after_turns=True)


def test_the_sample_article_is_summed_up_by_its_opening(seed_pipeline):
    answer = seed_pipeline.ask("What is this article about?")
    assert not answer.abstained
    assert answer.confidence == 1.0
    (citation,) = answer.citations
    assert citation.paragraph_index == 1  # the first paragraph, not the boilerplate above it
    assert citation.sentence.startswith("However, experts and former diplomats say the Taliban")
    assert citation.sentence.endswith("by their recent military gains in the country.")
    assert answer.text == f"{citation.article_title}: {citation.sentence} [1]"
    assert answer.note is None


def test_a_follow_up_that_says_it_is_searched_as_a_follow_up(seed_pipeline):
    first = seed_pipeline.ask("Who is Neumann?")
    answer = seed_pipeline.ask("What is it about?", history=[Turn.from_answer(first)])
    assert not answer.citations or answer.citations[0].score != 0.0


def test_several_articles_are_listed_newest_first_within_the_window(dated_index, embedder):
    pipeline = Pipeline(Config(index_dir=dated_index, k=2), embedder=embedder)
    answer = pipeline.ask("What are these articles about?", when=pipeline.when(dt.date(2021, 8, 1)))
    titles = [c.article_title for c in answer.citations]
    assert titles == [
        "Valdoria flood death toll reaches 31 as waters recede",
        "Rescue teams search Valdoria villages after flood",
    ]
    assert [c.n for c in answer.citations] == [1, 2]
    assert answer.text.splitlines()[0].startswith(f"{titles[0]}: ")
    assert answer.text.splitlines()[1].endswith("[2]")
    assert answer.note == (
        "The openings of the 2 newest of 4 articles; ask about a subject to search them all."
    )
    for citation in answer.citations:
        spans = [s for s in citation.paragraph_text.split(". ") if s]
        assert len(spans) >= 1 and citation.sentence_start == 0
        assert citation.sentence.count(". ") < OPENING_SENTENCES

    # As of a day before the later stories, they are not there to sum up.
    earlier = pipeline.ask("Summarize the articles", when=pipeline.when(dt.date(2021, 7, 20)))
    assert [c.article_title for c in earlier.citations] == [
        "Valdoria flood death toll rises to 12",
        "The Quenby lighthouse keeper",
    ]
    assert earlier.note is None


def test_a_window_with_no_articles_is_refused(dated_index, embedder):
    pipeline = Pipeline(Config(index_dir=dated_index), embedder=embedder)
    when = pipeline.when(dt.date(2021, 8, 1), since=dt.date(2020, 1, 1), until=dt.date(2020, 2, 1))
    answer = pipeline.ask("What is the article about?", when=when)
    assert answer.abstained
    assert answer.citations == ()
