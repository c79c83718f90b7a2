"""The service the page and the API share: questions, the library and uploads over one index."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from rag.chat.render import example_questions
from rag.chat.uploads import UploadError, store_upload
from rag.config import Config
from rag.embed import Embedder, load_embedder
from rag.errors import RagError
from rag.pipeline import IndexReport, Pipeline, index_sources, model_for, remove_articles
from rag.store import ArticleInfo

MAX_K = 50


class ChatService:
    """Questions, the library and uploads over one index; safe to call from many sessions."""

    def __init__(
        self, config: Config, *, embedder: Embedder | None = None, upload_dir: Path | None = None
    ):
        self.config = config
        # One model for every session and for indexing; it serializes its own calls.
        self.model = embedder or load_embedder(model_for(config), config.bf16)
        self.pipeline = Pipeline(config, embedder=self.model)
        self.upload_dir = Path(upload_dir or Path(config.index_dir).parent / "uploads").resolve()
        self._writing = threading.Lock()  # one indexing job at a time in this process

    def ask(self, question: str, k: int | None = None) -> dict:
        """Answer data (Answer.to_dict()), or {"question", "error"} when it cannot be asked."""
        if k is not None and not 1 <= int(k) <= MAX_K:
            return {"question": question, "error": f"k must be between 1 and {MAX_K}, got {k}."}
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
        url = (url or "").strip()
        if url and not url.lower().startswith(("http://", "https://")):
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
