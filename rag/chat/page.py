"""The page: Chat, Library and Settings tabs over one ChatService, and the JSON API."""

from __future__ import annotations

import datetime as dt
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import gradio as gr

from rag.chat.render import chat_history, inert, library_html, stream_prefixes
from rag.chat.service import ChatService, report_dict
from rag.chat.uploads import ALLOWED_UPLOADS
from rag.config import Config
from rag.errors import RagError
from rag.text import plural

STREAM_DELAY = 0.03
READ_ONLY = (
    "The library is read-only for this login: ask away; the app's owner adds and removes articles."
)


def _who(request: gr.Request | None) -> tuple[str | None, str | None]:
    """The login of a request (None without one) and the client's address."""
    if request is None:
        return None, None
    client = request.client.host if request.client else None
    return getattr(request, "username", None), client


def build_app(service: ChatService) -> gr.Blocks:
    """The Gradio app: Chat, Library and Settings tabs over one service, and the JSON API."""
    with gr.Blocks(title="Ask the articles", analytics_enabled=False) as demo:
        page = layout(service)
        _connect(demo, page, Handlers(service), service)
    # Beyond queue_size waiting requests, the page says the app is busy and to try again.
    demo.queue(default_concurrency_limit=8, max_size=service.config.queue_size)
    return demo


@dataclass(frozen=True)
class Page:
    """The components of the page that its events read or change."""

    transcript: gr.BrowserState
    chatbot: gr.Chatbot
    question: gr.Textbox
    ask_button: gr.Button
    library_tab: gr.Tab
    library: gr.HTML
    read_only: gr.Markdown
    editor: gr.Column
    upload: gr.File
    url: gr.Textbox
    text: gr.Textbox
    add: gr.Button
    status: gr.Markdown
    report: gr.JSON
    remover: gr.Column
    chosen: gr.Dropdown
    remove: gr.Button
    k: gr.Slider
    show_scores: gr.Checkbox
    as_of: gr.Textbox
    since: gr.Textbox
    until: gr.Textbox
    use_llm: gr.Checkbox
    llm_url: gr.Textbox
    llm_model: gr.Textbox
    llm_key: gr.Textbox


def layout(service: ChatService) -> Page:
    """The page's parts, laid out inside the open gr.Blocks: a heading, then the Chat, Library
    and Settings tabs."""
    transcript = gr.BrowserState([], storage_key="rag-chat-transcript")
    gr.Markdown(
        "## Ask the articles\nEvery sentence of an answer is followed by [n], its source "
        "in the indexed articles, shown below the answer. With an LLM (Settings), a "
        "sentence no source supports is marked ⚠."
    )
    with gr.Tabs():
        chat = _chat_tab()
        library = _library_tab()
        settings = _settings_tab(service)
    return Page(transcript=transcript, **chat, **library, **settings)


def _chat_tab() -> dict:
    """The Chat tab: the conversation, the question box and its button."""
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
    return {"chatbot": chatbot, "question": question, "ask_button": ask_button}


def _library_tab() -> dict:
    """The Library tab: the articles, and the owner's controls to add and remove them."""
    with gr.Tab("Library", id="library") as library_tab:
        library = gr.HTML(elem_id="library")
        read_only = gr.Markdown(READ_ONLY, visible=False, elem_id="library-read-only")
        with gr.Row():
            with gr.Column(visible=False) as editor:
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
            with gr.Column(visible=False) as remover:
                # Custom values: API callers name any source, not this page's list.
                chosen = gr.Dropdown(label="Remove an article", choices=[], allow_custom_value=True)
                remove = gr.Button("Remove", variant="stop")
    return {
        "library_tab": library_tab,
        "library": library,
        "read_only": read_only,
        "editor": editor,
        "upload": upload,
        "url": url,
        "text": text,
        "add": add,
        "status": status,
        "report": report,
        "remover": remover,
        "chosen": chosen,
        "remove": remove,
    }


def _settings_tab(service: ChatService) -> dict:
    """The Settings tab: sources, scores, the days asked about, and the LLM."""
    config = service.config
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
        days = _day_fields(config)
        llm = _llm_fields(service)
    return {"k": k, "show_scores": show_scores, **days, **llm}


def _day_fields(config: Config) -> dict:
    """The day a question is asked as of, and the window of publication days."""
    with gr.Group():
        as_of = _day_box(
            "Answer as of",
            config.as_of,
            "as-of",
            "Articles published after this day are not used, and those "
            f"published near it are preferred. Empty: {config.as_of or 'today'}.",
        )
        with gr.Row():
            since = _day_box(
                "Published since",
                config.since,
                "since",
                "Only articles published in this window (either end may be "
                "empty); undated ones are then left out.",
            )
            until = _day_box("until", config.until, "until")
    return {"as_of": as_of, "since": since, "until": until}


def _day_box(label: str, day: dt.date | None, elem_id: str, info: str | None = None) -> gr.Textbox:
    """A field for a YYYY-MM-DD day, the server's setting (if any) as its placeholder."""
    return gr.Textbox(
        "",
        label=label,
        placeholder=day.isoformat() if day else "YYYY-MM-DD",
        info=info,
        max_lines=1,
        max_length=40,
        elem_id=elem_id,
    )


def _llm_fields(service: ChatService) -> dict:
    """Whether and how to write answers with an LLM (the server's unless a session sets one)."""
    configured = service.configured_llm
    with gr.Group():
        use_llm = gr.Checkbox(
            label="Write answers with an LLM",
            value=configured is not None,
            info="Any OpenAI-compatible chat server. Every sentence it writes is "
            "checked against the sources; unsupported ones are marked ⚠.",
        )
        llm_url = gr.Textbox(
            configured.url if configured else "",
            label="LLM server URL",
            placeholder="http://127.0.0.1:11434/v1",
            interactive=service.llm_url_editable,
            info=None if service.llm_url_editable else "Set on the server (this app has visitors).",
        )
        llm_model = gr.Textbox(
            (configured.model or "") if configured else "",
            label="Model",
            placeholder="the server's first model",
        )
        llm_key = gr.Textbox(
            "",
            label="API key",
            type="password",
            placeholder="set on the server" if configured and configured.api_key else "none",
        )
    return {"use_llm": use_llm, "llm_url": llm_url, "llm_model": llm_model, "llm_key": llm_key}


def _connect(demo: gr.Blocks, page: Page, handlers: Handlers, service: ChatService) -> None:
    """The page's events and the API's endpoints."""
    chat_io = {
        "inputs": [
            page.question,
            page.transcript,
            page.k,
            page.show_scores,
            page.use_llm,
            page.llm_url,
            page.llm_model,
            page.llm_key,
            page.as_of,
            page.since,
            page.until,
        ],
        "outputs": [page.chatbot, page.transcript, page.question],
    }
    gr.on(
        [page.question.submit, page.ask_button.click],
        handlers.respond,
        **chat_io,
        api_name="chat",
        api_visibility="private",
    )
    page.chatbot.example_select(
        handlers.pick_example,
        None,
        page.question,
        api_name="pick_example",
        api_visibility="private",
        queue=False,
    ).then(handlers.respond, **chat_io, api_name="chat_example", api_visibility="private")
    # The Chatbot's own trash button empties the page; the saved transcript goes with it.
    page.chatbot.clear(
        lambda: [],
        None,
        page.transcript,
        api_name="clear",
        api_visibility="private",
        queue=False,
    )
    page.show_scores.change(
        chat_history,
        [page.transcript, page.show_scores],
        page.chatbot,
        api_name="render",
        api_visibility="private",
        queue=False,
    )
    _connect_library(demo, page, handlers)
    gr.api(api_ask(service), api_name="ask")


def _connect_library(demo: gr.Blocks, page: Page, handlers: Handlers) -> None:
    """The page's load and the library's events (adding and removing articles)."""
    demo.load(
        handlers.on_load,
        [page.transcript, page.show_scores],
        [page.chatbot, page.library, page.chosen, page.editor, page.remover, page.read_only],
        api_name="load",
        api_visibility="private",
    )
    page.library_tab.select(
        handlers.library_view,
        None,
        [page.library, page.chosen],
        api_name="library",
        api_visibility="private",
    )
    changed = [
        page.library,
        page.chosen,
        page.status,
        page.chatbot,
        page.url,
        page.upload,
        page.text,
    ]
    page.add.click(
        handlers.add_article,
        [page.url, page.upload, page.text],
        page.report,
        api_name="add_article",
        concurrency_limit=1,
        concurrency_id="library",
        show_progress_on=page.status,
    ).then(
        handlers.after_change, page.report, changed, api_name="after_add", api_visibility="private"
    )
    page.remove.click(
        handlers.remove_article,
        page.chosen,
        page.report,
        api_name="remove_article",
        concurrency_limit=1,
        concurrency_id="library",
    ).then(
        handlers.after_change,
        page.report,
        changed,
        api_name="after_remove",
        api_visibility="private",
    )


class Handlers:
    """What the page's events do, over one service."""

    def __init__(self, service: ChatService):
        self.service = service

    def respond(
        self,
        question: str,
        transcript: list | None,
        k: float,
        show_scores: bool,
        use_llm: bool,
        llm_url: str,
        llm_model: str,
        llm_key: str,
        as_of: str,
        since: str,
        until: str,
        request: gr.Request,
    ):
        """Answer a chat question: the LLM's draft as it is written, then the checked answer
        (a few words at a time when there was no draft), kept in the transcript."""
        login, client = _who(request)
        transcript = list(transcript or [])
        shown = chat_history(transcript, show_scores)
        asked = {"role": "user", "content": inert(question or "")}
        history = [t["answer"] for t in transcript if "answer" in t]
        events = self._reply(
            question or "",
            int(k),
            history,
            (use_llm, llm_url, llm_model, llm_key),
            login or client,
            (as_of, since, until),
        )
        data: dict = {}
        draft = ""
        for event in events:
            if isinstance(event, dict):
                data = event
                break
            draft += event  # the LLM's text as it is written, checked when it is done
            writing = {"role": "assistant", "content": inert(draft + " ▍")}
            yield shown + [asked, writing], gr.skip(), ""
        turn = (
            {"question": question, "error": data["error"]}
            if "error" in data
            else {"question": question, "answer": data}
        )
        if "answer" in turn and not draft:
            for partial in stream_prefixes(data["answer"]):
                yield (
                    shown + [asked, {"role": "assistant", "content": inert(partial)}],
                    gr.skip(),
                    "",
                )
                time.sleep(STREAM_DELAY)
        transcript.append(turn)
        yield chat_history(transcript, show_scores), transcript, ""

    def _reply(
        self,
        question: str,
        k: int,
        history: list,
        llm: tuple[bool, str, str, str],
        who: str | None,
        days: Sequence[str],
    ) -> Iterator[str | dict]:
        """The service's events for one chat question (see ChatService.ask_stream); a failure
        ends them with {"question", "error"}: a sentence, never a traceback."""
        as_of, since, until = days
        try:
            model = self.service.llm(*llm)
            yield from self.service.ask_stream(
                question,
                k,
                history=history,
                llm=model,
                who=who,
                as_of=as_of,
                since=since,
                until=until,
            )
        except RagError as error:
            yield {"question": question, "error": str(error)}
        except Exception as error:  # the page gets a sentence, the console the traceback
            traceback.print_exc()
            yield {
                "question": question,
                "error": f"Answering failed ({type(error).__name__}); "
                "see the server console and try again.",
            }

    @staticmethod
    def pick_example(event: gr.SelectData) -> str:
        """The text of the example question chosen."""
        return event.value["text"]

    def examples(self) -> list[dict]:
        """The chat's example questions."""
        try:
            return [{"display_text": e.label, "text": e.question} for e in self.service.examples()]
        except RagError:  # a damaged index: the library says what is wrong
            return []

    def library_view(self):
        """The library table and the choices of the remove menu."""
        try:
            articles = self.service.articles()
        except RagError as error:
            return inert(f"⚠️ {error}"), gr.update(choices=[], value=None)
        choices = [
            (f"{a.title} — {self.service.show_source(a.source)}", a.source) for a in articles
        ]
        return (
            library_html(articles, self.service.show_source),
            gr.update(choices=choices, value=None),
        )

    def on_load(self, transcript: list | None, show_scores: bool, request: gr.Request):
        """A page opened: its saved chat, the examples, the library, and the owner's controls."""
        editor = self.service.may_change(_who(request)[0])
        return (
            gr.update(
                value=chat_history(transcript or [], show_scores),
                examples=self.examples(),
            ),
            *self.library_view(),
            # The editing controls start hidden and are shown to the owner only.
            gr.update(visible=True) if editor else gr.skip(),
            gr.update(visible=True) if editor else gr.skip(),
            gr.skip() if editor else gr.update(visible=True),
        )

    # Gradio shows a progress bar for a function whose default is a gr.Progress.
    def add_article(
        self,
        url: str,
        file: str | None,
        text: str,
        request: gr.Request,
        progress=gr.Progress(),  # noqa: B008
    ) -> dict:
        """Add an article from a URL (public addresses only), an uploaded file (.txt .md .html
        .pdf .jsonl) or pasted text; returns the indexing report {"summary", "added",
        "updated", "unchanged", "removed", "skipped": [{"source", "reason"}]}, or {"error"}.
        When the app has a login, only the owner's may add."""
        login, client = _who(request)
        progress(0.05, desc="Saving the article…")
        try:
            report = self.service.add(
                url=url or "",
                file=file,
                text=text or "",
                on_wait=lambda: progress(0.1, desc="Waiting for another indexing job to finish…"),
                login=login,
                client=client,
            )
        except RagError as error:
            return {"error": str(error)}
        progress(1.0, desc="Indexed.")
        return report_dict(report)

    def remove_article(self, source: str, request: gr.Request) -> dict:
        """Remove the article with this source from the index; returns {"removed": [...]}, or
        {"error"}. When the app has a login, only the owner's may remove."""
        login, client = _who(request)
        if not source:
            return {"error": "Choose an article to remove first."}
        try:
            return {"removed": self.service.remove(source, login=login, client=client)}
        except RagError as error:
            return {"error": str(error)}

    def after_change(self, report: dict | None):
        """The library, a status line, and fresh examples after an article was added or removed."""
        report = report or {}
        if "error" in report:
            status = inert(f"⚠️ {report['error']}")
        elif "removed" in report and "summary" not in report:
            status = f"Removed {plural(len(report['removed']), 'article')}."
        else:
            status = inert(report.get("summary", "")) + "".join(
                inert(f"Skipped {s['source']}: {s['reason']}") for s in report.get("skipped", [])
            )
        return (*self.library_view(), status, gr.update(examples=self.examples()), "", None, "")


def api_ask(service: ChatService):
    """The ask endpoint of the JSON API over this service (k defaults to the server's)."""

    def ask(
        question: str,
        k: int = service.config.k,
        history: list | None = None,
        llm: bool = True,
        as_of: str | None = None,
        since: str | None = None,
        until: str | None = None,
        request: gr.Request = None,
    ) -> dict:
        """Answer a question from the indexed articles: {"question", "answer", "abstained",
        "confidence", "citations": [{"n", "article_title", "source", "paragraph_index",
        "paragraph_id", "heading", "paragraph_text", "sentence_start", "sentence_end",
        "sentence", "score", "answer_start", "answer_end", "answer_phrase", "answer_day",
        "published", "also"}], "mode", "sentences": [{"text", "status", "cited", "dropped",
        "citation", "support", "missing"}], "supported", "note", "asked"}, or {"question",
        "error"}.
        history: earlier answers of the conversation, for follow-up questions; llm: use the
        server's LLM when one is configured; as_of: answer as on this day (YYYY-MM-DD; empty:
        the server's day, else today), so later articles are not used and those published near
        it are preferred; since, until: use only articles published in this window (inclusive;
        either may be empty), which leaves undated ones out. A citation's "published" is its
        article's day (or null), "also" the days of other versions of its paragraph left out,
        "answer_day" the day a marked weekday names (or null).
        Each login may ask a limited number of questions a minute."""
        login, client = _who(request)
        try:
            model = service.llm(llm)
        except RagError as error:
            return {"question": question, "error": str(error)}
        return service.ask(
            question,
            k,
            history=history or [],
            llm=model,
            who=login or client,
            as_of=as_of,
            since=since,
            until=until,
        )

    return ask
