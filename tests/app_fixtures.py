"""Fixtures for the chat app tests: the real app served on loopback over a private copy of the
sample index (one server per test module), a gradio_client, and Debian's headless Chromium."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from gradio_client import Client

from rag.chat import ChatService, Login, build_app, start
from rag.config import Config

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ENVOY_QUESTION = "Who is the US special envoy for Afghanistan?"
# An article whose title and text carry markup that would run if the page trusted it.
XSS_ARTICLE = (
    'Zorblat festival <img src=x onerror="window.__xss=1">\n\n'
    "The Zorblat festival is held every spring in the harbour town of Quenby. Its organisers "
    "printed <script>window.__xss=1</script> on the poster as a joke.\n\n"
    "Visitors carry paper lanterns to the market square at dusk ${window.__xss=1}.\n"
)

# Records the length of the newest answer text every time the page changes it.
WATCH_STREAM = """() => {
  window.__lengths = [];
  new MutationObserver(() => {
    const bots = document.querySelectorAll('#chat [data-testid="bot"]');
    if (bots.length) window.__lengths.push(bots[0].innerText.length);
  }).observe(document.querySelector('#chat'), {subtree: true, childList: true,
                                               characterData: true});
}"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class RunningApp:
    """The app under test: its URL, the service behind it, and its folder (index/, uploads/)."""

    url: str
    service: ChatService
    root: Path


def serve_copy(root: Path, index: Path, embedder) -> Iterator[RunningApp]:
    """The chat app on a free loopback port over a private copy of index, kept under root."""
    shutil.copytree(index, root / "index")
    # Limits high enough that these tests, all from one address, never meet them.
    config = Config(index_dir=root / "index", ask_rate=10_000, add_rate=10_000)
    service = ChatService(config, embedder=embedder, upload_dir=root / "uploads")
    demo = build_app(service)
    url = start(demo, service, host="127.0.0.1", port=free_port())
    yield RunningApp(url, service, root)
    demo.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory, seed_index, embedder) -> Iterator[RunningApp]:
    """The chat app on a free loopback port over a private copy of the sample index."""
    yield from serve_copy(tmp_path_factory.mktemp("app"), seed_index, embedder)


@pytest.fixture(scope="module")
def dated_app(tmp_path_factory, dated_index, embedder) -> Iterator[RunningApp]:
    """The chat app over a private copy of the dated articles' index (tests.conftest.DATED)."""
    yield from serve_copy(tmp_path_factory.mktemp("dated-app"), dated_index, embedder)


@pytest.fixture(scope="module")
def dated_client(dated_app) -> Client:
    """A gradio_client connected to the app over the dated articles."""
    return Client(dated_app.url, verbose=False, analytics_enabled=False, download_files=False)


VISITORS = (Login("ana", "ana-visits"), Login("ben", "ben-visits"))
OWNER = Login("owner", "owner-edits")


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory, seed_index, embedder) -> Iterator[RunningApp]:
    """The app with a login, as when shared: visitors ana and ben may ask; owner may also
    change the library. Each login may ask 6 questions a minute."""
    root = tmp_path_factory.mktemp("shared")
    shutil.copytree(seed_index, root / "index")
    config = Config(index_dir=root / "index", ask_rate=6, add_rate=100, share=True)
    service = ChatService(
        config, embedder=embedder, upload_dir=root / "uploads", shared=True, owner=OWNER.user
    )
    demo = build_app(service)
    url = start(demo, service, host="127.0.0.1", port=free_port(), logins=[*VISITORS, OWNER])
    yield RunningApp(url, service, root)
    demo.close()


def login_client(app: RunningApp, login: Login) -> Client:
    """A gradio_client signed in with login."""
    return Client(
        app.url,
        auth=(login.user, login.password),
        verbose=False,
        analytics_enabled=False,
        download_files=False,
    )


@pytest.fixture(scope="module")
def client(app) -> Client:
    """A gradio_client connected to the app."""
    return Client(app.url, verbose=False, analytics_enabled=False, download_files=False)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (its own browser download is not used)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing; install it with: make system-deps"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def sign_in(browser, app: RunningApp, login: Login):
    """A fresh browser context signed in through the app's login form; returns its page."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    tab.goto(app.url)
    tab.get_by_label("username").fill(login.user)
    tab.get_by_label("password").fill(login.password)
    tab.get_by_role("button", name="Login").click()
    tab.wait_for_selector("#question textarea")
    return tab


def open_page(browser, app: RunningApp):
    """A fresh browser context (empty storage) with the app loaded; yields its page."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    tab.goto(app.url)
    tab.wait_for_selector("#question textarea")
    yield tab
    context.close()


@pytest.fixture
def page(browser, app):
    """A fresh browser context (empty storage) with the app loaded."""
    yield from open_page(browser, app)


@pytest.fixture
def dated_page(browser, dated_app):
    """A fresh browser context with the app over the dated articles loaded."""
    yield from open_page(browser, dated_app)


def ask_in_page(tab, question: str) -> None:
    """Type a question into the chat and send it."""
    tab.get_by_role("tab", name="Chat").click()
    tab.fill("#question textarea", question)
    tab.get_by_role("button", name="Ask", exact=True).click()


def upload_in_page(tab, path: Path, title: str) -> None:
    """Add a file through the Library tab's upload box and wait until the library lists title."""
    tab.get_by_role("tab", name="Library").click()
    tab.locator("#library-upload").wait_for(state="visible")  # the tab has switched
    tab.set_input_files("#library-upload input[type=file]", str(path))
    tab.wait_for_selector(f"#library-upload >> text={path.name}")
    tab.get_by_role("button", name="Add to library").click()
    tab.locator("#library td", has_text=title).wait_for()
