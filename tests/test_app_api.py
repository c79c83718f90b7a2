"""The chat app's JSON API through gradio_client against the real server: ask, add, remove."""

from __future__ import annotations

import html
import http.server
import re
import threading
from functools import partial

import pytest
from gradio_client import handle_file

from rag.chat import answer_from_dict, chat_history, stream_prefixes
from tests.app_fixtures import ENVOY_QUESTION, app, client  # noqa: F401 — fixtures
from tests.network import network  # noqa: F401 — fixture
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


def test_ask_names_the_envoy_with_citations(client):  # noqa: F811
    data = client.predict(ENVOY_QUESTION, api_name="/ask")
    assert data["question"] == ENVOY_QUESTION and data["abstained"] is False
    assert "Khalilzad" in data["answer"]
    assert_well_cited(data)
    assert data["citations"][0]["article_title"].startswith("US “unwilling")


def test_ask_abstains_plainly_and_still_shows_nearest_passages(client):  # noqa: F811
    data = client.predict("Who won the 2018 World Cup?", 3, api_name="/ask")
    assert data["abstained"] is True
    assert data["answer"] == "I couldn't find this in the indexed articles."
    assert 1 <= len(data["citations"]) <= 3
    assert all(c["sentence"] for c in data["citations"])


def test_empty_question_is_an_error_sentence_not_a_traceback(client):  # noqa: F811
    data = client.predict("   ", api_name="/ask")
    assert data == {
        "question": "   ",
        "error": "The question is empty; type a question about the articles.",
    }


def test_uploaded_article_is_answered_without_restart(client, app, tmp_path):  # noqa: F811
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


def test_pasted_text_and_url_are_added(client, network, tmp_path):  # noqa: F811
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


def test_add_refuses_bad_input_with_one_sentence(client, tmp_path):  # noqa: F811
    assert client.predict("", None, "", api_name="/add_article") == {
        "error": "Nothing to add; upload a file, give a URL or paste the text."
    }
    bad = client.predict("ftp://example.com/a.txt", None, "", api_name="/add_article")
    assert "is not an http(s) URL" in bad["error"]
    script = tmp_path / "run.sh"
    script.write_text("echo hi\n")
    with pytest.raises(Exception, match="Invalid file type"):
        client.predict("", handle_file(str(script)), "", api_name="/add_article")


def test_remove_article_then_it_is_no_longer_cited(client, app):  # noqa: F811
    source = str((app.root / "uploads" / "harbour-report.md").resolve())
    assert client.predict(source, api_name="/remove_article") == {"removed": [source]}
    assert not (app.root / "uploads" / "harbour-report.md").exists()
    data = client.predict("Who designed the lighthouse at Quenby harbour?", api_name="/ask")
    assert all(c["source"] != source for c in data["citations"])
    assert client.predict(source, api_name="/remove_article") == {"removed": []}


def test_many_sessions_ask_while_an_article_is_indexed(client, app):  # noqa: F811
    long_text = "Harbour almanac\n\n" + "\n\n".join(
        f"Entry {i}: the tide at Quenby rose {i % 7} metres on day {i} of the survey."
        for i in range(300)
    )
    indexing = client.submit("", None, long_text, api_name="/add_article")
    asking = [client.submit(ENVOY_QUESTION, api_name="/ask") for _ in range(6)]
    assert all("Khalilzad" in job.result(timeout=120)["answer"] for job in asking)
    assert len(indexing.result(timeout=300)["added"]) == 1
    assert client.config["max_file_size"] == app.service.config.max_bytes


def test_k_outside_its_range_is_refused(client):  # noqa: F811
    data = client.predict(ENVOY_QUESTION, 0, api_name="/ask")
    assert data["error"] == "k must be between 1 and 50, got 0."
    assert len(client.predict(ENVOY_QUESTION, 1, api_name="/ask")["citations"]) == 1


def test_history_is_rendered_from_citation_data(client):  # noqa: F811
    data = client.predict(ENVOY_QUESTION, api_name="/ask")
    messages = chat_history([{"question": ENVOY_QUESTION, "answer": data}], show_scores=True)
    assert [m["role"] for m in messages] == ["user", "assistant", "assistant"]
    sources = messages[2]
    assert sources["metadata"] == {"title": "Sources", "status": "done"}
    cited = answer_from_dict(data).citations[0]
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
