"""Sharing safely, through the real server: the app never fetches internal addresses for anyone;
visitors ask but cannot change the library (API and page); the owner can, and every change is
logged; each login's questions and changes are rate-limited; a full queue says it is busy."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from gradio_client import Client

from rag.chat import ChatService, Login, build_app, decide_logins, start
from rag.chat.service import OWNER_ONLY
from rag.cli import _config, build_parser
from rag.config import Config, from_env
from rag.errors import AccessError, ConfigError
from tests.app_fixtures import (
    ENVOY_QUESTION,
    OWNER,
    VISITORS,
    free_port,
    login_client,
    sign_in,
)
from tests.network import html_page, serve
from tests.test_fetch import ADDRESS_FORMS, HINT, PUBLIC, SECRET

ANA, BEN = VISITORS


def changes(service: ChatService) -> list[dict]:
    """The service's change log, oldest first."""
    log = service.changes_log
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def test_the_probe_a_secret_page_on_loopback_is_never_fetched(network, shared_app):
    visitor, owner = login_client(shared_app, ANA), login_client(shared_app, OWNER)
    with serve({"/admin.html": html_page("Internal admin", SECRET)}) as secret:
        url = f"{secret.url}/admin.html"
        assert visitor.predict(url, None, "", api_name="/add_article") == {"error": OWNER_ONLY}
        # Not even the owner makes the app fetch it: the app never allows private addresses.
        report = owner.predict(url, None, "", api_name="/add_article")
        reason = f"refused: 127.0.0.1, a loopback address; {HINT}"
        assert report["added"] == [] and report["skipped"] == [{"source": url, "reason": reason}]
        for form in ADDRESS_FORMS:
            address = form.format(port=secret.port)
            [skipped] = owner.predict(address, None, "", api_name="/add_article")["skipped"]
            assert skipped["reason"] == f"refused: {ADDRESS_FORMS[form]}; {HINT}"
        assert secret.requests == []
    assert all(host in ("127.0.0.1", "::1") for host, _ in network.connections)
    answer = visitor.predict("What is the internal admin password?", api_name="/ask")
    assert "hunter2" not in json.dumps(answer) and "Internal admin" not in json.dumps(answer)


def test_visitors_cannot_change_the_library_through_the_api(shared_app):
    visitor = login_client(shared_app, ANA)
    before = shared_app.service.articles()
    poison = "Envoy news\n\nThe US special envoy for Afghanistan is Mallory Grimes."
    assert visitor.predict("", None, poison, api_name="/add_article") == {"error": OWNER_ONLY}
    source = before[0].source
    assert visitor.predict(source, api_name="/remove_article") == {"error": OWNER_ONLY}
    assert shared_app.service.articles() == before
    refused = changes(shared_app.service)[-2:]
    assert [(c["login"], c["action"], c["wanted"], c["why"]) for c in refused] == [
        ("ana", "refused", "add", "not the owner"),
        ("ana", "refused", "remove", "not the owner"),
    ]
    assert refused[1]["what"] == [source] and refused[0]["client"] == "127.0.0.1"
    long_url = "https://example.com/" + "a" * 5000
    assert visitor.predict(long_url, None, "", api_name="/add_article") == {"error": OWNER_ONLY}
    assert changes(shared_app.service)[-1]["what"] == [long_url[:300]]
    assert "Mallory" not in visitor.predict(ENVOY_QUESTION, api_name="/ask")["answer"]


def test_the_owner_changes_the_library_and_each_change_is_logged(shared_app):
    owner, visitor = login_client(shared_app, OWNER), login_client(shared_app, ANA)
    note = (
        "Quenby lighthouse\n\nThe new lighthouse at Quenby harbour was designed by the "
        "engineer Marta Olsen."
    )
    [source] = owner.predict("", None, note, api_name="/add_article")["added"]
    answer = visitor.predict("Who designed the lighthouse at Quenby harbour?", api_name="/ask")
    assert "Marta Olsen" in answer["answer"]
    assert owner.predict(source, api_name="/remove_article") == {"removed": [source]}
    added, removed = changes(shared_app.service)[-2:]
    assert (added["login"], added["action"], added["added"]) == ("owner", "add", [source])
    assert (removed["login"], removed["action"], removed["removed"]) == (
        "owner",
        "remove",
        [source],
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", removed["time"])


def test_each_login_may_ask_a_limited_number_of_questions_a_minute(shared_app):
    ben = login_client(shared_app, BEN)
    limit = shared_app.service.config.ask_rate
    replies = [ben.predict(ENVOY_QUESTION, api_name="/ask") for _ in range(limit + 1)]
    refused = [r for r in replies if "error" in r]
    assert len(refused) >= 1 and all("Khalilzad" in r["answer"] for r in replies[: -len(refused)])
    assert re.fullmatch(
        rf"You have sent {limit} questions in the last minute, the most this app takes from "
        r"one person; try again in \d+ s\.",
        refused[-1]["error"],
    )
    # Another login is not held back by ben's flood.
    assert (
        "Khalilzad"
        in login_client(shared_app, ANA).predict(ENVOY_QUESTION, api_name="/ask")["answer"]
    )


def test_library_changes_are_rate_limited_per_client(seed_copy, embedder, tmp_path):
    config = Config(index_dir=seed_copy, add_rate=2)
    service = ChatService(config, embedder=embedder, upload_dir=tmp_path / "uploads")
    for n in range(2):
        service.add(text=f"Tide note {n}\n\nThe tide rose {n} metres.", client="198.51.100.7")
    with pytest.raises(AccessError) as refused:
        service.add(text="Tide note 9\n\nThe tide rose 9 metres.", client="198.51.100.7")
    assert re.fullmatch(
        r"You have sent 2 library changes in the last minute, the most this app takes from one "
        r"person; try again in \d+ s\.",
        str(refused.value),
    )
    assert service.remove("nothing-here", client="198.51.100.8") == []
    assert [c["action"] for c in changes(service)] == ["add", "add", "remove"]


class _Slow(BaseHTTPRequestHandler):
    """Answers only once the test lets it: an article add that holds the library's one slot."""

    arrived = threading.Event()
    release = threading.Event()

    def do_GET(self) -> None:
        _Slow.arrived.set()
        _Slow.release.wait(120)
        page = html_page("Slow news", "The slow ferry reached Quenby after nine hours.").body
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_full_queue_says_busy_and_the_app_keeps_answering(network, seed_copy, embedder, tmp_path):
    config = Config(index_dir=seed_copy, queue_size=2)
    service = ChatService(config, embedder=embedder, upload_dir=tmp_path / "uploads")
    demo = build_app(service)
    url = start(demo, service, host="127.0.0.1", port=free_port())
    slow = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    slow.daemon_threads = True
    threading.Thread(target=slow.serve_forever, daemon=True).start()
    try:
        network.name("slow.example", [PUBLIC])
        network.route(PUBLIC, 80, slow.server_address[1])
        client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
        holding = client.submit("http://slow.example/", None, "", api_name="/add_article")
        assert _Slow.arrived.wait(120), "the slow add never reached the server"
        ids = {d.get("api_name"): d["id"] for d in httpx.get(f"{url}config").json()["dependencies"]}

        def join(api: str, data: list) -> httpx.Response:
            body = {"data": data, "fn_index": ids[api], "session_hash": "flood", "trigger_id": None}
            return httpx.post(f"{url}gradio_api/queue/join", json=body, timeout=30)

        # The library takes one job at a time: these two wait, and fill the queue.
        waiting = [join("add_article", ["", None, f"Note {n}\n\nThe tide rose."]) for n in (1, 2)]
        assert [r.status_code for r in waiting] == [200, 200]
        flood = [join("ask", [ENVOY_QUESTION, 5, [], True]) for _ in range(10)]
        assert {r.status_code for r in flood} == {503}
        assert "busy" in flood[0].json()["detail"]
        with pytest.raises(Exception, match="Queue is full! Please try again"):
            client.predict(ENVOY_QUESTION, api_name="/ask")
        _Slow.release.set()
        assert holding.result(timeout=120)["added"] == ["http://slow.example/"]
        assert "Khalilzad" in client.predict(ENVOY_QUESTION, api_name="/ask")["answer"]
    finally:
        _Slow.release.set()
        slow.shutdown()
        slow.server_close()
        demo.close()


def test_a_visitor_sees_a_read_only_library_and_the_server_refuses_their_changes(
    browser,
    shared_app,
):
    page = sign_in(browser, shared_app, ANA)
    try:
        page.get_by_role("tab", name="Library").click()
        page.locator("#library td", has_text="US “unwilling").first.wait_for()
        page.locator("#library-read-only").wait_for()
        assert "read-only" in page.locator("#library-read-only").inner_text()
        assert page.get_by_role("button", name="Add to library").count() == 0
        assert page.get_by_role("button", name="Remove").count() == 0
        # Calling the endpoints from the visitor's signed-in page is refused by the server.
        source = shared_app.service.articles()[0].source
        for api, data in (
            ("add_article", ["", None, "Poison\n\nThe envoy is Mallory."]),
            ("remove_article", [source]),
        ):
            reply = page.evaluate(CALL, {"api": api, "data": data})
            assert json.loads(reply.split("data: ", 1)[1].splitlines()[0]) == [
                {"error": OWNER_ONLY}
            ], reply
        assert [a.source for a in shared_app.service.articles()][0] == source
    finally:
        page.context.close()


def test_the_owner_adds_an_article_in_the_page(browser, shared_app):
    page = sign_in(browser, shared_app, OWNER)
    try:
        page.get_by_role("tab", name="Library").click()
        page.get_by_label("…or paste its text").fill(
            "Owl survey of Quenby\n\nThe owl survey of Quenby counted 31 barn owls in May."
        )
        page.get_by_role("button", name="Add to library").click()
        page.locator("#library td", has_text="Owl survey of Quenby").wait_for()
        assert page.locator("#library-read-only").is_hidden()
        assert changes(shared_app.service)[-1]["login"] == "owner"
    finally:
        page.context.close()


# Calls an endpoint from the page with the page's own login cookie; returns the event stream.
CALL = """async ({api, data}) => {
  const sent = await fetch(`gradio_api/call/${api}`, {method: 'POST',
    headers: {'Content-Type': 'application/json'}, body: JSON.stringify({data})});
  const {event_id} = await sent.json();
  return await (await fetch(`gradio_api/call/${api}/${event_id}`)).text();
}"""


def test_the_owner_login_is_generated_when_missing_and_kept_apart_from_visitors():
    visitors, owner = decide_logins(share=True, auths=(), admin_auth=None)
    [visitor] = visitors
    assert (visitor.user, owner.user) == ("rag", "owner") and visitor.generated and owner.generated
    assert len(owner.password) >= 16 and owner.password != visitor.password
    assert decide_logins(share=False, auths=(), admin_auth=None) == ([], None)
    assert decide_logins(share=False, auths=("ana:a", "ben:b"), admin_auth="boss:c:d") == (
        [Login("ana", "a"), Login("ben", "b")],
        Login("boss", "c:d"),
    )
    assert decide_logins(share=True, auths=(), admin_auth="boss:c") == ([], Login("boss", "c"))
    with pytest.raises(ConfigError, match="both use the user name 'ana'; give the owner"):
        decide_logins(share=False, auths=("ana:a",), admin_auth="ana:b")
    with pytest.raises(ConfigError, match="--admin-auth/RAG_ADMIN_AUTH must look like user:pass"):
        decide_logins(share=False, auths=(), admin_auth="boss")


def test_sharing_settings_come_from_flags_then_the_environment(monkeypatch):
    env = {"RAG_ADMIN_AUTH": "boss:pw1", "RAG_AUTH": "ana:pw2", "RAG_ASK_RATE": "3"}
    config = from_env(env)
    assert (config.admin_auth, config.auth, config.ask_rate) == ("boss:pw1", ("ana:pw2",), 3)
    assert "pw1" not in repr(config) and "pw2" not in repr(config)
    assert from_env({"RAG_ALLOW_PRIVATE_URLS": "1"}).allow_private_urls is True
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    args = build_parser().parse_args(
        ["serve", "--auth", "ana:x", "--auth", "ben:y", "--admin-auth", "o:z", "--queue-size", "9"]
    )
    config = _config(args)
    assert (config.auth, config.admin_auth, config.queue_size) == (("ana:x", "ben:y"), "o:z", 9)
    assert config.ask_rate == 3 and config.allow_private_urls is False
    with pytest.raises(ConfigError, match="ask_rate must be at least 1, got 0"):
        from_env({"RAG_ASK_RATE": "0"})
