"""Tests for rag.dates and the publication day every reader gives an article."""

from __future__ import annotations

import io
import json
import os
from datetime import date
from pathlib import Path

import pypdf
import pytest

from rag.dates import Window, dateline, day_named, format_day, parse_date, question_window
from rag.ingest import Article, parse_html, parse_pdf, parse_records, parse_text, read_sources
from tests.test_ingest import SEED, make_pdf

# --- parse_date ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2021-07-28",
        "2021-07-28T04:12:00Z",
        "2021-07-28T04:12:00+08:00",
        "2021-07-28T23:30:00-05:00",  # the day as written, not moved to UTC
        "2021-07-28 04:12:00",
        "2021-07-28T04:12:00.123456+00:00",
        "20210728",
        "2021/07/28",
        "July 28, 2021",
        "Jul 28, 2021",
        "Jul. 28th, 2021",
        "28 July 2021",
        "28 Jul 2021",
        "JULY 28, 2021",
        "Wednesday, July 28, 2021",
        "Updated 0412 GMT (1212 HKT) July 28, 2021",
        "Published 10:15 AM EDT, Wed July 28, 2021",
        "Wed, 28 Jul 2021 04:12:00 GMT",
        "Wed, 28 Jul 2021 04:12:00 +0800",
        "D:20210728041200+00'00'",
        "D:20210728041200Z",
        "D:20210728",
        "28/07/2021",  # only one reading is a real date
        "28.07.2021",
        "  July   28,\n2021 ",
    ],
)
def test_parse_date_reads_every_common_form(value: str) -> None:
    assert parse_date(value) == "2021-07-28"


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "garbage",
        "soon",
        "07/08/2021",  # July 8 or 7 August: not guessed
        "2021-02-30",
        "February 30, 2021",
        "D:20210230",
        "1899-12-31",
        "2101-01-01",
        "July 2021",  # a month is not a day
        "2021-07",
        "2021",
        "D:2021",
        "1627430400",  # a Unix time is a number, not a written date
        "Jul 28, 21",
    ],
)
def test_parse_date_none_without_a_real_day(value: str | None) -> None:
    assert parse_date(value) is None


def test_parse_date_bounds_and_leap_day() -> None:
    assert parse_date("1900-01-01") == "1900-01-01"
    assert parse_date("2100-12-31") == "2100-12-31"
    assert parse_date("Feb 29, 2024") == "2024-02-29"
    assert parse_date("Feb 29, 2023") is None
    assert parse_date("07/07/2021") == "2021-07-07"  # both readings are the same day


@pytest.mark.parametrize(
    ("text", "published", "day"),
    [
        # Published on Friday 30 July 2021: "Wednesday" is two days before ...
        ("The State Department said Wednesday that talks go on.", "2021-07-30", "2021-07-28"),
        # ... and the same day when published on a Wednesday.
        ("“We are not ready,” he said. He said Wednesday.", "2021-07-28", "2021-07-28"),
        ("The chain filed for bankruptcy Monday.", "2020-05-04", "2020-05-04"),
        (
            "The earthquake, which occurred on Thursday morning, hit the coast.",
            "2020-05-04",
            "2020-04-30",
        ),
        (
            "Published later in the day: the envoy spoke Sunday.",
            "2021-08-02T18:00:00Z",
            "2021-08-01",
        ),
        # A name, a date given with it, a day ahead or of an open week: no day.
        ("Joe Biden won the primaries on Super Tuesday.", "2020-03-05", None),
        ("Fans will return for the event on Saturday, April 25, 2020.", "2020-04-01", None),
        ("The talks will resume on Friday.", "2021-07-28", None),
        ("They met again last Friday.", "2021-07-28", None),
        ("The show aired its final episode on Tuesday.", None, None),
    ],
)
def test_a_weekday_names_the_day_it_was_before_publication(
    text: str, published: str | None, day: str | None
) -> None:
    weekday = next(
        w
        for w in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
        if w in text
    )
    start = text.index(weekday)
    assert day_named(text, start, start + len(weekday), published) == day


def test_only_a_bare_weekday_names_a_day() -> None:
    text = "The envoy said on 28 July 2021 that talks go on."
    start = text.index("28 July 2021")
    assert day_named(text, start, start + len("28 July 2021"), "2021-07-30") is None


def test_format_day() -> None:
    assert format_day("2021-07-28") == "28 Jul 2021"
    assert format_day("2021-07-04") == "4 Jul 2021"
    assert format_day("2021-12-01T10:00:00Z") == "1 Dec 2021"
    assert format_day(None) == ""
    assert format_day("no date") == ""


# --- dateline --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Taliban talks stall\nUpdated 0412 GMT (1212 HKT) July 28, 2021\n\nThe talks stalled.",
        "Published July 28, 2021",
        "Published: 10:15 AM EDT, Wed July 28, 2021",
        "Posted on 28 July 2021",
        "Last updated: Wed, 28 Jul 2021 04:12 GMT",
        "Last modified on 2021-07-28",
        "Wednesday, July 28, 2021",
        "2021-07-28T04:12:00Z",
        "By Ana Lopez, CNN | Updated 0412 GMT (1212 HKT) July 28, 2021",
        "**Published July 28, 2021**",
        "Published July 28, 2021, updated July 29, 2021",  # the first publication
        "Title\nBy Ana Lopez\n\n28 July 2021\n\nBody text follows here.",
    ],
)
def test_dateline_finds_the_day_in_a_dateline(text: str) -> None:
    assert dateline(text) == "2021-07-28"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "The talks resumed on July 28, 2021.",
        "On July 28, 2021 the council voted to close the bridge.",
        "Published in 1998, the book was reissued on July 28, 2021.",
        "Updated 3 hours ago",
        "Published July 2021",
        "Title\n" + "The council met on July 28, 2021 and agreed the budget. " * 4,
        # a dateline far down the body is not the article's
        "\n".join(f"Paragraph {n} of the story." for n in range(1, 12)) + "\nJuly 28, 2021",
    ],
)
def test_dateline_ignores_dates_in_prose_and_far_lines(text: str) -> None:
    assert dateline(text) is None


# --- question_window -------------------------------------------------------------------------

AS_OF = date(2022, 3, 15)  # a Tuesday


def window(start: str, end: str) -> Window:
    return Window(date.fromisoformat(start), date.fromisoformat(end))


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What happened in 2021?", window("2021-01-01", "2021-12-31")),
        ("What did the envoy say during 2021?", window("2021-01-01", "2021-12-31")),
        ("Who won the 2018 World Cup?", window("2018-01-01", "2018-12-31")),
        ("Who won the election of 2020?", window("2020-01-01", "2020-12-31")),
        ("What happened in March 2021?", window("2021-03-01", "2021-03-31")),
        ("What did Price say March 2021?", window("2021-03-01", "2021-03-31")),
        ("What happened last March?", window("2021-03-01", "2021-03-31")),
        ("What happened this March?", window("2022-03-01", "2022-03-31")),
        ("What happened in March?", window("2022-03-01", "2022-03-31")),
        ("What happened in May?", window("2021-05-01", "2021-05-31")),
        ("What happened in mid-February?", window("2022-02-01", "2022-02-28")),
        ("What happened on July 4?", window("2021-07-04", "2021-07-04")),
        ("What happened July 4th?", window("2021-07-04", "2021-07-04")),
        ("What happened on 14 March?", window("2022-03-14", "2022-03-14")),
        ("What happened on July 4, 2021?", window("2021-07-04", "2021-07-04")),
        ("What happened on 4 July 2021?", window("2021-07-04", "2021-07-04")),
        ("What happened on 2021-07-04?", window("2021-07-04", "2021-07-04")),
        ("What happened last week?", window("2022-03-08", "2022-03-14")),
        ("What happened last month?", window("2022-02-01", "2022-02-28")),
        ("What happened last year?", window("2021-01-01", "2021-12-31")),
        ("What happened this year?", window("2022-01-01", "2022-03-15")),
        ("What happened this month?", window("2022-03-01", "2022-03-15")),
        ("What happened this week?", window("2022-03-14", "2022-03-15")),
        ("What happened yesterday?", window("2022-03-14", "2022-03-14")),
        ("Who spoke today?", window("2022-03-15", "2022-03-15")),
        ("Today, who leads the talks?", window("2022-03-15", "2022-03-15")),
        ("What happened in the past month?", window("2022-02-13", "2022-03-15")),
        ("What happened in the 1990s?", window("1990-01-01", "1999-12-31")),
        ("What changed since 2020?", window("2020-01-01", "2022-03-15")),
        ("What changed since March 2021?", window("2021-03-01", "2022-03-15")),
        ("What happened between 2019 and 2021?", window("2019-01-01", "2021-12-31")),
        ("What caused the 2019-2021 drought?", window("2019-01-01", "2021-12-31")),
    ],
)
def test_question_window_reads_the_time_a_question_names(question: str, expected: Window) -> None:
    assert question_window(question, AS_OF) == expected


def test_last_and_this_month_name_depend_on_the_day_asked() -> None:
    in_april = date(2022, 4, 2)
    assert question_window("What happened last March?", in_april) == window(
        "2022-03-01", "2022-03-31"
    )
    assert question_window("What happened in April?", in_april) == window(
        "2022-04-01", "2022-04-30"
    )
    assert question_window("What happened in December?", in_april) == window(
        "2021-12-01", "2021-12-31"
    )
    assert question_window("What happened last month?", date(2022, 1, 10)) == window(
        "2021-12-01", "2021-12-31"
    )
    assert question_window("What happened on Feb 29?", AS_OF) == window("2020-02-29", "2020-02-29")


@pytest.mark.parametrize(
    "question",
    [
        "Who is the US special representative for reconciliation in Afghanistan?",
        "Who may lead the talks?",
        "May I ask who leads the talks?",
        "What was the march on Washington?",
        "What was the March on Washington about?",
        "Who won the Second World War?",
        "What happened after World War II?",
        "How many died, 2021 people?",
        "Were more than 2000 troops sent?",
        "Were more than 2000 sent?",
        "Did a total of 2000 vote?",
        "What happened at 1900 GMT?",
        "What is Agenda 2030?",
        "What did USA Today report?",
        "What happened in the last week of the talks?",
        "What was the last year the team won?",
        "Which provincial capitals did the Taliban advance on?",
    ],
)
def test_question_window_none_when_no_time_is_named(question: str) -> None:
    assert question_window(question, AS_OF) is None


def test_window_contains_and_rejects_a_backwards_span() -> None:
    march = window("2021-03-01", "2021-03-31")
    assert march.contains("2021-03-31") and march.contains(date(2021, 3, 1))
    assert not march.contains("2021-04-01") and not march.contains(None)
    with pytest.raises(ValueError, match="starts 2021-03-31 after it ends 2021-03-01"):
        Window(date(2021, 3, 31), date(2021, 3, 1))


# --- the publication day each reader gives ---------------------------------------------------

BODY = "".join(
    f"<p>Paragraph {n}: the council met again to discuss the bridge repairs and the money "
    "set aside for them in the coming years.</p>"
    for n in range(1, 5)
)


def page(head: str = "", top: str = "") -> str:
    return (
        f"<html><head><title>Bridge | Site</title>{head}</head><body><article>"
        f"<h1>Bridge repairs</h1>{top}{BODY}</article></body></html>"
    )


def test_html_prefers_article_published_time() -> None:
    html = page(
        '<meta property="article:published_time" content="2021-07-28T04:12:00+08:00">'
        '<meta name="date" content="2020-01-01">'
        '<script type="application/ld+json">{"@type": "NewsArticle", '
        '"datePublished": "2019-05-05"}</script>',
        "<p>Updated 0412 GMT (1212 HKT) June 1, 2018</p>",
    )
    assert parse_html(html, "bridge.html").published == "2021-07-28"


@pytest.mark.parametrize(
    "ld",
    [
        {"@type": "NewsArticle", "datePublished": "2021-07-28T04:12:00Z"},
        [
            {"@type": "Organization", "name": "Site"},
            {"@type": "Article", "datePublished": "Jul 28, 2021"},
        ],
        {
            "@context": "https://schema.org",
            "@graph": [
                {"@type": "ImageObject", "datePublished": "2019-01-01"},
                {"@type": "NewsArticle", "datePublished": "2021-07-28"},
            ],
        },
    ],
)
def test_html_json_ld_date_published(ld: object) -> None:
    html = page(f'<script type="application/ld+json">{json.dumps(ld)}</script>')
    assert parse_html(html, "bridge.html").published == "2021-07-28"


def test_html_broken_json_ld_falls_through_to_meta_date() -> None:
    html = page(
        '<script type="application/ld+json">{"datePublished": </script>'
        '<meta name="date" content="July 28, 2021">'
    )
    assert parse_html(html, "bridge.html").published == "2021-07-28"


def test_html_time_element_in_the_article() -> None:
    html = page(top='<p>By Ana Lopez, <time datetime="2021-07-28T09:00">this morning</time></p>')
    assert parse_html(html, "bridge.html").published == "2021-07-28"


def test_html_cnn_dateline_in_the_body_is_read_then_dropped(tmp_path: Path) -> None:
    path = tmp_path / "cnn.html"
    path.write_text(page(top="<p>Updated 0412 GMT (1212 HKT) July 28, 2021</p>"))
    [article] = read_sources([str(path)])
    assert isinstance(article, Article)
    assert article.published == "2021-07-28"
    assert not any("GMT" in b.text for b in article.blocks)
    small = "<html><body><h1>Tiny</h1><p>Published July 28, 2021</p><p>One line.</p></body></html>"
    assert parse_html(small, "tiny.html").published == "2021-07-28"


def test_html_without_a_date_has_none_whatever_the_file_time(tmp_path: Path) -> None:
    path = tmp_path / "undated.html"
    path.write_text(page(top="<p>The council first met on a Monday in spring.</p>"))
    stamp = date(2021, 7, 28)
    seconds = (stamp - date(1970, 1, 1)).days * 86400 + 43200
    os.utime(path, (seconds, seconds))
    [article] = read_sources([str(path)])
    assert isinstance(article, Article)
    assert article.published is None


def test_markdown_front_matter_date_is_normalized() -> None:
    text = "---\ntitle: Notes\npublished: Wed, 28 Jul 2021 04:12:00 GMT\n---\nIntro text here.\n"
    assert parse_text(text, "notes.md").published == "2021-07-28"
    unreadable = "---\ntitle: Notes\ndate: sometime\n---\n*Posted on 28 July 2021*\n\nIntro.\n"
    assert parse_text(unreadable, "notes.md").published == "2021-07-28"
    assert (
        parse_text("---\ntitle: Notes\ndate: 07/08/2021\n---\nIntro.\n", "n.md").published is None
    )


def test_plain_text_dateline_is_read_then_dropped() -> None:
    text = (
        "Bridge repairs\nUpdated 0412 GMT (1212 HKT) July 28, 2021\n\n"
        "The council met again to discuss the bridge.\n"
    )
    article = parse_text(text, "bridge.txt")
    assert article.published == "2021-07-28"
    assert [b.text for b in article.blocks] == ["The council met again to discuss the bridge."]
    prose = "Bridge repairs\n\nThe council met on July 28, 2021 to discuss the bridge.\n"
    assert parse_text(prose, "bridge.txt").published is None


def test_records_published_is_normalized_and_bad_dates_are_none() -> None:
    lines = [
        {"id": "a", "title": "A", "text": "Alpha.", "published": "2021-07-28T04:12:00Z"},
        {"id": "b", "title": "B", "text": "Beta.", "published": "not a date"},
        {"id": "c", "title": "C", "text": "Gamma.", "published": 20210728},
        {"id": "d", "title": "D", "text": "Delta."},
        {"id": "e", "title": "E", "text": "Epsilon.", "published": ["2021-07-28"]},
    ]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    results = list(parse_records(data, "r.jsonl"))
    assert [r.published for r in results if isinstance(r, Article)] == [
        "2021-07-28",
        None,
        "2021-07-28",
        None,
        None,
    ]


def pdf_with_creation_date(created: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(make_pdf([["Report", "Sales rose."]])))
    writer.add_metadata({"/CreationDate": created})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_creation_date_is_the_day_as_written() -> None:
    data = pdf_with_creation_date("D:20210728231500-05'00'")
    assert parse_pdf(data, "r.pdf", max_seconds=30).published == "2021-07-28"
    # a malformed date leaves the PDF readable, without a day
    broken = parse_pdf(pdf_with_creation_date("D:2021xx"), "r.pdf", max_seconds=30)
    assert (broken.published, [b.text for b in broken.blocks]) == (None, ["Sales rose."])


def test_pdf_without_creation_date_takes_a_dateline_from_its_first_lines() -> None:
    data = make_pdf([["Annual Report", "Published July 28, 2021", "Sales rose by a tenth."]])
    article = parse_pdf(data, "r.pdf", max_seconds=30)
    assert (article.title, article.published) == ("Annual Report", "2021-07-28")
    assert [b.text for b in article.blocks] == ["Sales rose by a tenth."]


def test_seed_sample_has_no_date_to_give() -> None:
    # the sample holds no dateline, front matter or date line, so no day is invented for it
    [article] = read_sources([str(SEED)])
    assert isinstance(article, Article)
    assert article.published is None
