"""The chat app's JSON API through gradio_client against the real server: ask, add, remove."""

from __future__ import annotations

import html
import http.server
import re
import threading
from functools import partial

import pytest
from gradio_client import handle_file

from rag.answer import Answer
from rag.chat import chat_history, library_html, stream_prefixes
from tests.app_fixtures import (
    ENVOY_QUESTION,
)
from tests.conftest import FLOOD_QUESTION
from tests.test_fetch import PUBLIC


def assert_well_cited(data: dict) -> None:
    """Every [n] in the answer has a citation whose offsets cut out its cited sentence."""
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", data["answer"])}
    assert numbers and numbers == {c["n"] for c in data["citations"]}
    for c in data["citations"]:
        text = c["paragraph_text"]
        assert 0 <= c["sentence_start"] < c["sentence_end"] <= len(text)
        assert text[c["sentence_start"] : c["sentence_end"]] == c["sentence"]
        assert c["sentence"] in data["answer"]


def test_ask_names_the_envoy_with_citations(client):
    data = client.predict(ENVOY_QUESTION, api_name="/ask")
    assert data["question"] == ENVOY_QUESTION and data["abstained"] is False
    assert "Khalilzad" in data["answer"]
    assert_well_cited(data)
    assert data["citations"][0]["article_title"].startswith("US “unwilling")


def test_ask_abstains_plainly_and_still_shows_nearest_passages(client):
    data = client.predict("Who won the 2018 World Cup?", 3, api_name="/ask")
    assert data["abstained"] is True
    assert data["answer"] == "I couldn't find this in the indexed articles."
    assert 1 <= len(data["citations"]) <= 3
    assert all(c["sentence"] for c in data["citations"])


def test_empty_question_is_an_error_sentence_not_a_traceback(client):
    data = client.predict("   ", api_name="/ask")
    assert data == {
        "question": "   ",
        "error": "The question is empty; type a question about the articles.",
    }


def test_uploaded_article_is_answered_without_restart(client, app, tmp_path):
    article = tmp_path / "harbour-report.md"
    article.write_text(
        "# Quenby harbour report\n\n"
        "The new lighthouse at Quenby harbour was designed by the engineer Marta Olsen. "
        "It was switched on in March after two years of building.\n\n"
        "## Costs\n\nThe harbour board paid 4 million euros for the lighthouse.\n",
        encoding="utf-8",
    )
    report = client.predict("", handle_file(str(article)), "", api_name="/add_article")
    assert len(report["added"]) == 1 and report["skipped"] == []
    stored = app.root / "uploads" / "harbour-report.md"
    assert report["added"] == [str(stored.resolve())] and stored.is_file()

    data = client.predict("Who designed the lighthouse at Quenby harbour?", api_name="/ask")
    assert not data["abstained"] and "Marta Olsen" in data["answer"]
    assert_well_cited(data)
    assert data["citations"][0]["article_title"] == "Quenby harbour report"

    again = client.predict("", handle_file(str(article)), "", api_name="/add_article")
    assert again["added"] == [] and again["unchanged"] == 1


def test_pasted_text_and_url_are_added(client, network, tmp_path):
    pasted = client.predict(
        "",
        None,
        "Glassblowers of Murano\n\nThe glassblowers of Murano moved their furnaces "
        "to the island in 1291 to protect Venice from fires.",
        api_name="/add_article",
    )
    assert len(pasted["added"]) == 1 and pasted["added"][0].endswith(".txt")

    (tmp_path / "page.html").write_text(
        "<html><head><title>Orchard notes</title></head><body><article><h1>Orchard notes</h1>"
        "<p>The oldest pear tree in the Kettering orchard was planted in 1873 by a monk named "
        "Anselm, and it still bears fruit every September.</p></article></body></html>",
        encoding="utf-8",
    )
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        # A public site, as the app fetches only those; the test network serves it locally.
        network.name("orchard.example", [PUBLIC])
        network.route(PUBLIC, 80, server.server_address[1])
        url = "http://orchard.example/page.html"
        added = client.predict(url, None, "", api_name="/add_article")
        server.shutdown()
    assert added["added"] == [url], added

    data = client.predict("Who planted the oldest pear tree in the orchard?", api_name="/ask")
    assert "Anselm" in data["answer"] and data["citations"][0]["source"] == url
    data = client.predict("When did the glassblowers move to Murano?", api_name="/ask")
    assert "1291" in data["answer"]


def test_add_refuses_bad_input_with_one_sentence(client, tmp_path):
    assert client.predict("", None, "", api_name="/add_article") == {
        "error": "Nothing to add; upload a file, give a URL or paste the text."
    }
    bad = client.predict("ftp://example.com/a.txt", None, "", api_name="/add_article")
    assert "is not an http(s) URL" in bad["error"]
    script = tmp_path / "run.sh"
    script.write_text("echo hi\n")
    with pytest.raises(Exception, match="Invalid file type"):
        client.predict("", handle_file(str(script)), "", api_name="/add_article")


def test_remove_article_then_it_is_no_longer_cited(client, app):
    source = str((app.root / "uploads" / "harbour-report.md").resolve())
    assert client.predict(source, api_name="/remove_article") == {"removed": [source]}
    assert not (app.root / "uploads" / "harbour-report.md").exists()
    data = client.predict("Who designed the lighthouse at Quenby harbour?", api_name="/ask")
    assert all(c["source"] != source for c in data["citations"])
    assert client.predict(source, api_name="/remove_article") == {"removed": []}


def test_many_sessions_ask_while_an_article_is_indexed(client, app):
    long_text = "Harbour almanac\n\n" + "\n\n".join(
        f"Entry {i}: the tide at Quenby rose {i % 7} metres on day {i} of the survey."
        for i in range(300)
    )
    indexing = client.submit("", None, long_text, api_name="/add_article")
    asking = [client.submit(ENVOY_QUESTION, api_name="/ask") for _ in range(6)]
    assert all("Khalilzad" in job.result(timeout=120)["answer"] for job in asking)
    assert len(indexing.result(timeout=300)["added"]) == 1
    assert client.config["max_file_size"] == app.service.config.max_bytes


def test_k_outside_its_range_is_refused(client):
    data = client.predict(ENVOY_QUESTION, 0, api_name="/ask")
    assert data["error"] == "k must be between 1 and 50, got 0."
    assert len(client.predict(ENVOY_QUESTION, 1, api_name="/ask")["citations"]) == 1


def test_history_is_rendered_from_citation_data(client):
    data = client.predict(ENVOY_QUESTION, api_name="/ask")
    messages = chat_history([{"question": ENVOY_QUESTION, "answer": data}], show_scores=True)
    assert [m["role"] for m in messages] == ["user", "assistant", "assistant"]
    sources = messages[2]
    assert sources["metadata"] == {"title": "Sources", "status": "done"}
    cited = Answer.from_dict(data).citations[0]
    text, start, end = cited.paragraph_text, cited.answer_start, cited.answer_end
    # A "who" question: the person's name is the marked answer phrase, bold inside the highlight.
    assert start is not None and "Khalilzad" in text[start:end]
    marked = (
        html.escape(text[cited.sentence_start : start])
        + f'<strong class="rag-answer">{html.escape(text[start:end])}</strong>'
        + html.escape(text[end : cited.sentence_end])
    )
    assert f"<mark>{marked}</mark>" in sources["content"]
    assert "› ¶ " in sources["content"] and "score " in sources["content"]


def test_answer_streams_in_word_chunks():
    parts = list(stream_prefixes("one two three four five six seven [1]", words=3))
    assert parts == [
        "one two three",
        "one two three four five six",
        "one two three four five six seven [1]",
    ]


def test_ask_as_of_a_day_cites_the_article_published_by_then(dated_client):
    today = dated_client.predict(FLOOD_QUESTION, api_name="/ask")
    assert "31" in today["answer"] and today["citations"][0]["published"] == "2021-07-28"
    # The new inputs come after the old ones: question, k, history, llm, as_of, since, until.
    then = dated_client.predict(FLOOD_QUESTION, 5, [], True, "2021-07-21", api_name="/ask")
    assert not then["abstained"] and "rose to 12" in then["answer"]
    assert [c["published"] for c in then["citations"]] == ["2021-07-20"]
    assert_well_cited(then)
    window = dated_client.predict(FLOOD_QUESTION, since="2021-07-25", api_name="/ask")
    assert window["citations"] and all(c["published"] >= "2021-07-25" for c in window["citations"])


def test_a_bad_day_or_an_empty_window_is_an_error_sentence(dated_client):
    bad = dated_client.predict(FLOOD_QUESTION, as_of="28/07/2021", api_name="/ask")
    assert bad == {
        "question": FLOOD_QUESTION,
        "error": "Answer as of: '28/07/2021' is not a date; write it as YYYY-MM-DD, such as "
        "2021-07-28.",
    }
    empty = dated_client.predict(
        FLOOD_QUESTION, since="2021-07-28", until="2021-07-20", api_name="/ask"
    )
    assert empty["error"] == (
        "Published since (2021-07-28) is after until (2021-07-20); no article can be in "
        "between, so widen the window."
    )


def test_an_undated_article_is_answered_alike_and_shown_without_a_day(dated_client):
    question = "Who was the last keeper of the Quenby lighthouse?"
    now = dated_client.predict(question, api_name="/ask")
    then = dated_client.predict(question, as_of="2021-07-21", api_name="/ask")
    assert "Edith Marlow" in now["answer"] and now["answer"] == then["answer"]
    assert now["citations"][0]["published"] is None and now["citations"][0]["also"] == []
    sources = chat_history([{"question": question, "answer": now}])[2]["content"]
    assert "The Quenby lighthouse keeper › ¶ 1</strong><" in sources
    assert "rag-published" not in sources and "also reported" not in sources
    # A window names days, so an article without one is not in it.
    windowed = dated_client.predict(question, since="2021-01-01", api_name="/ask")
    assert all(c["published"] for c in windowed["citations"])


def test_citations_show_their_day_and_the_versions_left_out(dated_client):
    data = dated_client.predict("Why did the river burst its banks?", api_name="/ask")
    cited = Answer.from_dict(data).citations[0]
    assert (cited.published, cited.also) == ("2021-07-21", ("2021-07-20",))
    sources = chat_history([{"question": "q", "answer": data}])[2]["content"]
    assert (
        "[1] Rescue teams search Valdoria villages after flood › ¶ 1</strong> · "
        '<span class="rag-published">21 Jul 2021</span><br>'
        '<span class="rag-also">also reported on 20 Jul 2021</span>' in sources
    )


def test_the_library_counts_in_the_singular_and_shows_days(dated_app):
    articles = dated_app.service.articles()
    assert library_html(articles).startswith("<p>4 articles, 8 paragraphs.</p>")
    one = [a for a in articles if a.title == "Valdoria flood death toll rises to 12"]
    html_one = library_html(one)
    assert html_one.startswith("<p>1 article, 2 paragraphs.</p>")
    assert "<td>Valdoria flood death toll rises to 12</td><td>20 Jul 2021</td>" in html_one
    undated = library_html([a for a in articles if a.published is None])
    assert "<td>The Quenby lighthouse keeper</td><td></td>" in undated
