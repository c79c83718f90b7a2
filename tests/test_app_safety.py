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

import httpx
import pytest
from gradio_client import Client

from rag.chat import UploadError, decide_login, safe_upload_name, store_upload
from rag.errors import ConfigError
from tests.app_fixtures import (  # noqa: F401 — fixtures
    ENVOY_QUESTION,
    XSS_ARTICLE,
    app,
    ask_in_page,
    browser,
    client,
    free_port,
    page,
    upload_in_page,
)
from tests.conftest import ROOT

IMG = '<img src=x onerror="window.__xss=1">'


def test_markup_in_articles_and_questions_shows_as_text(page, tmp_path):  # noqa: F811
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


def test_traversal_name_sent_to_the_server_lands_in_uploads(app, client):  # noqa: F811
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
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
