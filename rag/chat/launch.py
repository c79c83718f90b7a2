"""Starting, logging in, sharing: the login, the first index, the server and its share link."""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware

from rag.chat.page import build_app
from rag.chat.service import ChatService
from rag.config import Config
from rag.embed import Embedder, load_embedder
from rag.errors import ConfigError
from rag.pipeline import IndexReport, index_sources, model_for
from rag.store import current_generation

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"
DEFAULT_USER = "rag"
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
    """The one user and password the server asks for."""

    user: str
    password: str
    generated: bool = False


def decide_login(share: bool, auth: str | None) -> Login | None:
    """The login to require: `user:pass` when given; for a shared app without one, a generated
    password (a public link must never be open to anyone); else None."""
    if auth:
        user, sep, password = auth.partition(":")
        if not sep or not user or not password:
            raise ConfigError(
                f"--auth/RAG_AUTH must look like user:password, got {auth!r}; "
                "give both parts separated by a colon."
            )
        return Login(user, password)
    if share:
        return Login(DEFAULT_USER, secrets.token_urlsafe(12), generated=True)
    return None


def ensure_index(
    config: Config,
    embedder: Embedder,
    say: Callable[[str], None] = print,
    sample: Path = SAMPLE_DIR,
) -> IndexReport | None:
    """On a first start with no index, build one from the sample articles; else do nothing."""
    index_dir = Path(config.index_dir)
    if current_generation(index_dir) is not None:
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


async def _refuse(send: Callable, status: int, text: str) -> None:
    body = text.encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
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
    login: Login | None = None,
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
        auth=(login.user, login.password) if login else None,
        share=False,
        max_file_size=service.config.max_bytes,
        css=CSS,
        footer_links=["api"],
        enable_monitoring=False,
        ssr_mode=False,
        app_kwargs={"middleware": [Middleware(UploadLimit, max_bytes=service.config.max_bytes)]},
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


def serve(
    config: Config,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool | None = None,
    auth: str | None = None,
    upload_dir: Path | None = None,
) -> int:
    """Run the chat app until interrupted (flags win over RAG_SHARE, RAG_AUTH, RAG_UPLOADS)."""

    def say(line: str) -> None:
        print(line, flush=True)

    if share is None:
        share = os.environ.get("RAG_SHARE", "").strip().lower() in {"1", "true", "yes", "on"}
    login = decide_login(share, auth or os.environ.get("RAG_AUTH") or None)
    upload_dir = upload_dir or (
        Path(os.environ["RAG_UPLOADS"]) if os.environ.get("RAG_UPLOADS") else None
    )
    embedder = load_embedder(model_for(config), config.bf16)
    ensure_index(config, embedder, say)
    service = ChatService(config, embedder=embedder, upload_dir=upload_dir, shared=bool(share))
    demo = build_app(service)
    if login is not None and login.generated:
        say(
            f"Sharing needs a login — user: {login.user}  password: {login.password}  (generated "
            "for this run; choose your own with --auth user:pass or RAG_AUTH)."
        )
    url = start(demo, service, host=host, port=port, login=login)
    say(f"Serving the chat on {url} (Ctrl-C stops it).")
    if share:
        say(open_share_link(demo)[1])
    with contextlib.suppress(KeyboardInterrupt):
        demo.block_thread()
    return 0
