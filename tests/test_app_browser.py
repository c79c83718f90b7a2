"""The chat app in a real headless Chromium: streamed answers with sources, the library, settings,
example questions, history across a reload, answers as of a day. Saves docs/screenshot.png for
the README, and docs/screenshot-as-of.png of an answer as of a day."""

from __future__ import annotations

from tests.app_fixtures import (
    ENVOY_QUESTION,
    WATCH_STREAM,
    ask_in_page,
    upload_in_page,
)
from tests.conftest import FLOOD_QUESTION, ROOT


def test_question_streams_an_answer_with_expandable_sources(page):
    page.evaluate(WATCH_STREAM)
    ask_in_page(page, ENVOY_QUESTION)
    sources = page.locator("#chat").get_by_text("Sources", exact=True)
    sources.wait_for()
    answer = page.locator('#chat [data-testid="bot"]').first
    assert "Khalilzad" in answer.inner_text() and "[1]" in answer.inner_text()
    grew = sorted(set(page.evaluate("window.__lengths")))
    assert len(grew) >= 3, f"the answer did not stream in: lengths {grew}"

    cited = page.locator("#chat .rag-source mark").first
    assert not cited.is_visible()  # the Sources block starts collapsed
    sources.click()
    cited.wait_for(state="visible")
    assert "Khalilzad" in cited.inner_text()
    heading = page.locator("#chat .rag-source strong").first.inner_text()
    assert heading.startswith("[1] US “unwilling") and "› ¶ " in heading
    page.wait_for_timeout(800)  # let the Sources block finish sliding open for the picture
    (ROOT / "docs").mkdir(exist_ok=True)
    page.screenshot(path=str(ROOT / "docs" / "screenshot.png"))

    page.reload()  # the history, citations included, is kept in the browser
    page.locator("#chat").get_by_text("Sources", exact=True).click()
    page.locator("#chat .rag-source mark", has_text="Khalilzad").wait_for(state="visible")

    page.get_by_role("button", name="Clear").first.click()  # the bin icon forgets the history
    page.reload()
    page.locator("#chat button", has_text="Article: ").first.wait_for()  # shown on an empty chat
    assert page.locator('#chat [data-testid="bot"]').count() == 0


def test_settings_show_scores_and_limit_sources(page):
    page.get_by_role("tab", name="Settings").click()
    page.get_by_label("Show scores").check()
    ask_in_page(page, "What do experts say the Taliban want?")
    page.locator("#chat").get_by_text("Sources", exact=True).click()
    page.locator("#chat .rag-source", has_text="score ").first.wait_for()


def test_example_questions_come_from_the_corpus(page):
    example = page.locator("#chat button", has_text="Article: US “unwilling")
    example.click()
    page.locator("#chat").get_by_text("Sources", exact=True).wait_for()
    assert (
        page.locator('#chat [data-testid="user"]')
        .first.inner_text()
        .startswith("What is ‘US “unwilling")
    )


def test_uploaded_file_is_listed_and_answered_without_restart(page, tmp_path):
    article = tmp_path / "bee-census.txt"
    article.write_text(
        "Bee census in Lower Wyford\n\n"
        "Volunteers counted 1,240 wild bee nests in Lower Wyford this summer, twice as many as "
        "in the previous census.\n\nThe count was led by the beekeeper Ines Hartmann.\n",
        encoding="utf-8",
    )
    upload_in_page(page, article, "Bee census in Lower Wyford")
    row = page.locator("#library tr", has_text="Bee census in Lower Wyford")
    assert "upload: bee-census.txt" in row.inner_text()
    assert "1 added" in page.locator("#library-status").inner_text()

    ask_in_page(page, "How many wild bee nests did volunteers count in Lower Wyford?")
    page.locator("#chat").get_by_text("Sources", exact=True).click()
    assert "1,240" in page.locator('#chat [data-testid="bot"]').first.inner_text()
    cited = page.locator("#chat .rag-source strong").first.inner_text()
    assert cited.startswith("[1] Bee census in Lower Wyford › ¶ ")


def test_remove_an_article_in_the_library(page, app):
    page.get_by_role("tab", name="Library").click()
    page.locator("#library td", has_text="Bee census in Lower Wyford").wait_for()
    page.get_by_label("Remove an article").click()
    page.get_by_role("option", name="Bee census in Lower Wyford", exact=False).click()
    page.get_by_role("button", name="Remove").click()
    page.locator("#library-status", has_text="Removed 1 article").wait_for()
    assert page.locator("#library td", has_text="Bee census").count() == 0
    assert "Bee census" not in [a.title for a in app.service.articles()]


def test_answer_as_of_a_day_in_the_settings_cites_that_days_article(dated_page):
    dated_page.get_by_role("tab", name="Library").click()
    row = dated_page.locator("#library tr", has_text="Valdoria flood death toll rises to 12")
    assert "20 Jul 2021" in row.inner_text()
    assert "4 articles, 8 paragraphs." in dated_page.locator("#library").inner_text()

    dated_page.get_by_role("tab", name="Settings").click()
    dated_page.get_by_role("textbox", name="Answer as of").fill("2021-07-21")
    ask_in_page(dated_page, FLOOD_QUESTION)
    dated_page.locator("#chat").get_by_text("Sources", exact=True).click()
    heading = dated_page.locator("#chat .rag-source p").first
    heading.wait_for(state="visible")
    assert heading.inner_text().startswith(
        "[1] Valdoria flood death toll rises to 12 › ¶ 1 · 20 Jul 2021"
    )
    assert "rose to 12" in dated_page.locator('#chat [data-testid="bot"]').first.inner_text()
    dated_page.wait_for_timeout(800)  # let the Sources block finish sliding open for the picture
    dated_page.screenshot(path=str(ROOT / "docs" / "screenshot-as-of.png"))

    dated_page.get_by_role("tab", name="Settings").click()
    dated_page.get_by_role("textbox", name="Answer as of").fill("")
    dated_page.get_by_role("textbox", name="Published since").fill("2021-07-28")
    dated_page.get_by_role("textbox", name="until").fill("2021-07-20")
    ask_in_page(dated_page, FLOOD_QUESTION)
    dated_page.locator("#chat", has_text="Published since (2021-07-28) is after until").wait_for()

    dated_page.get_by_role("tab", name="Settings").click()
    dated_page.get_by_role("textbox", name="Published since").fill("")
    dated_page.get_by_role("textbox", name="until").fill("")
    dated_page.get_by_role("textbox", name="Answer as of").fill("last Tuesday")
    ask_in_page(dated_page, "Why did the river burst its banks?")
    dated_page.locator("#chat", has_text="Answer as of: 'last Tuesday' is not a date").wait_for()

    dated_page.get_by_role("tab", name="Settings").click()
    dated_page.get_by_role("textbox", name="Answer as of").fill("")
    ask_in_page(dated_page, "Why did the river burst its banks?")
    # the second answer with sources: the wire copy of the 21st, naming the version of the 20th
    dated_page.locator("#chat").get_by_text("Sources", exact=True).nth(1).click()
    also = dated_page.locator("#chat .rag-also", has_text="also reported on 20 Jul 2021")
    also.wait_for(state="visible")
