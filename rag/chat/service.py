"""The service the page and the API share: questions, the library and uploads over one index."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from rag.answer import Answer
from rag.changelog import changes_log, log_change
from rag.chat.limits import RateLimit, too_many
from rag.chat.render import Example, example_questions
from rag.chat.uploads import store_upload
from rag.config import Config, llm_url_error, parse_day
from rag.errors import AccessError, ConfigError, RagError, UploadError
from rag.followup import Turn
from rag.llm import LLM, from_config
from rag.pipeline import (
    ArticleInfo,
    Embedder,
    IndexReport,
    Pipeline,
    When,
    index_sources,
    load_model,
    remove_articles,
)
from rag.text import is_http_url

MAX_K = 50
LOGGED_CHARS = 300  # of each URL or name a refused attempt offered
# How the page names the day fields, so a refusal points at the field to fix.
DAY_NAMES = {"as_of": "Answer as of", "since": "Published since", "until": "Published until"}
OWNER_ONLY = (
    "Only the owner can change the library; sign in with the owner's login to add or remove "
    "articles."
)


class ChatService:
    """Questions, the library and uploads over one index; safe to call from many sessions.

    Who may do what: with an owner (the app has a login), only the owner's login may change the
    library; without one, everyone may. Each login — or client address, without a login — may
    ask config.ask_rate questions and make config.add_rate library changes a minute. Every
    change, and every attempt refused to a login that is not the owner's, is appended to
    changes_log (JSON lines).
    """

    def __init__(
        self,
        config: Config,
        *,
        embedder: Embedder | None = None,
        upload_dir: Path | None = None,
        shared: bool = False,
        owner: str | None = None,
    ):
        # The app's visitors never make the server fetch private addresses, whatever the
        # owner allows for command-line indexing.
        self.config = config = replace(config, allow_private_urls=False)
        self.owner = owner
        self.questions = RateLimit(config.ask_rate)
        self.changes = RateLimit(config.add_rate)
        self.changes_log = changes_log(Path(config.index_dir)).resolve()
        # On a shared link, strangers must not point the server at other hosts: the LLM's
        # address is then the server's own setting only.
        self.llm_url_editable = not shared
        self.configured_llm = from_config(config)  # the server's own LLM, or None
        # One model for every session and for indexing; it serializes its own calls.
        self.model = embedder or load_model(config)
        self.pipeline = Pipeline(config, embedder=self.model)
        self.upload_dir = Path(upload_dir or Path(config.index_dir).parent / "uploads").resolve()
        self._writing = threading.Lock()  # one indexing job at a time in this process

    def llm(
        self, use: bool = True, url: str = "", model: str = "", api_key: str = ""
    ) -> LLM | None:
        """The LLM for one request: the server's, with a session's url, model and key over it."""
        if not use:
            return None
        configured = self.configured_llm
        url = (url or "").strip() if self.llm_url_editable else ""
        url = url or (configured.url if configured else "")
        if not url:
            return None
        if not is_http_url(url):
            raise ConfigError(llm_url_error(url))
        return LLM(
            url,
            (model or "").strip() or (configured.model if configured else None),
            api_key=(api_key or "").strip() or (configured.api_key if configured else None),
            timeout=self.config.llm_timeout,
        )

    def may_change(self, login: str | None) -> bool:
        """Whether this login may add and remove articles: the owner's, or anyone's without one."""
        return self.owner is None or login == self.owner

    def when(
        self, as_of: str | None = None, since: str | None = None, until: str | None = None
    ) -> When:
        """The moment and window of one question from YYYY-MM-DD days (empty: the server's
        setting; as_of then today); ConfigError naming the field for a bad day or window."""
        days: dict[str, dt.date | None] = {}
        for name, raw in (("as_of", as_of), ("since", since), ("until", until)):
            if raw is None or not str(raw).strip():
                days[name] = getattr(self.config, name)
                continue
            try:
                days[name] = parse_day(str(raw))
            except ValueError as error:
                raise ConfigError(f"{DAY_NAMES[name]}: {error}.") from None
        return self.pipeline.when(days["as_of"], days["since"], days["until"])

    def ask_stream(
        self,
        question: str,
        k: int | None = None,
        *,
        history: Sequence[Mapping] = (),
        llm: LLM | None = None,
        who: str | None = None,
        as_of: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> Iterator[str | dict]:
        """The LLM's text as it is written (LLM mode), then the answer data (Answer.to_dict()),
        or {"question", "error"} when it cannot be asked. history: earlier answers' data; who:
        the login or client asking, counted against config.ask_rate; as_of, since, until:
        YYYY-MM-DD days (see when())."""
        if who is not None and (wait := self.questions.take(who)):
            yield {"question": question, "error": too_many("questions", self.config.ask_rate, wait)}
            return
        if k is not None and not 1 <= int(k) <= MAX_K:
            yield {"question": question, "error": f"k must be between 1 and {MAX_K}, got {k}."}
            return
        try:
            when = self.when(as_of, since, until)
            turns = _turns(history)
            for event in self.pipeline.ask_stream(
                question, k=int(k) if k else None, history=turns, llm=llm, when=when
            ):
                yield event.to_dict() if isinstance(event, Answer) else event
        except RagError as error:
            yield {"question": question, "error": str(error)}

    def ask(
        self,
        question: str,
        k: int | None = None,
        *,
        history: Sequence[Mapping] = (),
        llm: LLM | None = None,
        who: str | None = None,
        as_of: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> dict:
        """Answer data (Answer.to_dict()), or {"question", "error"} when it cannot be asked."""
        for event in self.ask_stream(
            question, k, history=history, llm=llm, who=who, as_of=as_of, since=since, until=until
        ):
            if isinstance(event, dict):
                return event
        raise AssertionError("ask_stream ended without an answer")  # pragma: no cover

    def articles(self) -> list[ArticleInfo]:
        """The indexed articles, oldest first."""
        return self.pipeline.articles()

    def examples(self, limit: int = 4) -> list[Example]:
        """Examples under the chat for the articles now indexed (newest first)."""
        articles = self.articles()[::-1]
        headings = self.pipeline.headings(articles[:2])
        return example_questions([a.title for a in articles], headings, limit)

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
        login: str | None = None,
        client: str | None = None,
    ) -> IndexReport:
        """Index an uploaded file, a URL, or pasted text; returns what the indexing run did.
        login: who asks (only the owner may, when there is one); client: their address."""
        url = (url or "").strip()
        offered = [x for x in (url, Path(file).name if file else "", text and "pasted text") if x]
        self._admit("add", offered, login, client)
        if url and not is_http_url(url):
            raise UploadError(
                f"{url!r} is not an http(s) URL; give a full address "
                "such as https://example.com/article."
            )
        inputs = [url] if url else []
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
        if not inputs:
            raise UploadError("Nothing to add; upload a file, give a URL or paste the text.")
        with self._write_lock(on_wait):
            report = index_sources(self.config, inputs, embedder=self.model)
            self._log(
                "add",
                login,
                client,
                what=inputs,
                added=report.added,
                updated=report.updated,
                skipped=[{"source": s.source, "reason": s.reason} for s in report.skipped],
            )
        return report

    def remove(
        self, source: str, *, login: str | None = None, client: str | None = None
    ) -> list[str]:
        """Remove one article (by source) from the index, and its stored upload if any.
        login: who asks (only the owner may, when there is one); client: their address."""
        self._admit("remove", [source], login, client)
        with self._write_lock(None):
            removed = remove_articles(self.config, [source], model=self.model.name)
            self._log("remove", login, client, what=[source], removed=removed)
        path = Path(source)
        if removed and path.parent == self.upload_dir:
            path.unlink(missing_ok=True)
        return removed

    def _admit(self, action: str, what: list[str], login: str | None, client: str | None) -> None:
        """Raise AccessError unless this login may change the library now; a login that is not
        the owner's is logged. The rate is counted first, so nobody can fill the log faster."""
        wait = self.changes.take(login or client or "")
        if wait:
            raise AccessError(too_many("library changes", self.config.add_rate, wait))
        if not self.may_change(login):
            shown = [item[:LOGGED_CHARS] for item in what]
            self._log("refused", login, client, what=shown, wanted=action, why="not the owner")
            raise AccessError(OWNER_ONLY)

    def _log(self, action: str, login: str | None, client: str | None, **details: object) -> None:
        log_change(self.changes_log, action, login, client, **details)

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


def _turns(history: Sequence[Mapping]) -> list[Turn]:
    """The earlier turns of a conversation from answers' data; malformed entries are left out."""
    turns = []
    for data in history or ():
        if isinstance(data, Mapping) and "error" not in data:
            try:
                turns.append(Turn.from_answer(Answer.from_dict(data)))
            except (KeyError, TypeError, ValueError):
                continue
    return turns
