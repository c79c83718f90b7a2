"""The command line: help text, README coverage, JSON output, batch questions, bad inputs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import subprocess
import sys

import pytest

from rag import cli
from rag.answer import Answer, Citation, Status, Verdict
from rag.cli import build_parser
from rag.ingest import Article, read_sources
from tests.conftest import FLOOD_QUESTION, ROOT, squad_path

# Each sub-command and its help line, as `rag --help` lists them under COMMAND.
HELP = dict(re.findall(r"^    (\w+)(?: +(.*))?$", build_parser().format_help(), re.M))
COMMANDS = sorted(HELP)


def rag(
    *args: str, stdin: str | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
        cwd=ROOT,
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_and_is_in_the_readme(command):
    assert HELP[command], f"{command} has no help text"
    assert f"rag {command}" in (ROOT / "README.md").read_text(), f"README lacks `rag {command}`"
    result = rag(command, "--help")
    assert result.returncode == 0 and "usage: rag" in result.stdout


def test_ask_json_has_the_documented_fields(seed_index):
    result = rag(
        "ask", "Who is the US special envoy for Afghanistan?", "--index", str(seed_index), "--json"
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"question", "answer", "abstained", "citations"} <= set(data)
    assert data["abstained"] is False and "Khalilzad" in data["answer"]
    fields = {
        "n",
        "article_title",
        "source",
        "paragraph_index",
        "paragraph_text",
        "sentence_start",
        "sentence_end",
        "score",
    }
    assert data["citations"] and all(fields <= set(c) for c in data["citations"])
    first = data["citations"][0]
    assert (
        first["paragraph_text"][first["sentence_start"] : first["sentence_end"]] in data["answer"]
    )


def test_ask_dash_reads_one_question_per_line(seed_index):
    questions = "Who is the US special envoy for Afghanistan?\n\nWho won the 2018 World Cup?\n"
    result = rag("ask", "-", "--index", str(seed_index), "--json", stdin=questions)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["abstained"] for d in lines] == [False, True]


def test_ask_prints_sources_with_the_cited_sentence_marked(seed_index):
    result = rag(
        "ask", "Which provincial capitals did the Taliban advance on?", "--index", str(seed_index)
    )
    assert result.returncode == 0, result.stderr
    assert "Sources:" in result.stdout and "› ¶" in result.stdout and "»" in result.stdout


def test_environment_sets_defaults_and_flags_win(seed_index, tmp_path):
    result = rag("info", env={"RAG_INDEX_DIR": str(seed_index)})
    assert result.returncode == 0 and "articles   1" in result.stdout
    result = rag("info", "--index", str(tmp_path / "none"), env={"RAG_INDEX_DIR": str(seed_index)})
    assert result.returncode == 1
    assert result.stderr.startswith("error: No index at")


def test_bad_environment_value_is_one_clear_line():
    result = rag("info", env={"RAG_K": "many"})
    assert result.returncode == 1
    assert result.stderr.strip() == "error: RAG_K='many' is not a valid int; fix or unset it."


def test_a_threshold_outside_zero_to_one_is_one_clear_line(seed_index):
    result = rag("ask", "Who is Ned Price?", "--index", str(seed_index), "--min-score", "1.5")
    assert result.returncode == 1 and not result.stdout
    assert result.stderr.strip() == "error: min_score is a probability between 0 and 1, got 1.5."
    result = rag("info", env={"RAG_MIN_SCORE": "-0.1"})
    assert result.returncode == 1
    assert result.stderr.strip() == "error: min_score is a probability between 0 and 1, got -0.1."


def test_bad_inputs_are_reported_and_the_rest_of_the_batch_is_indexed(tmp_path):
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / "good.txt").write_text(
        "A good article\n\nThe harbour reopened on Monday after repairs.\n"
    )
    (batch / "empty.txt").write_bytes(b"")
    (batch / "binary.txt").write_bytes(bytes(range(256)) * 64)
    (batch / "latin.txt").write_bytes(
        "Caf\xe9 news\n\nThe caf\xe9 served cr\xe8me br\xfbl\xe9e to visitors all week.\n".encode(
            "cp1252"
        )
    )
    (batch / "records.jsonl").write_text(
        '{"title": "Record one", "text": "The first record is about trains running late."}\n'
        '{"title": "broken", "text": \n'
        '{"title": "Record three", "text": "The third record is about ferries."}\n'
    )
    big = batch / "huge.txt"
    with big.open("w") as handle:
        line = "Filler text for a very large file that should not be read whole. " * 10 + "\n\n"
        while handle.tell() < 20_000_000:
            handle.write(line)
    index = tmp_path / "index"
    result = rag(
        "index",
        str(batch),
        "http://127.0.0.1:9/unreachable.html",
        "--index",
        str(index),
        env={"RAG_TIMEOUT": "2"},
    )
    assert result.returncode == 0, result.stderr
    err = result.stderr
    assert "empty.txt" in err and "binary.txt" in err and "records.jsonl#2" in err
    assert "http://127.0.0.1:9/unreachable.html" in err and "huge.txt" in err
    info = rag("info", "--index", str(index))
    for title in ("A good article", "Café news", "Record one", "Record three"):
        assert title in info.stdout
    assert "4 added" in result.stdout and "skipped" in result.stdout


def test_a_squad_file_reads_as_48_articles_and_2067_paragraphs_and_a_slice_indexes(tmp_path):
    # The whole dev file is read (each article a title, each context a paragraph); embedding all
    # of it would take minutes, so the command runs end to end on its first two articles.
    articles = [a for a in read_sources([str(squad_path())]) if isinstance(a, Article)]
    assert (len(articles), sum(len(a.blocks) for a in articles)) == (48, 2067)
    data = json.loads(squad_path().read_text(encoding="utf-8"))
    data["data"] = data["data"][:2]
    contexts = [p["context"] for article in data["data"] for p in article["paragraphs"]]
    assert [b.text for a in articles[:2] for b in a.blocks] == contexts
    source = tmp_path / "slice.json"
    source.write_text(json.dumps(data), encoding="utf-8")
    index = tmp_path / "squad"
    result = rag("index", str(source), "--index", str(index))
    assert result.returncode == 0, result.stderr
    info = rag("info", "--index", str(index), "--json")
    manifest = json.loads(info.stdout)
    assert (manifest["articles"], manifest["paragraphs"]) == (2, len(contexts))


def test_the_terminal_answer_says_why_each_unsupported_sentence_is_marked():
    sentences = (
        Verdict("Khalilzad is the envoy.", Status.SUPPORTED, cited=(1,)),
        Verdict("Born in 1851.", Status.UNSUPPORTED, cited=(1,), missing=("1851",)),
    )
    text = "Khalilzad is the envoy. [1] Born in 1851. [⚠ unsupported]"
    answer = Answer("q", text, False, (), 0.6, mode="llm", sentences=sentences, supported=0.5)
    shown = cli.format_answer(answer)
    assert "(1 of 2 sentences supported by the sources)" in shown
    assert (
        "⚠ “Born in 1851.” No retrieved paragraph supports this sentence. Its cited "
        "paragraph does not contain: 1851." in " ".join(shown.split())
    )
    assert "Khalilzad is the envoy.”" not in shown


def test_the_terminal_answer_gives_the_marked_phrase_and_the_day_it_names():
    text = "The State Department confirmed the talks on Wednesday."
    cited = Citation(
        1,
        "Talks",
        "talks.txt",
        1,
        1,
        None,
        text,
        0,
        len(text),
        1.0,
        answer_start=text.index("Wednesday"),
        answer_end=len(text) - 1,
        published="2021-07-30",
        answer_day="2021-07-28",
    )
    shown = cli.format_answer(Answer("When?", f"{text} [1]", False, (cited,), 0.8))
    assert "\nAnswer: Wednesday (28 Jul 2021) [1]\n" in shown
    plain = dataclasses.replace(cited, answer_day=None)
    assert "\nAnswer: Wednesday [1]\n" in cli.format_answer(
        Answer("When?", f"{text} [1]", False, (plain,), 0.8)
    )
    # A refusal's closest passages answer nothing.
    refusal = cli.format_answer(Answer("When?", "I couldn't find this.", True, (cited,), 0.1))
    assert "Answer:" not in refusal


def test_ask_as_of_a_day_cites_the_article_published_by_then(dated_index):
    then = rag("ask", FLOOD_QUESTION, "--index", str(dated_index), "--as-of", "2021-07-21")
    assert then.returncode == 0, then.stderr
    assert "rose to 12" in then.stdout
    assert "[1] Valdoria flood death toll rises to 12 › ¶ 1 · 20 Jul 2021\n" in then.stdout
    assert "28 Jul 2021" not in then.stdout

    today = rag("ask", FLOOD_QUESTION, "--index", str(dated_index))
    assert today.returncode == 0, today.stderr
    assert "risen to 31" in today.stdout
    assert "[1] Valdoria flood death toll reaches 31 as waters recede › ¶ 1 · 28 Jul 2021\n" in (
        today.stdout
    )


def test_the_flag_wins_over_the_environment_and_since_leaves_earlier_articles_out(dated_index):
    result = rag(
        "ask",
        FLOOD_QUESTION,
        "--index",
        str(dated_index),
        "--since",
        "2021-07-25",
        "--json",
        env={"RAG_AS_OF": "2021-07-21"},  # nothing published by then is in the window
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["abstained"] is True and data["citations"] == []
    result = rag(
        "ask",
        FLOOD_QUESTION,
        "--index",
        str(dated_index),
        "--since",
        "2021-07-25",
        "--as-of",
        "2021-07-30",
        "--json",
        env={"RAG_AS_OF": "2021-07-21"},
    )
    data = json.loads(result.stdout)
    assert "31" in data["answer"] and data["citations"]
    assert all(c["published"] >= "2021-07-25" for c in data["citations"])


def test_a_left_out_version_is_named_and_an_undated_article_has_no_day(dated_index):
    questions = "Why did the river burst its banks?\nWho was the last keeper of the lighthouse?\n"
    result = rag("ask", "-", "--index", str(dated_index), stdin=questions)
    assert result.returncode == 0, result.stderr
    # The wire copy of the 21st repeats a paragraph of the 20th: the newer is cited, the older
    # named; the lighthouse article has no date, so its source line has none.
    assert (
        "[1] Rescue teams search Valdoria villages after flood › ¶ 1 · 21 Jul 2021\n"
        "    also reported on 20 Jul 2021\n" in result.stdout
    )
    assert "Edith Marlow" in result.stdout
    assert "[1] The Quenby lighthouse keeper › ¶ 1\n" in result.stdout

    batch = rag("ask", "-", "--index", str(dated_index), "--json", stdin=questions)
    river, lighthouse = (json.loads(line) for line in batch.stdout.splitlines())
    assert river["citations"][0]["published"] == "2021-07-21"
    assert river["citations"][0]["also"] == ["2021-07-20"]
    assert lighthouse["citations"][0]["published"] is None
    assert lighthouse["citations"][0]["also"] == []


def test_info_lists_each_articles_day(dated_index):
    result = rag("info", "--index", str(dated_index))
    assert result.returncode == 0, result.stderr
    assert "  - Valdoria flood death toll rises to 12 (2 ¶, 20 Jul 2021) " in result.stdout
    assert "  - The Quenby lighthouse keeper (2 ¶) " in result.stdout


def test_a_bad_day_is_one_usage_line_and_an_empty_window_is_refused(dated_index):
    result = rag("ask", FLOOD_QUESTION, "--index", str(dated_index), "--as-of", "2021-13-01")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "rag ask: error: argument --as-of: '2021-13-01' is not a date; write it as YYYY-MM-DD, "
        "such as 2021-07-28"
    )
    result = rag(
        "ask",
        FLOOD_QUESTION,
        "--index",
        str(dated_index),
        "--since",
        "2021-07-28",
        "--until",
        "2021-07-01",
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: Published since (2021-07-28) is after until (2021-07-01); no article can be in "
        "between, so widen the window."
    )


def test_serve_takes_the_days_into_its_config():
    args = build_parser().parse_args(["serve", "--as-of", "2021-07-21", "--until", "2021-07-28"])
    config = cli._config(args)
    assert (config.as_of, config.since, config.until) == (
        dt.date(2021, 7, 21),
        None,
        dt.date(2021, 7, 28),
    )
