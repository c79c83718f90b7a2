"""The running app under abuse: a damaged index is a message, not a crash; odd questions and file
names get answers or sentences; uploads are limited in size and count."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import httpx
import pytest

from rag.chat.launch import UPLOAD_OVERHEAD
from rag.chat.uploads import MAX_UPLOADS
from rag.cli import main
from rag.store import current_generation
from tests.app_fixtures import (
    ENVOY_QUESTION,
    ask_in_page,
    free_port,
)
from tests.conftest import SAMPLE


def _point_at(index_dir: Path, generation: str) -> None:
    (index_dir / "CURRENT").write_text(generation + "\n")


def _damaged_copy(index_dir: Path, good: str, name: str) -> Path:
    """A copy of a good generation under another name, for a test to damage."""
    copy = index_dir / name
    shutil.copytree(index_dir / good, copy)
    return copy


def _assert_one_line_error(data: dict, *words: str) -> str:
    assert set(data) == {"question", "error"}, data
    error = data["error"]
    assert "\n" not in error and "Traceback" not in error
    for word in words:
        assert word in error, error
    return error


def test_a_damaged_index_is_a_message_and_the_app_keeps_serving(app, client, page):
    index_dir = app.root / "index"
    live = current_generation(index_dir).name
    try:
        # A truncated FAISS file in a generation that has just gone live.
        broken = _damaged_copy(index_dir, live, "gen-900001")
        vectors = broken / "paragraphs.faiss"
        vectors.write_bytes(vectors.read_bytes()[:1000])
        _point_at(index_dir, broken.name)
        _assert_one_line_error(
            client.predict(ENVOY_QUESTION, api_name="/ask"),
            f"{vectors} is not a readable FAISS index (truncated or corrupt)",
            "rebuild with: rag index ",
            " --rebuild",
        )
        # The chat shows the same sentence where the answer would be.
        ask_in_page(page, ENVOY_QUESTION)
        page.locator('#chat [data-testid="bot"]', has_text="is not a readable FAISS").wait_for()
        # Adding an article is refused with the same sentence, and changes nothing.
        added = client.predict(
            "", None, "Pasted note\n\nThe pier is closed.", api_name="/add_article"
        )
        assert "is not a readable FAISS index" in added["error"]
        assert current_generation(index_dir) == broken

        # A manifest that lies about its counts.
        lying = _damaged_copy(index_dir, live, "gen-900002")
        manifest = json.loads((lying / "manifest.json").read_text())
        (lying / "manifest.json").write_text(
            json.dumps(manifest | {"paragraphs": manifest["paragraphs"] + 1})
        )
        _point_at(index_dir, lying.name)
        _assert_one_line_error(
            client.predict(ENVOY_QUESTION, api_name="/ask"),
            f"{lying / 'index.sqlite'} holds 1 articles, {manifest['paragraphs']} paragraphs and "
            f"{manifest['sentences']} sentences but the manifest says 1, "
            f"{manifest['paragraphs'] + 1} and {manifest['sentences']}",
            "rebuild with: rag index ",
        )
    finally:
        _point_at(index_dir, live)
    assert "Khalilzad" in client.predict(ENVOY_QUESTION, api_name="/ask")["answer"]

    # The live database damaged under the running app, then repaired.
    database = current_generation(index_dir) / "index.sqlite"
    saved = database.read_bytes()
    try:
        database.write_bytes(b"this is not a database" * 200)
        _assert_one_line_error(
            client.predict(ENVOY_QUESTION, api_name="/ask"),
            f"{database} could not be read (file is not a database); rebuild with: rag index ",
        )
    finally:
        database.write_bytes(saved)
    assert "Khalilzad" in client.predict(ENVOY_QUESTION, api_name="/ask")["answer"]


def test_starting_on_a_damaged_index_prints_one_line(tmp_path, seed_index, capsys):
    index_dir = tmp_path / "index"
    shutil.copytree(seed_index, index_dir)
    database = current_generation(index_dir) / "index.sqlite"
    database.write_bytes(database.read_bytes()[:4000])
    assert main(["serve", "--index", str(index_dir), "--port", str(free_port())]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: {database} is not a readable SQLite database")
    assert f"rebuild with: rag index {SAMPLE} --index {index_dir} --rebuild" in err


@pytest.mark.parametrize(
    "question",
    [
        "x" * 100_000,
        ENVOY_QUESTION + " " + "padding " * 12_500,
        "\u202eWho is the envoy?\u202c\x00\x07\x1b[2J",
        "<img src=x onerror=alert(1)> {{7*7}} ${7*7} '; DROP TABLE articles; --",
        "\u200b\u200d\ufeff",
    ],
    ids=["100kB", "100kB-real", "controls-rtl", "markup", "invisible"],
)
def test_odd_questions_get_an_answer_through_the_api(client, question):
    data = client.predict(question, api_name="/ask")
    assert "error" not in data, data
    assert isinstance(data["answer"], str) and data["answer"]
    assert isinstance(data["citations"], list)


@pytest.mark.parametrize("question", ["", " \t\n ", "\u00a0\u2028"])
def test_empty_questions_get_one_sentence(client, question):
    assert client.predict(question, api_name="/ask") == {
        "question": question,
        "error": "The question is empty; type a question about the articles.",
    }


SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,80}\.(txt|md)")


@pytest.mark.parametrize(
    "name",
    ["y" * 1000 + ".txt", "nul\x00byte.txt", "../../../up.txt", "..\\..\\win.md", "/abs/path.md"],
    ids=["1000-chars", "nul", "dotdot", "backslashes", "absolute"],
)
def test_odd_upload_names_are_stored_inside_uploads(app, client, name):
    text = f"River notes\n\nThe river Quill floods every April; note {len(name)} {name[:3]!r}."
    sent = httpx.post(f"{app.url}gradio_api/upload", files={"files": (name, text.encode())})
    assert sent.status_code == 200, sent.text
    [path] = sent.json()
    file = {"path": path, "orig_name": name, "meta": {"_type": "gradio.FileData"}}
    report = client.predict("", file, "", api_name="/add_article")
    [stored] = map(Path, report["added"])
    assert stored.parent == (app.root / "uploads").resolve()
    assert SAFE_NAME.fullmatch(stored.name), stored.name
    assert sorted(p.name for p in app.root.iterdir()) == ["index", "index-changes.jsonl", "uploads"]


def test_upload_size_and_count_limits(app, client):
    limit = app.service.config.max_bytes
    upload = f"{app.url}gradio_api/upload"
    small = httpx.post(upload, files={"files": ("ok.txt", b"Fine.")})
    assert small.status_code == 200
    # One file over the limit: Gradio's own check.
    big = httpx.post(upload, files={"files": ("big.txt", b"a" * (limit + 1))})
    assert big.status_code == 413 and "maximum allowed size" in big.text
    # Many files, each under the limit, but more than one file's worth in all.
    part = b"a" * (limit // 3 + 1)
    many = httpx.post(upload, files=[("files", (f"p{i}.txt", part)) for i in range(4)])
    assert many.status_code == 413
    assert (
        many.text
        == f"An upload request may carry at most {limit + UPLOAD_OVERHEAD:,} bytes: one file."
    )
    # A body of unstated length cannot get around it.
    chunked = httpx.post(
        upload,
        content=iter([b"--x\r\n", b"a" * 1000]),
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert chunked.status_code == 411

    uploads = app.root / "uploads"
    uploads.mkdir(exist_ok=True)
    present = sum(1 for p in uploads.iterdir() if p.is_file())
    fillers = [uploads / f"filler-{i:04d}.txt" for i in range(MAX_UPLOADS - present)]
    for filler in fillers:
        filler.write_text("x")
    try:
        full = client.predict("", None, "Harbour note\n\nThe tide rose.", api_name="/add_article")
        assert full == {
            "error": f"The upload folder {uploads.resolve()} already holds {MAX_UPLOADS:,} "
            "articles, the most it keeps; remove some in the Library first."
        }
    finally:
        for filler in fillers:
            filler.unlink()
    added = client.predict("", None, "Harbour note\n\nThe tide rose.", api_name="/add_article")
    assert len(added["added"]) == 1
