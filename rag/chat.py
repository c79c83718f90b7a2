"""The browser chat: a Gradio face over the pipeline — chat with cited sources, a library of the
indexed articles, settings, and a JSON API (`ask`, `add_article`, `remove_article`).

Everything shown in the page that came from an article, a file name or a question is escaped
here (`inert`, `html.escape`), so markup in an article is displayed as text and never runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import threading
import time
import traceback
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from html import escape
from pathlib import Path

import gradio as gr

from rag.answer import Answer, Citation
from rag.config import Config
from rag.embed import Embedder, load_embedder
from rag.errors import ConfigError, RagError
from rag.pipeline import IndexReport, Pipeline, index_sources, model_for, remove_articles
from rag.store import ArticleInfo, current_generation

ALLOWED_UPLOADS = (".txt", ".md", ".html", ".htm", ".pdf", ".jsonl")
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"
DEFAULT_USER = "rag"
# gradio/blocks.py launch(): "This share link is temporary and will last for up to 1 week".
SHARE_LIFETIME = "1 week"
# Gradio itself may wait 30 s for its API server and 30 s more for the tunnel; we wait less.
SHARE_TIMEOUT = 40.0
STREAM_WORDS = 3
STREAM_DELAY = 0.03
CSS = """
.rag-source { margin: 0 0 .8em 0; }
.rag-source p { margin: .2em 0; }
.rag-source mark { background: #fde68a; color: inherit; padding: 0 .1em; border-radius: 2px; }
.rag-library { border-collapse: collapse; width: 100%; }
.rag-library th, .rag-library td { padding: .35em .6em; text-align: left; vertical-align: top;
  border-bottom: 1px solid var(--border-color-primary); }
"""


class UploadError(RagError):
    """An article offered to the library cannot be accepted (type, size, or nothing given)."""


# --- rendering: article text, names and questions are data, never markup -------------------


def inert(text: str) -> str:
    """Text as one HTML paragraph that displays literally: inert("<b>") == "<p>&lt;b&gt;</p>".

    Escaped, markup in an article is shown as text; as an HTML block, Markdown leaves it alone.
    """
    return f"<p>{escape(text)}</p>"


def answer_from_dict(data: Mapping) -> Answer:
    """Rebuild an Answer from its to_dict() form (as kept in the chat history)."""
    names = {f.name for f in fields(Citation)}
    citations = tuple(
        Citation(**{k: v for k, v in c.items() if k in names}) for c in data.get("citations", [])
    )
    return Answer(
        data["question"],
        data["answer"],
        bool(data["abstained"]),
        citations,
        float(data.get("confidence", 0.0)),
    )


def sources_html(answer: Answer, show_scores: bool = False) -> str:
    """The sources of an answer, each `[n] Title › ¶ n` and its paragraph, cited sentence marked."""
    items = []
    for c in answer.citations:
        head = f"<strong>{escape(f'[{c.n}] {c.article_title} › ¶ {c.paragraph_index}')}</strong>"
        if c.heading:
            head += f" · <em>{escape(c.heading)}</em>"
        if show_scores:
            head += f" · score {c.score:.3f}"
        text = c.paragraph_text
        paragraph = (
            escape(text[: c.sentence_start])
            + "<mark>"
            + escape(c.sentence)
            + "</mark>"
            + escape(text[c.sentence_end :])
        )
        items.append(f'<div class="rag-source"><p>{head}</p><p>{paragraph}</p></div>')
    # One line, no blank lines: Markdown passes an HTML block through as it is.
    return '<div class="rag-sources">' + "".join(items) + "</div>"


def turn_messages(turn: Mapping, show_scores: bool = False) -> list[dict]:
    """The chat messages of one question and its reply, rendered from the stored answer data."""
    messages = [{"role": "user", "content": inert(turn["question"])}]
    if "error" in turn:
        return messages + [{"role": "assistant", "content": inert(turn["error"])}]
    answer = answer_from_dict(turn["answer"])
    messages.append({"role": "assistant", "content": inert(answer.text)})
    if answer.citations:
        title = "Nearest passages (not an answer)" if answer.abstained else "Sources"
        messages.append(
            {
                "role": "assistant",
                "content": sources_html(answer, show_scores),
                "metadata": {"title": title, "status": "done"},
            }
        )
    return messages


def chat_history(transcript: Sequence[Mapping], show_scores: bool = False) -> list[dict]:
    """All chat messages of a transcript (a list of turns: question plus answer data or error)."""
    return [m for turn in transcript or [] for m in turn_messages(turn, show_scores)]


def stream_prefixes(text: str, words: int = STREAM_WORDS) -> Iterator[str]:
    """Growing prefixes of text, a few words at a time: "a b c d" → "a b c", "a b c d"."""
    parts = text.split(" ")
    for end in range(words, len(parts) + words, words):
        yield " ".join(parts[:end])


def library_html(articles: Sequence[ArticleInfo], show_source: Callable[[str], str] = str) -> str:
    """The library as an HTML table: title, source, paragraphs, when added."""
    if not articles:
        return "<p>No articles are indexed yet: add some below.</p>"
    rows = "".join(
        f"<tr><td>{escape(a.title)}</td><td>{escape(show_source(a.source))}</td>"
        f"<td>{a.paragraphs}</td><td>{escape(a.added_at.replace('T', ' ').rstrip('Z'))} UTC</td>"
        "</tr>"
        for a in articles
    )
    total = sum(a.paragraphs for a in articles)
    return (
        f'<p>{len(articles)} articles, {total} paragraphs.</p><table class="rag-library">'
        "<thead><tr><th>Title</th><th>Source</th><th>Paragraphs</th><th>Added</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def example_questions(titles: Sequence[str], headings: Sequence[str], limit: int = 4) -> list[str]:
    """Questions a reader might ask of these articles, from their titles and section headings."""

    def short(text: str) -> str:
        text = " ".join(text.split()).strip("\"'‘’“”«» ")
        return text if len(text) <= 70 else text[:67].rsplit(" ", 1)[0] + "…"

    questions = [f"What is ‘{short(t)}’ about?" for t in titles[:2] if short(t)]
    questions += [f"What does the article say about {short(h)}?" for h in headings if short(h)]
    return list(dict.fromkeys(questions))[:limit]


# --- uploads ----------------------------------------------------------------------------------


def safe_upload_name(name: str) -> str:
    """A name that stays inside the upload folder: safe_upload_name("../../x.txt") == "x.txt"."""
    base = unicodedata.normalize("NFKC", re.split(r"[\\/]", name)[-1])
    stem, suffix = os.path.splitext(base)
    if suffix.lower() not in ALLOWED_UPLOADS:
        raise UploadError(
            f"{name!r} is not an accepted file type; upload one of {' '.join(ALLOWED_UPLOADS)}."
        )
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip(".-_")[:80] or "upload"
    return stem + suffix.lower()


def store_upload(upload_dir: Path, name: str, data: bytes, max_bytes: int) -> Path:
    """Save uploaded bytes under upload_dir with a sanitized name; returns the stored path."""
    if len(data) > max_bytes:
        raise UploadError(f"{name!r} is larger than the {max_bytes:,}-byte limit; split it first.")
    if not data:
        raise UploadError(f"{name!r} is empty; upload a file with the article's text.")
    folder = Path(upload_dir).resolve()
    target = folder / safe_upload_name(name)
    if target.parent != folder:  # cannot happen after safe_upload_name; checked all the same
        raise UploadError(f"{name!r} would be stored outside {folder}; rename the file.")
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    partial.write_bytes(data)
    partial.replace(target)  # readers never see half a file
    return target


# --- the service the page and the API share ---------------------------------------------------


class _SharedModel:
    """The one loaded model, shared by every session and by indexing: each call holds a lock,
    because the fast tokenizer is not safe to use from two threads at once. Indexing takes the
    lock per slice of paragraphs, so questions are answered while a long upload is embedded."""

    def __init__(self, embedder: Embedder, slice_size: int = 256):
        self._embedder = embedder
        self._lock = threading.Lock()
        self._slice = slice_size
        self.name = embedder.name
        self.dimension = embedder.dimension
        self.window_tokens = embedder.window_tokens

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        with self._lock:
            return self._embedder.token_spans(text)

    def encode_queries(self, texts):
        with self._lock:
            return self._embedder.encode_queries(texts)

    def encode_paragraphs(self, paragraphs, *, batch_size: int = 64, progress=None):
        vectors = []
        for start in range(0, len(paragraphs), self._slice):
            with self._lock:
                vectors += self._embedder.encode_paragraphs(
                    paragraphs[start : start + self._slice],
                    batch_size=batch_size,
                    progress=progress,
                )
        return vectors


class ChatService:
    """Questions, the library and uploads over one index; safe to call from many sessions."""

    def __init__(
        self, config: Config, *, embedder: Embedder | None = None, upload_dir: Path | None = None
    ):
        self.config = config
        model = embedder or load_embedder(model_for(config), config.bf16)
        self.model = _SharedModel(model)
        self.pipeline = Pipeline(config, embedder=self.model)
        self.upload_dir = Path(upload_dir or Path(config.index_dir).parent / "uploads").resolve()
        self._writing = threading.Lock()  # one indexing job at a time in this process

    def ask(self, question: str, k: int | None = None) -> dict:
        """Answer data (Answer.to_dict()), or {"question", "error"} when it cannot be asked."""
        try:
            return self.pipeline.ask(question, k=int(k) if k else None).to_dict()
        except RagError as error:
            return {"question": question, "error": str(error)}

    def articles(self) -> list[ArticleInfo]:
        """The indexed articles, oldest first."""
        return self.pipeline.index.articles()

    def examples(self, limit: int = 4) -> list[str]:
        """Example questions for the articles now indexed (newest first)."""
        articles = self.articles()[::-1]
        index = self.pipeline.index
        headings = [
            p.heading for a in articles[:2] for p in index.article_paragraphs(a.id) if p.heading
        ]
        return example_questions([a.title for a in articles], list(dict.fromkeys(headings)), limit)

    def show_source(self, source: str) -> str:
        """A source as people should read it: uploads by file name, local files relative."""
        path = Path(source)
        if path.parent == self.upload_dir:
            return f"upload: {path.name}"
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return source

    def add(
        self,
        *,
        url: str = "",
        file: str | None = None,
        text: str = "",
        on_wait: Callable[[], None] | None = None,
    ) -> IndexReport:
        """Index an uploaded file, a URL, or pasted text; returns what the indexing run did."""
        inputs = []
        if file:
            path = Path(file)
            if path.stat().st_size > self.config.max_bytes:
                raise UploadError(
                    f"{path.name!r} is larger than the "
                    f"{self.config.max_bytes:,}-byte limit; split it first."
                )
            stored = store_upload(
                self.upload_dir, path.name, path.read_bytes(), self.config.max_bytes
            )
            inputs.append(str(stored))
        if text and text.strip():
            data = text.strip().encode("utf-8")
            name = f"pasted-{hashlib.sha256(data).hexdigest()[:12]}.txt"
            inputs.append(str(store_upload(self.upload_dir, name, data, self.config.max_bytes)))
        if url and url.strip():
            if not url.strip().lower().startswith(("http://", "https://")):
                raise UploadError(
                    f"{url.strip()!r} is not an http(s) URL; give a full address "
                    "such as https://example.com/article."
                )
            inputs.append(url.strip())
        if not inputs:
            raise UploadError("Nothing to add; upload a file, give a URL or paste the text.")
        with self._write_lock(on_wait):
            return index_sources(self.config, inputs, embedder=self.model)

    def remove(self, source: str) -> list[str]:
        """Remove one article (by source) from the index, and its stored upload if any."""
        with self._write_lock(None):
            removed = remove_articles(self.config, [source], model=self.model.name)
        path = Path(source)
        if removed and path.parent == self.upload_dir:
            path.unlink(missing_ok=True)
        return removed

    @contextlib.contextmanager
    def _write_lock(self, on_wait: Callable[[], None] | None) -> Iterator[None]:
        if not self._writing.acquire(blocking=False):
            if on_wait is not None:
                on_wait()
            self._writing.acquire()
        try:
            yield
        finally:
            self._writing.release()


def report_dict(report: IndexReport) -> dict:
    """An indexing report as JSON data for the API."""
    return {
        "summary": report.summary(),
        "added": report.added,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "removed": report.removed,
        "skipped": [{"source": s.source, "reason": s.reason} for s in report.skipped],
    }


# --- the page -----------------------------------------------------------------------------


def build_app(service: ChatService) -> gr.Blocks:
    """The Gradio app: Chat, Library and Settings tabs over one service, and the JSON API."""
    config = service.config

    def respond(question: str, transcript: list | None, k: float, show_scores: bool):
        transcript = list(transcript or [])
        shown = chat_history(transcript, show_scores)
        try:
            data = service.ask(question or "", int(k))
        except Exception as error:  # the page gets a sentence, the console the traceback
            traceback.print_exc()
            data = {
                "question": question,
                "error": f"Answering failed ({type(error).__name__}); "
                "see the server console and try again.",
            }
        turn = (
            {"question": question, "error": data["error"]}
            if "error" in data
            else {"question": question, "answer": data}
        )
        if "answer" in turn:
            asked = {"role": "user", "content": inert(question)}
            for partial in stream_prefixes(data["answer"]):
                yield (
                    shown + [asked, {"role": "assistant", "content": inert(partial)}],
                    gr.skip(),
                    "",
                )
                time.sleep(STREAM_DELAY)
        transcript.append(turn)
        yield chat_history(transcript, show_scores), transcript, ""

    def pick_example(event: gr.SelectData) -> str:
        return event.value["text"]

    def library_view():
        articles = service.articles()
        choices = [(f"{a.title} — {service.show_source(a.source)}", a.source) for a in articles]
        return (library_html(articles, service.show_source), gr.update(choices=choices, value=None))

    def on_load(transcript: list | None, show_scores: bool):
        return (
            gr.update(
                value=chat_history(transcript or [], show_scores),
                examples=[{"text": q} for q in service.examples()],
            ),
            *library_view(),
        )

    # Gradio shows a progress bar for a function whose default is a gr.Progress.
    def add_article(url: str, file: str | None, text: str, progress=gr.Progress()) -> dict:  # noqa: B008
        """Add an article from a URL, an uploaded file (.txt .md .html .pdf .jsonl) or pasted
        text; returns the indexing report {"summary", "added", "updated", "unchanged",
        "removed", "skipped": [{"source", "reason"}]}, or {"error"}."""
        progress(0.05, desc="Saving the article…")
        try:
            report = service.add(
                url=url or "",
                file=file,
                text=text or "",
                on_wait=lambda: progress(0.1, desc="Waiting for another indexing job to finish…"),
            )
        except RagError as error:
            return {"error": str(error)}
        progress(1.0, desc="Indexed.")
        return report_dict(report)

    def remove_article(source: str) -> dict:
        """Remove the article with this source from the index; returns {"removed": [...]}."""
        if not source:
            return {"error": "Choose an article to remove first."}
        try:
            return {"removed": service.remove(source)}
        except RagError as error:
            return {"error": str(error)}

    def after_change(report: dict | None):
        report = report or {}
        if "error" in report:
            status = inert(f"⚠️ {report['error']}")
        elif "removed" in report and "summary" not in report:
            status = f"Removed {len(report['removed'])} article(s)."
        else:
            status = inert(report.get("summary", "")) + "".join(
                inert(f"Skipped {s['source']}: {s['reason']}") for s in report.get("skipped", [])
            )
        examples = [{"text": q} for q in service.examples()]
        return (*library_view(), status, gr.update(examples=examples), "", None, "")

    def ask(question: str, k: int = config.k) -> dict:
        """Answer a question from the indexed articles: {"question", "answer", "abstained",
        "confidence", "citations": [{"n", "article_title", "source", "paragraph_index",
        "paragraph_id", "heading", "paragraph_text", "sentence_start", "sentence_end",
        "sentence", "score"}]}, or {"question", "error"}."""
        return service.ask(question, k)

    with gr.Blocks(title="Ask the articles", analytics_enabled=False) as demo:
        transcript = gr.BrowserState([], storage_key="rag-chat-transcript")
        gr.Markdown(
            "## Ask the articles\nEvery answer is made of sentences from the indexed "
            "articles; each is followed by [n], its source below the answer."
        )
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                chatbot = gr.Chatbot(
                    label="Chat",
                    height=520,
                    latex_delimiters=[],
                    buttons=["copy", "copy_all"],
                    elem_id="chat",
                    placeholder="Ask a question about the indexed articles.",
                )
                with gr.Row():
                    question = gr.Textbox(
                        show_label=False,
                        placeholder="Ask a question…",
                        scale=6,
                        elem_id="question",
                        max_length=2000,
                    )
                    ask_button = gr.Button("Ask", variant="primary", scale=1)
            with gr.Tab("Library", id="library") as library_tab:
                library = gr.HTML(elem_id="library")
                with gr.Row():
                    with gr.Column():
                        upload = gr.File(
                            label="Upload an article (.txt .md .html .pdf .jsonl)",
                            file_types=list(ALLOWED_UPLOADS),
                            type="filepath",
                            elem_id="library-upload",
                        )
                        url = gr.Textbox("", label="…or its URL", placeholder="https://…")
                        text = gr.Textbox("", label="…or paste its text", lines=3)
                        add = gr.Button("Add to library", variant="primary")
                        status = gr.Markdown(elem_id="library-status")
                        with gr.Accordion("Indexing report (JSON)", open=False):
                            report = gr.JSON(label="Report")
                    with gr.Column():
                        # Custom values: API callers name any source, not this page's list.
                        chosen = gr.Dropdown(
                            label="Remove an article", choices=[], allow_custom_value=True
                        )
                        remove = gr.Button("Remove", variant="stop")
            with gr.Tab("Settings", id="settings"):
                k = gr.Slider(
                    1,
                    20,
                    value=config.k,
                    step=1,
                    label="Number of sources",
                    info="Paragraphs retrieved for each question.",
                )
                show_scores = gr.Checkbox(label="Show scores", value=False)

        chat_io = {
            "inputs": [question, transcript, k, show_scores],
            "outputs": [chatbot, transcript, question],
        }
        gr.on(
            [question.submit, ask_button.click],
            respond,
            **chat_io,
            api_name="chat",
            api_visibility="private",
        )
        chatbot.example_select(
            pick_example,
            None,
            question,
            api_name="pick_example",
            api_visibility="private",
            queue=False,
        ).then(respond, **chat_io, api_name="chat_example", api_visibility="private")
        # The Chatbot's own trash button empties the page; the saved transcript goes with it.
        chatbot.clear(
            lambda: [],
            None,
            transcript,
            api_name="clear",
            api_visibility="private",
            queue=False,
        )
        show_scores.change(
            chat_history,
            [transcript, show_scores],
            chatbot,
            api_name="render",
            api_visibility="private",
            queue=False,
        )
        demo.load(
            on_load,
            [transcript, show_scores],
            [chatbot, library, chosen],
            api_name="load",
            api_visibility="private",
        )
        library_tab.select(
            library_view, None, [library, chosen], api_name="library", api_visibility="private"
        )
        changed = [library, chosen, status, chatbot, url, upload, text]
        add.click(
            add_article,
            [url, upload, text],
            report,
            api_name="add_article",
            concurrency_limit=1,
            concurrency_id="library",
            show_progress_on=status,
        ).then(after_change, report, changed, api_name="after_add", api_visibility="private")
        remove.click(
            remove_article,
            chosen,
            report,
            api_name="remove_article",
            concurrency_limit=1,
            concurrency_id="library",
        ).then(after_change, report, changed, api_name="after_remove", api_visibility="private")
        gr.api(ask, api_name="ask")
    demo.queue(default_concurrency_limit=8)
    return demo


# --- starting, logging in, sharing ------------------------------------------------------------


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


def start(
    demo: gr.Blocks,
    service: ChatService,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    login: Login | None = None,
) -> str:
    """Start serving the app in the background; returns its local URL."""
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
    )
    return demo.local_url


def open_share_link(demo: gr.Blocks, timeout: float = SHARE_TIMEOUT) -> tuple[str | None, str]:
    """Try to open a public share link for a running app within timeout seconds; returns the
    link (or None) and one line for the console saying what happened and, on failure, the fix."""
    from gradio import networking, tunneling

    outcome: dict[str, object] = {}

    def attempt() -> None:
        try:
            outcome["url"] = networking.setup_tunnel(
                local_host=demo.server_name,
                local_port=demo.server_port,
                share_token=demo.share_token,
                share_server_address=None,
                share_server_tls_certificate=None,
            )
        except Exception as error:  # any failure means: no link, keep serving locally
            outcome["error"] = error

    thread = threading.Thread(target=attempt, name="share-link", daemon=True)
    thread.start()
    thread.join(timeout)
    url = outcome.get("url")
    if isinstance(url, str):
        url = "https://" + url.split("://", 1)[-1] if "://" in url else url
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
        why = f"{error} ({type(cause).__name__}: {cause})" if cause is not error else str(error)
    missing = not Path(tunneling.BINARY_PATH).exists()
    fix = (
        f"allow outbound HTTPS to gradio.app and put Gradio's frpc tunnel client at "
        f"{tunneling.BINARY_PATH} (download {tunneling.BINARY_URL}, chmod +x)"
        if missing
        else "allow outbound connections to gradio.live"
    )
    return None, (
        f"Share link not opened: {why.rstrip('.')}; still serving locally at "
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
    service = ChatService(config, embedder=embedder, upload_dir=upload_dir)
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
