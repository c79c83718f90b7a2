"""Starting, logging in, sharing: the login, the first index, the server and its share link."""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware

from rag.chat.page import build_app
from rag.chat.service import ChatService
from rag.config import Config
from rag.errors import ConfigError
from rag.pipeline import Embedder, IndexReport, has_index, index_sources, load_model

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"
DEFAULT_USER = "rag"
OWNER_USER = "owner"
# gradio/blocks.py launch(): "This share link is temporary and will last for up to 1 week".
SHARE_LIFETIME = "1 week"
# Gradio itself may wait 30 s for its API server and 30 s more for the tunnel; we wait less.
SHARE_TIMEOUT = 40.0
CSS = """
.rag-source { margin: 0 0 .8em 0; }
.rag-source p { margin: .2em 0; }
.rag-source mark { background: #fde68a; color: inherit; padding: 0 .1em; border-radius: 2px; }
.rag-library { border-collapse: collapse; width: 100%; }
.rag-library th, .rag-library td { padding: .35em .6em; text-align: left; vertical-align: top;
  border-bottom: 1px solid var(--border-color-primary); }
"""


@dataclass(frozen=True)
class Login:
    """A user and password the server accepts."""

    user: str
    password: str
    generated: bool = False


def _parse_login(given: str, option: str) -> Login:
    user, sep, password = given.partition(":")
    if not sep or not user or not password:
        raise ConfigError(
            f"{option} must look like user:password, got {given!r}; "
            "give both parts separated by a colon."
        )
    return Login(user, password)


def decide_login(share: bool, auth: str | None) -> Login | None:
    """The login to require: `user:pass` when given; for a shared app without one, a generated
    password (a public link must never be open to anyone); else None."""
    if auth:
        return _parse_login(auth, "--auth/RAG_AUTH")
    if share:
        return Login(DEFAULT_USER, secrets.token_urlsafe(12), generated=True)
    return None


def decide_logins(
    share: bool, auths: Sequence[str], admin_auth: str | None
) -> tuple[list[Login], Login | None]:
    """The visitors' logins and the owner's.

    Visitors: each `user:pass` given; a shared app without any gets a generated one. The owner,
    the only login that may change the library: admin_auth when given; when the app has any
    other login, a generated one; else None (a local app without a login: everyone may)."""
    visitors = [_parse_login(auth, "--auth/RAG_AUTH") for auth in auths if auth]
    if share and not visitors and not admin_auth:
        visitors = [decide_login(share, None)]
    if admin_auth:
        owner = _parse_login(admin_auth, "--admin-auth/RAG_ADMIN_AUTH")
    elif visitors:
        owner = Login(OWNER_USER, secrets.token_urlsafe(12), generated=True)
    else:
        return visitors, None
    if owner.user in {v.user for v in visitors}:
        raise ConfigError(
            f"the owner's login and a visitor's login both use the user name {owner.user!r}; "
            "give the owner (--admin-auth) a user name of their own."
        )
    return visitors, owner


def ensure_index(
    config: Config,
    embedder: Embedder,
    say: Callable[[str], None] = print,
    sample: Path = SAMPLE_DIR,
) -> IndexReport | None:
    """On a first start with no index, build one from the sample articles; else do nothing."""
    index_dir = Path(config.index_dir)
    if has_index(config):
        return None
    if not sample.is_dir():
        raise ConfigError(
            f"No index at {index_dir} and no sample articles at {sample}; build one "
            f"with: rag index <sources> --index {index_dir}"
        )
    say(
        f"No index at {index_dir} yet: building it from the sample articles in {sample} "
        "(first start; progress below)…"
    )
    report = index_sources(
        config,
        [str(sample)],
        embedder=embedder,
        on_skip=lambda s: say(f"skipped {s.source}: {s.reason}"),
    )
    say(report.summary())
    return report


# An upload request carries one file: at most the size limit plus this much form overhead.
UPLOAD_OVERHEAD = 1_000_000
# Gradio keeps its own copy of every upload; the library keeps what it needs in uploads/, so
# Gradio's copies older than an hour are deleted, hourly.
UPLOAD_CACHE = (3600, 3600)


class UploadLimit:
    """ASGI middleware: refuses an upload request whose body is larger than one file's worth.

    Gradio checks each file against max_file_size, but accepts up to 1,000 files in a request,
    which a stranger could use to fill the disk; this bounds the whole request.
    """

    def __init__(self, app: Callable, max_bytes: int):
        self.app = app
        self.limit = max_bytes + UPLOAD_OVERHEAD

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].rstrip("/").endswith("/upload")
        ):
            length = dict(scope["headers"]).get(b"content-length", b"")
            if not length.isdigit():
                return await _refuse(send, 411, "An upload must state its Content-Length.")
            if int(length) > self.limit:  # the server reads no more than the stated length
                return await _refuse(
                    send,
                    413,
                    f"An upload request may carry at most {self.limit:,} bytes: one file.",
                )
        await self.app(scope, receive, send)


BUSY = "The app is busy; try again in a moment."


class BusyMessage:
    """ASGI middleware: a request refused because the queue is full (Gradio's 503) is told, in
    words, that the app is busy and to try again in a moment."""

    def __init__(self, app: Callable):
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or not scope["path"].rstrip("/").endswith("/queue/join"):
            return await self.app(scope, receive, send)
        refused = False

        async def relay(message: dict) -> None:
            nonlocal refused
            if message["type"] == "http.response.start" and message["status"] == 503:
                refused = True
            elif not refused:
                await send(message)
            elif not message.get("more_body"):
                detail = json.dumps({"detail": BUSY})
                await _refuse(send, 503, detail, content_type=b"application/json")

        await self.app(scope, receive, relay)


async def _refuse(
    send: Callable, status: int, text: str, content_type: bytes = b"text/plain; charset=utf-8"
) -> None:
    body = text.encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def start(
    demo: gr.Blocks,
    service: ChatService,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    logins: Sequence[Login] = (),
) -> str:
    """Start serving the app in the background; returns its local URL.

    Only the app's own assets and Gradio's upload cache are served (no allowed_paths): not the
    index, not uploads/, not the working folder. Uploads are limited in size per file and per
    request, and Gradio's copies of them are deleted after an hour.
    """
    demo.delete_cache = UPLOAD_CACHE
    demo.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        auth=[(login.user, login.password) for login in logins] or None,
        share=False,
        max_file_size=service.config.max_bytes,
        css=CSS,
        footer_links=["api"],
        enable_monitoring=False,
        ssr_mode=False,
        app_kwargs={
            "middleware": [
                Middleware(UploadLimit, max_bytes=service.config.max_bytes),
                Middleware(BusyMessage),
            ]
        },
    )
    return demo.local_url


def open_share_link(demo: gr.Blocks, timeout: float = SHARE_TIMEOUT) -> tuple[str | None, str]:
    """Try to open a public share link for a running app within timeout seconds; returns the
    link (or None) and one line for the console saying what happened and, on failure, the fix."""
    from gradio import networking, tunneling

    outcome: dict[str, object] = {}
    gave_up = threading.Event()
    deciding = threading.Lock()

    def attempt() -> None:
        try:
            url = networking.setup_tunnel(
                local_host=demo.server_name,
                local_port=demo.server_port,
                share_token=demo.share_token,
                share_server_address=None,
                share_server_tls_certificate=None,
            )
        except Exception as error:  # any failure means: no link, keep serving locally
            outcome["error"] = error
            return
        with deciding:
            if not gave_up.is_set():
                outcome["url"] = url
                return
        # Too late: the console already says there is no link, so close it.
        for tunnel in [t for t in tunneling.CURRENT_TUNNELS if t.url == url]:
            tunnel.kill()

    thread = threading.Thread(target=attempt, name="share-link", daemon=True)
    thread.start()
    thread.join(timeout)
    with deciding:
        gave_up.set()
        url = outcome.get("url")
    if isinstance(url, str):
        # As launch(share=True) does: https, unless a custom share server says otherwise.
        protocol = "http" if networking.GRADIO_SHARE_SERVER_ADDRESS else "https"
        url = f"{protocol}://{url.split('://', 1)[-1]}"
        demo.share_url = url
        return (
            url,
            f"Public link: {url} (expires in {SHARE_LIFETIME}; Gradio share links are "
            "temporary — restart with --share for a new one).",
        )
    error = outcome.get("error")
    if error is None:
        why = f"the tunnel did not open within {timeout:g} s"
    else:
        cause = error.__cause__ or error
        why = f"{str(error).rstrip('.')} ({type(cause).__name__}: {cause})"
        why = " ".join(why.split())  # one line, whatever the error text holds
    missing = not Path(tunneling.BINARY_PATH).exists()
    fix = (
        f"allow outbound HTTPS to gradio.app and put Gradio's frpc tunnel client at "
        f"{tunneling.BINARY_PATH} (download {tunneling.BINARY_URL}, chmod +x)"
        if missing
        else "allow outbound connections to gradio.live"
    )
    return None, (
        f"Share link not opened: {why}; still serving locally at "
        f"{demo.local_url} — to share, {fix}, then restart with --share."
    )


def serve(config: Config, *, host: str = "127.0.0.1", port: int | None = None) -> int:
    """Run the chat app until interrupted (config.share, auth, admin_auth, uploads)."""

    def say(line: str) -> None:
        print(line, flush=True)

    visitors, owner = decide_logins(config.share, config.auth, config.admin_auth)
    embedder = load_model(config)
    ensure_index(config, embedder, say)
    service = ChatService(
        config,
        embedder=embedder,
        upload_dir=config.uploads,
        # With visitors, the LLM's address is the server's: they must not point it elsewhere.
        shared=config.share or owner is not None,
        owner=owner.user if owner else None,
    )
    demo = build_app(service)
    for login in visitors:
        if login.generated:
            say(
                f"Sharing needs a login — user: {login.user}  password: {login.password}  "
                "(generated for this run; choose your own with --auth user:pass or RAG_AUTH)."
            )
    if owner is not None and owner.generated:
        say(
            f"Only the owner may add or remove articles — user: {owner.user}  password: "
            f"{owner.password}  (generated for this run; choose your own with --admin-auth "
            "user:pass or RAG_ADMIN_AUTH)."
        )
    url = start(
        demo, service, host=host, port=port, logins=[*visitors, *([owner] if owner else [])]
    )
    say(f"Serving the chat on {url} (Ctrl-C stops it).")
    if config.share:
        say(open_share_link(demo)[1])
    with contextlib.suppress(KeyboardInterrupt):
        demo.block_thread()
    return 0
