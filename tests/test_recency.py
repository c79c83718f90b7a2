"""Questions asked as of a day: the as-of cut, the recency prior, since/until windows, versions
of one paragraph published on different days, and answers that say when dated sources differ."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from rag.config import Config
from rag.pipeline import Pipeline, index_sources
from rag.retrieve.answerable import FEATURES, answerability_features
from rag.retrieve.recency import Prior, When, distance, penalty, prior

D = dt.date

# One story updated over a week, a near-copy of its first paragraph with a new count each day,
# an unrelated undated article, and an old one on the same subject.
_REST = (
    " Rescue teams are searching the villages along the river, and the regional government has "
    "asked the army for boats and helicopters. Roads to the upper valley remain closed after the "
    "bridge at Millford collapsed."
)
RECORDS = [
    {
        "title": "Floods in the valley",
        "url": "https://example.org/floods-20",
        "published": "2021-07-20",
        "text": "The flood in the river valley has killed 12 people, officials said." + _REST,
    },
    {
        "title": "Floods in the valley, update",
        "url": "https://example.org/floods-28",
        "published": "2021-07-28",
        "text": "The flood in the river valley has killed 31 people, officials said." + _REST,
    },
    {
        "title": "Gardening notes",
        "url": "https://example.org/garden",
        "text": "Tomatoes need six hours of sun a day and regular watering in July.",
    },
    {
        "title": "Wildfire near Redding",
        "url": "https://example.org/fire-1",
        "published": "2021-08-02",
        "text": "The wildfire near Redding has destroyed 40 homes, fire officials said.",
    },
    {
        "title": "Redding fire grows",
        "url": "https://example.org/fire-2",
        "published": "2021-08-09",
        "text": "Firefighters said on Monday that the Redding wildfire has now destroyed 112 homes "
        "after burning for two weeks.",
    },
    {
        "title": "The old flood",
        "url": "https://example.org/floods-2019",
        "published": "2019-03-02",
        "text": "A spring flood in the river valley damaged two bridges and the old mill.",
    },
]


@pytest.fixture(scope="module")
def dated(tmp_path_factory, embedder) -> Pipeline:
    folder = tmp_path_factory.mktemp("dated")
    source = folder / "news.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n", encoding="utf-8")
    config = Config(index_dir=folder / "index")
    index_sources(config, [str(source)], embedder=embedder)
    return Pipeline(config, embedder=embedder)


def _titles(hits) -> list[str]:
    return [h.passage.article_title for h in hits]


def test_as_of_leaves_out_later_articles_and_keeps_the_version_of_its_day(dated):
    hits = dated.search("How many people has the flood killed?", k=5, when=When(D(2021, 7, 21)))
    assert "Floods in the valley, update" not in _titles(hits)
    assert hits[0].passage.article_title == "Floods in the valley"
    assert hits[0].passage.published == "2021-07-20"
    assert hits[0].also == ()  # the later version is not known yet on the 21st


def test_near_copies_are_versions_the_one_nearest_the_moment_is_kept(dated):
    hits = dated.search("How many people has the flood killed?", k=5, when=When(D(2021, 8, 1)))
    titles = _titles(hits)
    assert titles[0] == "Floods in the valley, update"
    assert "Floods in the valley" not in titles  # collapsed into its newer version
    assert hits[0].also == ("2021-07-20",)
    # Ignoring dates, the copies still collapse into one, as they always did.
    plain = dated.search("How many people has the flood killed?", k=5, when=When())
    assert sum(t.startswith("Floods in the valley") for t in _titles(plain)) == 1


def test_since_and_until_filter_by_publication_day_and_leave_out_undated(dated):
    window = When(D(2026, 1, 1), since=D(2019, 1, 1), until=D(2019, 12, 31))
    hits = dated.search("river valley flood", k=5, when=window)
    assert _titles(hits) == ["The old flood"]
    hits = dated.search("How much sun do tomatoes need?", k=5, when=When(D(2026, 1, 1)))
    assert hits[0].passage.article_title == "Gardening notes"  # undated: never cut by as-of
    assert hits[0].passage.published is None
    hits = dated.search("How much sun do tomatoes need?", k=5, when=When(since=D(2000, 1, 1)))
    assert "Gardening notes" not in _titles(hits)


def test_a_time_named_in_the_question_moves_the_prior(dated):
    hits = dated.search("What did the flood damage in 2019?", k=5, when=When(D(2021, 8, 1)))
    assert hits[0].passage.article_title == "The old flood"


def test_dated_sources_that_disagree_are_both_given_newest_first(dated):
    answer = dated.ask(
        "How many homes has the Redding wildfire destroyed?", when=When(D(2021, 8, 10))
    )
    assert not answer.abstained
    assert answer.text.startswith("The articles differ by date. On 9 Aug 2021: ")
    assert "112 homes" in answer.text and "[1]" in answer.text
    assert "On 2 Aug 2021: " in answer.text and "40 homes" in answer.text and "[2]" in answer.text
    assert [c.published for c in answer.citations] == ["2021-08-09", "2021-08-02"]
    assert [c.answer_phrase for c in answer.citations] == ["112", "40"]
    # Asked before the second report, only the first one speaks.
    earlier = dated.ask(
        "How many homes has the Redding wildfire destroyed?", when=When(D(2021, 8, 5))
    )
    assert earlier.text == (
        "The wildfire near Redding has destroyed 40 homes, fire officials said. [1]"
    )


def test_one_dated_source_answers_plainly(dated):
    answer = dated.ask("How many people has the flood killed?", when=When(D(2021, 7, 21)))
    assert not answer.text.startswith("The articles differ")
    assert "12" in answer.text
    assert answer.citations[0].published == "2021-07-20"


def test_a_story_from_another_week_does_not_answer_a_question_about_the_week(dated):
    """In a library that reaches the day asked about (the Redding fire was reported the day
    before), the bridge story is two weeks old: answering "Which bridge collapsed?" with it
    would be news from the wrong week, so it is refused. Asked in the week of the story, naming
    its time, or of an archive asked later, where every story lies far back, it is answered."""
    live = dated.ask("Which bridge collapsed?", when=When(D(2021, 8, 10)))
    assert live.abstained
    assert live.citations[0].published == "2021-07-28"  # the nearest passage, shown as such
    assert live.note == (
        "Nothing near the day asked about answers this; the closest passage is of 28 Jul 2021. "
        'To ask about an earlier story, name its time ("in July 2021") or ask as of its day.'
    )
    for question, day in (
        ("Which bridge collapsed?", D(2021, 7, 29)),
        ("Which bridge collapsed in July?", D(2021, 8, 10)),
        ("Which bridge collapsed?", D(2023, 1, 1)),
    ):
        answer = dated.ask(question, when=When(day))
        assert not answer.abstained, (question, day, answer.confidence)
        assert "the bridge at Millford collapsed" in answer.text
        assert answer.confidence > live.confidence
    # Refused in the archive, a question gets no note about the day: the day did not decide.
    archive = dated.ask("Which bridge collapsed in Paris?", when=When(D(2023, 1, 1)))
    assert archive.abstained and archive.note is None
    # A refusal with nothing of another day about it carries no such note.
    assert dated.ask("Who won the 2018 World Cup?", when=When(D(2021, 8, 10))).note is None
    # The model sees the prior's penalty where the library reaches the day asked about (a story
    # of the 9th); not in the archive asked in 2023, nor with dates ignored.
    for day, seen in ((D(2021, 8, 10), True), (D(2023, 1, 1), False), (None, False)):
        hits = dated.search("Which bridge collapsed?", k=5, when=When(day))
        row = answerability_features("Which bridge collapsed?", hits)
        penalty_seen = row[FEATURES.index("top_prior")]
        assert penalty_seen > 1.0 if seen else penalty_seen == 0.0, day


def test_prior_penalty_is_relative_to_the_nearest_dated_candidate():
    using = Prior(2.0, 10.0, {})
    day = D(2021, 7, 28).toordinal()
    centre = ((day, day),)
    days = np.array([day - 100, day - 110, np.nan], dtype=float)
    taken = penalty(days, centre, using)
    assert taken[0] == 0.0  # the nearest dated one loses nothing
    assert taken[1] == pytest.approx(2.0 * (1 - np.exp(-1.0)), rel=1e-5)
    assert taken[2] == 0.0  # undated: neither gains nor loses
    assert np.isnan(distance(days, centre)[2])
    assert (penalty(days, None, using) == 0).all()
    # A named time is a second span: a day inside it is as near as the as-of day itself.
    named = ((day, day), (day - 400, day - 300))
    assert distance(np.array([day - 350, day - 200, day - 2.0]), named).tolist() == [0, 100, 2]


def test_window_filter_flags():
    days = np.array([D(2021, 7, 20).toordinal(), D(2021, 7, 28).toordinal(), np.nan])
    assert When(D(2021, 7, 21)).allowed(days).tolist() == [True, False, True]
    assert When().allowed(days).tolist() == [True, True, True]
    assert When(until=D(2021, 7, 25)).allowed(days).tolist() == [True, False, False]
    assert When(since=D(2021, 7, 25)).allowed(days).tolist() == [False, True, False]


def test_the_packaged_prior_loads_and_a_bad_file_is_one_line(tmp_path):
    loaded = prior()
    assert loaded.strength > 0 and loaded.scale_days > 0
    bad = tmp_path / "recency.json"
    bad.write_text('{"strength": -1, "scale_days": 3}', encoding="utf-8")
    from rag.errors import ConfigError

    with pytest.raises(ConfigError, match="must be positive"):
        prior(bad)
    assert Path(bad).exists()
