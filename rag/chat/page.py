"""The page: Chat, Library and Settings tabs over one ChatService, and the JSON API."""

from __future__ import annotations

import time
import traceback

import gradio as gr

from rag.chat.render import chat_history, inert, library_html, stream_prefixes
from rag.chat.service import ChatService, report_dict
from rag.chat.uploads import ALLOWED_UPLOADS
from rag.errors import RagError

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
    config = service.config

    def respond(
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
        login, client = _who(request)
        transcript = list(transcript or [])
        shown = chat_history(transcript, show_scores)
        asked = {"role": "user", "content": inert(question or "")}
        history = [t["answer"] for t in transcript if "answer" in t]
        data: dict = {}
        draft = ""
        try:
            llm = service.llm(use_llm, llm_url, llm_model, llm_key)
            for event in service.ask_stream(
                question or "",
                int(k),
                history=history,
                llm=llm,
                who=login or client,
                as_of=as_of,
                since=since,
                until=until,
            ):
                if isinstance(event, dict):
                    data = event
                    break
                draft += event  # the LLM's text as it is written, checked when it is done
                writing = {"role": "assistant", "content": inert(draft + " ▍")}
                yield shown + [asked, writing], gr.skip(), ""
        except RagError as error:
            data = {"question": question, "error": str(error)}
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

    def pick_example(event: gr.SelectData) -> str:
        return event.value["text"]

    def examples() -> list[dict]:
        try:
            return [{"text": q} for q in service.examples()]
        except RagError:  # a damaged index: the library says what is wrong
            return []

    def library_view():
        try:
            articles = service.articles()
        except RagError as error:
            return inert(f"⚠️ {error}"), gr.update(choices=[], value=None)
        choices = [(f"{a.title} — {service.show_source(a.source)}", a.source) for a in articles]
        return (library_html(articles, service.show_source), gr.update(choices=choices, value=None))

    def on_load(transcript: list | None, show_scores: bool, request: gr.Request):
        editor = service.may_change(_who(request)[0])
        return (
            gr.update(
                value=chat_history(transcript or [], show_scores),
                examples=examples(),
            ),
            *library_view(),
            # The editing controls start hidden and are shown to the owner only.
            gr.update(visible=True) if editor else gr.skip(),
            gr.update(visible=True) if editor else gr.skip(),
            gr.skip() if editor else gr.update(visible=True),
        )

    # Gradio shows a progress bar for a function whose default is a gr.Progress.
    def add_article(
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
            report = service.add(
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

    def remove_article(source: str, request: gr.Request) -> dict:
        """Remove the article with this source from the index; returns {"removed": [...]}, or
        {"error"}. When the app has a login, only the owner's may remove."""
        login, client = _who(request)
        if not source:
            return {"error": "Choose an article to remove first."}
        try:
            return {"removed": service.remove(source, login=login, client=client)}
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
        return (*library_view(), status, gr.update(examples=examples()), "", None, "")

    def ask(
        question: str,
        k: int = config.k,
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
        "sentence", "score", "answer_start", "answer_end", "answer_phrase", "published",
        "also"}], "mode", "sentences": [{"text", "status", "cited", "dropped", "citation",
        "support", "missing"}], "supported", "note", "asked"}, or {"question", "error"}.
        history: earlier answers of the conversation, for follow-up questions; llm: use the
        server's LLM when one is configured; as_of: answer as on this day (YYYY-MM-DD; empty:
        the server's day, else today), so later articles are not used and those published near
        it are preferred; since, until: use only articles published in this window (inclusive;
        either may be empty), which leaves undated ones out. A citation's "published" is its
        article's day (or null), "also" the days of other versions of its paragraph left out.
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

    with gr.Blocks(title="Ask the articles", analytics_enabled=False) as demo:
        transcript = gr.BrowserState([], storage_key="rag-chat-transcript")
        gr.Markdown(
            "## Ask the articles\nEvery sentence of an answer is followed by [n], its source "
            "in the indexed articles, shown below the answer. With an LLM (Settings), a "
            "sentence no source supports is marked ⚠."
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
                with gr.Group():
                    as_of = gr.Textbox(
                        "",
                        label="Answer as of",
                        placeholder=config.as_of.isoformat() if config.as_of else "YYYY-MM-DD",
                        info="Articles published after this day are not used, and those "
                        f"published near it are preferred. Empty: {config.as_of or 'today'}.",
                        max_lines=1,
                        max_length=40,
                        elem_id="as-of",
                    )
                    with gr.Row():
                        since = gr.Textbox(
                            "",
                            label="Published since",
                            placeholder=config.since.isoformat() if config.since else "YYYY-MM-DD",
                            info="Only articles published in this window (either end may be "
                            "empty); undated ones are then left out.",
                            max_lines=1,
                            max_length=40,
                            elem_id="since",
                        )
                        until = gr.Textbox(
                            "",
                            label="until",
                            placeholder=config.until.isoformat() if config.until else "YYYY-MM-DD",
                            max_lines=1,
                            max_length=40,
                            elem_id="until",
                        )
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
                        info=None
                        if service.llm_url_editable
                        else "Set on the server (this app has visitors).",
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
                        placeholder="set on the server"
                        if configured and configured.api_key
                        else "none",
                    )

        chat_io = {
            "inputs": [
                question,
                transcript,
                k,
                show_scores,
                use_llm,
                llm_url,
                llm_model,
                llm_key,
                as_of,
                since,
                until,
            ],
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
            [chatbot, library, chosen, editor, remover, read_only],
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
    # Beyond queue_size waiting requests, the page says the app is busy and to try again.
    demo.queue(default_concurrency_limit=8, max_size=config.queue_size)
    return demo
