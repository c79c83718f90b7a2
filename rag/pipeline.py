"""The one place that wires the stages: sources → index, and question → cited answer.

The faces (the CLI and the chat app) reach the index, the models and the answers only through
here: Pipeline answers and lists the library; index_sources and remove_articles change it;
load_model, has_index and open_index start a face. Reading an index imports no parser: ingest and
the index writer load only when articles are added or removed.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rag import sentences
from rag.answer import Answer, abstain, extract
from rag.chunk import article_id, chunk_article
from rag.config import DEFAULT_MODEL, Config
from rag.embed import Embedder, Progress, load_embedder, load_reranker
from rag.errors import ConfigError, LLMError, QuestionError, RagError
from rag.followup import Turn, carried_names, clean_rewrite, is_follow_up, with_names
from rag.llm import LLM, answer_messages, is_not_found, rewrite_messages
from rag.overview import asks_overview, overview
from rag.retrieve import Hit, retrieve
from rag.retrieve.answerable import answerability, model_versions
from rag.retrieve.answerable import model as answerability_model
from rag.retrieve.recency import When
from rag.store import ArticleInfo, Index, Manifest, current_generation
from rag.store.layout import MANIFEST
from rag.store.vectors import describe as describe_vectors
from rag.verify import Verifier

if TYPE_CHECKING:
    from rag.ingest import Article, Skipped
    from rag.store import Writer

# What the faces use of the stages, named here so that they import only this module.
__all__ = [
    "Answer",
    "ArticleInfo",
    "Embedder",
    "Index",
    "IndexReport",
    "Pipeline",
    "Turn",
    "When",
    "describe_vectors",
    "has_index",
    "index_sources",
    "load_model",
    "model_for",
    "open_index",
    "remove_articles",
]

MAX_QUESTION_CHARS = 2000


@dataclass
class IndexReport:
    """What one indexing run did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    paragraphs: int = 0
    seconds: float = 0.0
    retagged: int = 0  # paragraphs whose entity tags an older tagger had made, tagged again

    def summary(self) -> str:
        """One line for people: what was added, kept, removed and skipped."""
        parts = [
            f"{len(self.added)} added",
            f"{len(self.updated)} updated",
            f"{self.unchanged} unchanged",
            f"{len(self.removed)} removed",
            f"{len(self.skipped)} skipped",
        ]
        line = (
            f"Indexed {', '.join(parts)} ({self.paragraphs} new paragraphs embedded "
            f"in {self.seconds:.1f} s)."
        )
        if self.retagged:
            line += f" Entity tags of {self.retagged} paragraphs brought up to date."
        return line


def model_for(config: Config) -> str:
    """The model to use: the configured one, else the one the index was built with, else default."""
    if config.model:
        return config.model
    try:
        generation = current_generation(Path(config.index_dir))
        # The manifest alone says which model; no need to load the vectors.
        return Manifest.from_file(generation / MANIFEST).model if generation else DEFAULT_MODEL
    except RagError:
        return DEFAULT_MODEL


def load_model(config: Config) -> Embedder:
    """The embedding model for the index at config.index_dir (see model_for)."""
    return load_embedder(model_for(config), config.bf16)


def has_index(config: Config) -> bool:
    """Whether an index has been built at config.index_dir."""
    return current_generation(Path(config.index_dir)) is not None


def open_index(config: Config) -> Index:
    """The live index at config.index_dir, to read its manifest and articles without loading a
    model (refused if it was built with another model than config.model)."""
    return Index.open(Path(config.index_dir), model=config.model)


def index_sources(
    config: Config,
    inputs: Sequence[str],
    *,
    prune: bool = False,
    rebuild: bool = False,
    embedder: Embedder | None = None,
    on_skip: Callable[[Skipped], None] | None = None,
) -> IndexReport:
    """Add new and changed articles from inputs to the index; with prune, drop vanished ones."""
    from rag.ingest import Skipped, read_sources
    from rag.store import Writer

    started = time.perf_counter()
    report = IndexReport()
    embedder = embedder or load_embedder(model_for(config), config.bf16)
    with Writer(
        Path(config.index_dir),
        model=embedder.name,
        dimension=embedder.dimension,
        ranker=model_versions(),
        rebuild=rebuild,
        store=config.store,
    ) as writer:
        report.retagged = writer.retagged
        known = writer.hashes()
        seen: set[str] = set()
        pending: list[Article] = []
        for item in read_sources(
            inputs,
            timeout=config.timeout,
            max_bytes=config.max_bytes,
            allow_private_urls=config.allow_private_urls,
        ):
            seen.add(item.source)
            if isinstance(item, Skipped):
                report.skipped.append(item)
                if on_skip is not None:
                    on_skip(item)
            elif known.get(item.source) == item.content_hash:
                report.unchanged += 1
            else:
                (report.updated if item.source in known else report.added).append(item.source)
                pending.append(item)
        _embed_into(writer, pending, embedder, config.batch_size, report)
        if prune:
            # A source that failed to read this time is kept: it did not vanish.
            failed = {s.source for s in report.skipped}
            vanished = sorted(
                source
                for source in known
                if source not in seen and source.split("#", 1)[0] not in failed
            )
            writer.remove(vanished)
            report.removed = vanished
        writer.commit(list(inputs))
    report.seconds = time.perf_counter() - started
    return report


def _embed_into(
    writer: Writer,
    articles: Sequence[Article],
    embedder: Embedder,
    batch_size: int,
    report: IndexReport,
) -> None:
    chunked = [
        (a, chunk_article(a, embedder.token_spans, embedder.window_tokens, embedder.token_counts))
        for a in articles
    ]
    total = sum(len(paragraphs) for _, paragraphs in chunked)
    progress = Progress(total)
    try:
        # Embed many articles per call so batches stay full; store article by article.
        group: list[tuple[Article, tuple]] = []
        size = 0
        for article, paragraphs in chunked:
            group.append((article, paragraphs))
            size += len(paragraphs)
            if size >= 1024:
                _store_group(writer, group, embedder, batch_size, progress)
                group, size = [], 0
        _store_group(writer, group, embedder, batch_size, progress)
    finally:
        progress.close()
    report.paragraphs = total


def _store_group(writer, group, embedder, batch_size, progress) -> None:
    flat = [p for _, paragraphs in group for p in paragraphs]
    vectors = embedder.encode_paragraphs(flat, batch_size=batch_size, progress=progress)
    start = 0
    for article, paragraphs in group:
        writer.add(
            article,
            paragraphs,
            vectors[start : start + len(paragraphs)],
            article_id(article.source),
        )
        start += len(paragraphs)


class Pipeline:
    """Answers questions over an index; picks up a newly written index on the next question."""

    def __init__(self, config: Config, embedder: Embedder | None = None):
        self.config = config
        self._lock = threading.Lock()
        self._index: Index | None = None
        self._index_generation: Path | None = None
        # The model an index must have been built with: the configured one until the embedder
        # is loaded, then the embedder's, so a generation built with another is refused.
        self._model = config.model
        index = self.index  # opened now, so a missing or broken index fails at start-up
        if embedder is None:
            try:
                embedder = load_embedder(index.manifest.model, config.bf16)
            except ConfigError as error:
                raise ConfigError(
                    f"{error} {index.generation / MANIFEST} names this model; install it, or "
                    f"rebuild the index with another (add --model NAME): "
                    f"{index.manifest.rebuild_command(Path(config.index_dir))}"
                ) from None
        self.embedder = embedder
        self._model = config.model or embedder.name
        self.rerank = load_reranker(config.reranker) if config.reranker else None

    @property
    def index(self) -> Index:
        """The live index, reopened when a writer has made a new generation live."""
        index_dir = Path(self.config.index_dir)
        generation = current_generation(index_dir)
        with self._lock:
            if self._index is None or generation != self._index_generation:
                self._index = Index.open(index_dir, model=self._model)
                self._index_generation = self._index.generation
            return self._index

    @property
    def threshold(self) -> float:
        """The abstention threshold on the answerability probability: the configured one, else
        the answerability model's default operating point."""
        if self.config.min_score is not None:
            return self.config.min_score
        return answerability_model().threshold

    def when(
        self,
        as_of: dt.date | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
    ) -> When:
        """The moment and publication window of a question asked now: each day given, else the
        configured one; as of today when neither says; ConfigError for an empty window."""
        config = self.config
        return When.asked(
            as_of or config.as_of,
            since if since is not None else config.since,
            until if until is not None else config.until,
        )

    def articles(self) -> list[ArticleInfo]:
        """The indexed articles, oldest first."""
        return self.index.articles()

    def headings(self, articles: Sequence[ArticleInfo]) -> list[str]:
        """The section headings of these articles' paragraphs, in order, each once."""
        index = self.index
        found = [p.heading for a in articles for p in index.article_paragraphs(a.id) if p.heading]
        return list(dict.fromkeys(found))

    def search(
        self,
        question: str,
        *,
        k: int | None = None,
        retriever: str = "hybrid",
        carry: Sequence[int] = (),
        when: When | None = None,
    ) -> list[Hit]:
        """The k best paragraphs for a question, best first (carry, when: see retrieve(); when
        defaults to the configured one)."""
        question = _clean_question(question)
        return self._retrieve(self.index, question, k or self.config.k, retriever, carry, when)

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        retriever: str = "hybrid",
        history: Sequence[Turn] = (),
        llm: LLM | None = None,
        when: When | None = None,
    ) -> Answer:
        """Answer one question with citations, or abstain (see ask_stream)."""
        for event in self.ask_stream(
            question, k=k, retriever=retriever, history=history, llm=llm, when=when
        ):
            if isinstance(event, Answer):
                return event
        raise AssertionError("ask_stream ended without an answer")  # pragma: no cover

    def ask_stream(
        self,
        question: str,
        *,
        k: int | None = None,
        retriever: str = "hybrid",
        history: Sequence[Turn] = (),
        llm: LLM | None = None,
        when: When | None = None,
    ) -> Iterator[str | Answer]:
        """Answer a question: with an LLM, yield its text piece by piece as it is written, then
        the verified Answer; without one (or when retrieval is too weak to call it), only the
        extractive Answer. history: the earlier turns, for follow-up questions."""
        question = _clean_question(question)
        index = self.index  # one generation for the whole question, however long it takes
        if asks_overview(question, after_turns=bool(history)):
            # What the articles are about: their openings, not a search (an LLM adds nothing
            # that the openings do not say).
            yield overview(question, index, k or self.config.k, when or self.when())
            return
        asked, carry, notes = self._resolve(question, history, llm)
        hits = self._retrieve(index, asked, k or self.config.k, retriever, carry, when)
        extractive = self._decide(question, asked, hits)
        # The calibrated abstention decides first: no LLM call on weak evidence.
        if llm is None or extractive.abstained:
            yield extractive
            return
        yield from self._write(llm, extractive, hits, notes)

    def answer(self, question: str, hits: Sequence[Hit]) -> Answer:
        """Build the cited extractive answer (or abstention) from retrieved paragraphs."""
        question = _clean_question(question)
        return self._decide(question, question, hits)

    def _resolve(
        self, question: str, history: Sequence[Turn], llm: LLM | None
    ) -> tuple[str, Sequence[int], list[str]]:
        """The question as retrieval should see it, the paragraph ids carried forward, and notes
        for the answer: a follow-up is rewritten as a standalone question by the LLM, when there
        is one, and gets the conversation's names."""
        if not is_follow_up(question, history):
            return question, (), []
        notes = []
        rewritten = None
        if llm is not None:
            earlier = [(t.asked, t.answer) for t in history]
            try:
                reply = llm.complete(rewrite_messages(question, earlier), max_tokens=64)
                rewritten = clean_rewrite(reply)
            except LLMError as error:
                notes.append(f"Could not rewrite the follow-up question: {error}")
        asked = _clean_question(with_names(rewritten or question, carried_names(history)))
        return asked, history[-1].paragraph_ids, notes

    def _retrieve(
        self,
        index: Index,
        question: str,
        k: int,
        retriever: str,
        carry: Sequence[int],
        when: When | None,
    ) -> list[Hit]:
        vector, tokens = self.embedder.encode_question(question)
        when = when or self.when()
        hits = retrieve(
            index, question, vector, k, retriever, self.rerank, carry, when, tokens=tokens
        )
        if self.rerank is None and retriever == "hybrid":
            hits = sentences.reorder(question, hits)
        return hits

    def _decide(self, question: str, asked: str, hits: Sequence[Hit]) -> Answer:
        """The extractive answer to `asked` (the question resolved), or the abstention when the
        paragraphs are unlikely to answer it."""
        score = answerability(asked, hits)
        resolved = asked if asked != question else None
        return extract(question, hits, score, self.threshold, asked=resolved)

    def _write(
        self, llm: LLM, extractive: Answer, hits: Sequence[Hit], notes: list[str]
    ) -> Iterator[str | Answer]:
        """The LLM's answer: its text piece by piece, then the Answer checked against the hits;
        the extractive answer, with a note, when the LLM fails."""
        asked = extractive.asked or extractive.question
        passages = [(h.passage.text, h.passage.published) for h in hits]
        pieces: list[str] = []
        try:
            for piece in llm.stream(answer_messages(asked, passages)):
                pieces.append(piece)
                yield piece
        except LLMError as error:
            notes.append(f"The LLM was not used: {error} Showing the extractive answer instead.")
            yield replace(extractive, note=" ".join(notes))
            return
        yield self._checked("".join(pieces), extractive, hits, notes)

    def _checked(
        self, text: str, extractive: Answer, hits: Sequence[Hit], notes: list[str]
    ) -> Answer:
        """The LLM's text as an Answer, each sentence checked against the hits; its refusal is
        an abstention, and an empty reply gives the extractive answer."""
        note = " ".join(notes) or None
        question, confidence, asked = extractive.question, extractive.confidence, extractive.asked
        if is_not_found(text):
            return abstain(question, hits, confidence, asked=asked, mode="llm", note=note)
        checked = Verifier(self.embedder.encode_queries).check(text, hits)
        if not checked.verdicts:
            notes.append("The LLM gave an empty answer; this is the extractive answer.")
            return replace(extractive, note=" ".join(notes))
        return Answer(
            question,
            checked.text,
            False,
            checked.citations,
            confidence,
            mode="llm",
            sentences=checked.verdicts,
            supported=checked.supported_share,
            note=note,
            asked=asked,
        )


def _clean_question(question: str) -> str:
    # A lone surrogate (JSON can carry one) is no text; the tokenizer would reject the question.
    question = " ".join(re.sub("[\ud800-\udfff]", "", question).split())
    if not question:
        raise QuestionError("The question is empty; type a question about the articles.")
    return question[:MAX_QUESTION_CHARS]


def remove_articles(config: Config, sources: Sequence[str], *, model: str) -> list[str]:
    """Remove the articles with these sources from the index; returns the ones that were there."""
    from rag.store import Writer

    index = Index.open(Path(config.index_dir))
    with Writer(
        Path(config.index_dir),
        model=model,
        dimension=index.manifest.dimension,
        ranker=model_versions(),
    ) as writer:
        stored = writer.hashes()
        present = [s for s in sources if s in stored]
        writer.remove(present)
        writer.commit([])
    return present
