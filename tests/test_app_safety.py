"""Safety of the chat app: markup in articles and questions stays inert in a real browser, uploads
stay inside their folder, and sharing always needs a login and fails soft without a network."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import subprocess
import sys
import threading
import time
from importlib.metadata import version

import httpx
import pytest
from gradio_client import Client, handle_file

from rag.answer import Answer, Status, Verdict
from rag.chat import decide_login, safe_upload_name, store_upload
from rag.chat.render import answer_html
from rag.chat.service import OWNER_ONLY
from rag.errors import ConfigError, UploadError
from rag.store import current_generation
from tests.app_fixtures import (
    ENVOY_QUESTION,
    XSS_ARTICLE,
    ask_in_page,
    free_port,
    upload_in_page,
)
from tests.conftest import ROOT

IMG = '<img src=x onerror="window.__xss=1">'


def test_markup_in_articles_and_questions_shows_as_text(page, tmp_path):
    article = tmp_path / "zorblat.txt"
    article.write_text(XSS_ARTICLE, encoding="utf-8")
    upload_in_page(page, article, "Zorblat festival")
    assert f"Zorblat festival {IMG}" in page.locator("#library").inner_text()

    ask_in_page(page, f"{IMG} When is the Zorblat festival held?")
    sources = page.locator("#chat").get_by_text("Sources", exact=True)
    sources.wait_for()
    sources.click()
    cited = page.locator("#chat .rag-source").first
    cited.wait_for(state="visible")
    assert f"Zorblat festival {IMG} › ¶ " in cited.inner_text()
    assert "<script>window.__xss=1</script>" in cited.inner_text()
    assert IMG in page.locator('#chat [data-testid="user"]').first.inner_text()

    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("#chat script, #library script").count() == 0


# A Markdown code block keeps its blank lines; what follows one must not become Markdown.
FENCED_ARTICLE = (
    "# Quokka census\n\n"
    "The quokka census on Rottnest island was led by Ada Pemberton in 2021.\n\n"
    "```\n"
    "quokka census raw tally sheet\n"
    "\n"
    "![tracker](http://127.0.0.1:9/track.png) [click me](javascript:window.__xss=1) **loud**\n"
    "```\n"
)
TRACKER = "![tracker](http://127.0.0.1:9/track.png)"


def test_markdown_after_a_blank_line_in_an_article_stays_text(app, client, page, tmp_path):
    article = tmp_path / "quokka.md"
    article.write_text(FENCED_ARTICLE, encoding="utf-8")
    assert len(client.predict("", handle_file(str(article)), "", api_name="/add_article")["added"])
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    ask_in_page(page, "quokka census raw tally sheet tracker click me loud")
    sources = page.locator("#chat").get_by_text("Sources", exact=True)
    sources.wait_for()
    sources.click()
    cited = page.locator("#chat .rag-source mark", has_text="quokka census raw tally").first
    cited.wait_for(state="visible")
    assert TRACKER in page.locator('#chat [data-testid="bot"]').first.inner_text()
    assert TRACKER in cited.inner_text() and "**loud**" in cited.inner_text()
    assert page.locator("#chat img").count() == 0
    assert page.locator("#chat a", has_text="click me").count() == 0
    assert page.locator("#chat strong", has_text="loud").count() == 0
    assert not [url for url in requested if url.startswith("http://127.0.0.1:9/")]


MARKED_TITLE = 'Harbour <b>gala</b> <img src=x onerror="window.__xss=2">'


def test_markup_in_titles_and_sources_stays_text_everywhere_it_is_shown(
    app,
    client,
    page,
    tmp_path,
):
    article = tmp_path / "gala.txt"
    article.write_text(
        f"{MARKED_TITLE}\n\nThe harbour gala of Quenby ends with fireworks over the pier.\n",
        encoding="utf-8",
    )
    assert len(client.predict("", handle_file(str(article)), "", api_name="/add_article")["added"])
    page.reload()  # the newest titles become the example questions of an empty chat
    example = page.locator("#chat button", has_text="Article: Harbour <b>gala</b> <img src=x")
    example.wait_for()
    page.get_by_role("tab", name="Library").click()
    page.locator("#library td", has_text=MARKED_TITLE).wait_for()
    page.get_by_label("Remove an article").click()
    page.get_by_role("option", name=MARKED_TITLE, exact=False).wait_for()
    page.keyboard.press("Escape")
    # A source's name in the indexing report, too.
    marked_url = "http://127.0.0.1:9/<img src=x onerror=window.__xss=3>.html"
    page.get_by_label("…or its URL").fill(marked_url)
    page.get_by_role("button", name="Add to library").click()
    page.locator("#library-status", has_text=f"Skipped {marked_url}: refused").wait_for()
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("img[src='x'], b", has_text="gala").count() == 0
    assert page.locator("img[src='x']").count() == 0


def test_only_the_apps_own_files_are_served(app, client, seed_index):
    sent = httpx.post(
        f"{app.url}gradio_api/upload",
        files={"files": ("served.txt", b"Served notes\n\nThe ferry leaves at dawn.")},
    )
    [cached] = sent.json()
    served = httpx.get(f"{app.url}gradio_api/file={cached}")
    assert served.status_code == 200 and served.text.startswith("Served notes")  # the control
    file = {"path": cached, "orig_name": "served.txt", "meta": {"_type": "gradio.FileData"}}
    [stored] = client.predict("", file, "", api_name="/add_article")["added"]
    generation = current_generation(app.root / "index")
    private = [
        "/etc/passwd",
        "/proc/self/environ",
        str(app.root / "index" / "CURRENT"),
        str(generation / "index.sqlite"),
        str(generation / "manifest.json"),
        str(seed_index / "CURRENT"),
        stored,  # uploads/ is the library's, not the web's
        str(ROOT / "README.md"),
        "README.md",
        "app.py",
        "rag/chat/launch.py",
        "../../../../etc/passwd",
        "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    ]
    for path in private:
        for route in ("gradio_api/file=", "gradio_api/file/", "file="):
            answer = httpx.get(f"{app.url}{route}{path}")
            assert answer.status_code in (403, 404), (route, path, answer.status_code)
            assert "root:" not in answer.text and "Served notes" not in answer.text


def test_gradio_is_past_the_path_traversal_and_file_read_advisories():
    # The known path-traversal and file-read advisories concern Gradio releases before 6.16.
    installed = tuple(int(part) for part in version("gradio").split(".")[:2])
    assert installed >= (6, 16), f"gradio {version('gradio')} is older than 6.16"
    required = re.search(r'"gradio>=(\d+)\.(\d+)', (ROOT / "pyproject.toml").read_text())
    assert required and tuple(map(int, required.groups())) >= (6, 16)


@pytest.mark.parametrize("name", ["../../x.txt", "..\\..\\x.txt", "/etc/x.txt", "a/../../x.txt"])
def test_upload_names_stay_inside_the_upload_folder(tmp_path, name):
    folder = tmp_path / "uploads"
    stored = store_upload(folder, name, b"A title\n\nSome text.", 1000)
    assert stored == folder.resolve() / "x.txt"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "uploads",
        "uploads/x.txt",
    ]


def test_upload_type_and_size_limits_name_the_problem(tmp_path):
    assert safe_upload_name("../.hidden notes.MD") == "hidden-notes.md"
    with pytest.raises(UploadError, match=r"'../../run.sh' is not an accepted file type; upload"):
        safe_upload_name("../../run.sh")
    with pytest.raises(UploadError, match="larger than the 10-byte limit"):
        store_upload(tmp_path, "big.txt", b"x" * 11, 10)


def test_traversal_name_sent_to_the_server_lands_in_uploads(app, client):
    sent = httpx.post(
        f"{app.url}gradio_api/upload",
        files={"files": ("../../x.txt", b"River notes\n\nThe river Quill floods in April.")},
    )
    [path] = sent.json()
    file = {"path": path, "orig_name": "../../x.txt", "meta": {"_type": "gradio.FileData"}}
    report = client.predict("", file, "", api_name="/add_article")
    assert report["added"] == [str(app.root.resolve() / "uploads" / "x.txt")]
    assert not (app.root.parent / "x.txt").exists() and not (app.root / "x.txt").exists()


def test_share_requires_a_login():
    generated = decide_login(share=True, auth=None)
    assert generated.user == "rag" and generated.generated and len(generated.password) >= 16
    assert decide_login(share=True, auth=None).password != generated.password
    given = decide_login(share=True, auth="ana:s3cret:with:colons")
    assert (given.user, given.password, given.generated) == ("ana", "s3cret:with:colons", False)
    assert decide_login(share=False, auth=None) is None
    with pytest.raises(ConfigError, match="must look like user:password, got 'ana'"):
        decide_login(share=False, auth="ana")


def test_first_start_builds_the_sample_index_and_share_failure_keeps_serving(tmp_path):
    """No index yet: the app builds one from data/sample, then serves; --share without network
    prints one line saying why and the fix, and the app answers locally behind its login."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("RAG_AUTH", "RAG_SHARE")}
    # A proxy that refuses every connection: the share link fails here even on a networked CI.
    env |= {
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    command = [
        sys.executable,
        "app.py",
        "--index",
        str(tmp_path / "index"),
        "--port",
        str(port),
        "--uploads",
        str(tmp_path / "uploads"),
        "--share",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout], daemon=True
    ).start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while not any(line.startswith("Share link not opened") for line in seen):
            assert process.poll() is None, "".join(seen)
            assert time.monotonic() < deadline, "no share outcome within 240 s:\n" + "".join(seen)
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=1))
        password = re.search(r"user: rag  password: (\S+)", "".join(seen)).group(1)
        assert any(
            line.startswith("No index at ") and "building it from the sample" in line
            for line in seen
        )
        assert any(line.startswith("Indexed 1 added") for line in seen)
        failed = [line for line in seen if line.startswith("Share link not opened")]
        assert (
            len(failed) == 1 and f"still serving locally at http://127.0.0.1:{port}/" in failed[0]
        )
        assert "restart with --share" in failed[0]
        assert not any("Could not create share link" in line for line in seen)

        url = f"http://127.0.0.1:{port}/"
        assert httpx.get(f"{url}config").status_code == 401  # the login is required
        local = Client(url, auth=("rag", password), verbose=False, analytics_enabled=False)
        assert "Khalilzad" in local.predict(ENVOY_QUESTION, api_name="/ask")["answer"]
        # The visitor's login asks; only the owner's, generated and printed once, edits.
        owner = re.search(
            r"may add or remove articles — user: owner  password: (\S+)  ", "".join(seen)
        )
        assert owner and owner.group(1) != password
        note = "Pier note\n\nThe pier at Quenby reopened in June."
        assert local.predict("", None, note, api_name="/add_article") == {"error": OWNER_ONLY}
        edits = Client(url, auth=("owner", owner.group(1)), verbose=False, analytics_enabled=False)
        assert len(edits.predict("", None, note, api_name="/add_article")["added"]) == 1
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def test_each_unsupported_mark_says_why_and_its_reason_stays_text():
    sentences = [
        Verdict("A.", Status.SUPPORTED, cited=(1,)),
        Verdict("B.", Status.UNSUPPORTED, cited=(1,), missing=("2019", IMG)),
        Verdict("C.", Status.UNSUPPORTED, cited=(2,), missing=("negation",)),
        Verdict("D.", Status.UNSUPPORTED),
    ]
    text = "A. [1] B. [⚠ unsupported] C. [⚠ unsupported] D. [⚠ unsupported]"
    html = answer_html(Answer("q", text, False, (), 0.5, mode="llm", sentences=tuple(sentences)))
    titles = re.findall(r'<span class="rag-unsupported" title="([^"]*)">', html)
    assert len(titles) == 3 and all(t.startswith("No retrieved paragraph") for t in titles)
    assert (
        "does not contain: 2019, &lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;" in titles[0]
    )
    assert "says the opposite" in titles[1] and "does not contain" not in titles[1]
    assert titles[2].endswith("It cited no retrieved paragraph.")
    assert "<img" not in html
