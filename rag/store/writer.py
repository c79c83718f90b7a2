"""Writing an index: the next generation is built aside, then made live in one rename."""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from rag.answertype import TAGGER_VERSION, tag_article
from rag.chunk import CHUNKER_VERSION, Paragraph, stable_id
from rag.embed import ParagraphVectors
from rag.errors import IndexFormatError, IndexWriteError, RagError
from rag.ingest import Article
from rag.store.keywords import KeywordIndex
from rag.store.layout import (
    DATABASE,
    FORMAT_VERSION,
    MANIFEST,
    PARAGRAPH_KEYWORDS,
    SENTENCE_KEYWORDS,
    Manifest,
    current_generation,
    database_counts,
    remove_generation,
)
from rag.store.vectors import (
    FAISS,
    day_number,
    open_vector_writer,
    same_store,
    store_error,
    store_of,
)
from rag.text import terms

_SCHEMA = """
CREATE TABLE articles (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL UNIQUE, title TEXT NOT NULL, url TEXT,
    published TEXT, content_hash TEXT NOT NULL, added_at TEXT NOT NULL, paragraphs INTEGER NOT NULL
);
CREATE TABLE paragraphs (
    id INTEGER PRIMARY KEY, article_id INTEGER NOT NULL, position INTEGER NOT NULL,
    heading TEXT, text TEXT NOT NULL,
    terms TEXT NOT NULL  -- stemmed keywords of title, heading and text, space-separated
);
CREATE INDEX paragraphs_by_article ON paragraphs (article_id, position);
CREATE TABLE sentences (
    id INTEGER PRIMARY KEY, paragraph_id INTEGER NOT NULL, position INTEGER NOT NULL,
    start INTEGER NOT NULL, end INTEGER NOT NULL, terms TEXT NOT NULL
);
CREATE INDEX sentences_by_paragraph ON sentences (paragraph_id, position);
CREATE TABLE entities (  -- tagged once here, so questions only read them
    paragraph_id INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, type TEXT NOT NULL
);
CREATE INDEX entities_by_paragraph ON entities (paragraph_id, start);
CREATE TABLE tokens (  -- word tokens' start offsets (int32) and int8 vectors (rag.tokens)
    paragraph_id INTEGER PRIMARY KEY, starts BLOB NOT NULL, vectors BLOB NOT NULL
);
"""


def sentence_id(paragraph_id: int, position: int) -> int:
    """Return the FAISS id of a paragraph's sentence."""
    return stable_id("sentence", str(paragraph_id), str(position))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Writer:
    """Builds the next generation of an index from the live one; `commit` makes it live.

    Use as a context manager: leaving it without `commit` (an error, a kill) throws the work away.
    """

    def __init__(
        self,
        index_dir: Path,
        *,
        model: str,
        dimension: int,
        ranker: str,
        rebuild: bool = False,
        store: str | None = None,
    ):
        """store: where the vectors go ("faiss", "milvus://HOST:PORT[/NAME]"); None keeps the
        previous index's store (FAISS for a new one). Another store than the index's needs
        rebuild."""
        self.dir = Path(index_dir)
        self.model = model
        self.dimension = dimension
        self.ranker = ranker
        self.changed = False
        self.retagged = 0  # paragraphs tagged again because an older tagger had tagged them
        self.db: sqlite3.Connection | None = None
        self.work: Path | None = None
        self.vectors = None
        self._lock = None
        if store is not None and (error := store_error(store)):
            raise IndexFormatError(error)
        try:
            with _writing(self.dir):
                self.dir.mkdir(parents=True, exist_ok=True)
                self._lock = open(self.dir / ".lock", "a+")  # noqa: SIM115 — held for our life
                fcntl.flock(self._lock, fcntl.LOCK_EX)
                self.previous = None if rebuild else current_generation(self.dir)
                self.work = Path(tempfile.mkdtemp(prefix=".building-", dir=self.dir))
                # The lock is held from here to the commit, so no other generation can appear.
                self.target = _next_generation_name(self.dir)
                self._start(store)
        except BaseException:
            self.close()  # no half-copied build folder left behind, and the lock released
            raise

    def _start(self, store: str | None) -> None:
        database = self.work / DATABASE
        old = None
        if self.previous is not None:
            old = Manifest.from_file(self.previous / MANIFEST)
            if old.format != FORMAT_VERSION:
                raise IndexFormatError(
                    f"{self.dir} uses index format {old.format} but this version writes format "
                    f"{FORMAT_VERSION}; rebuild with: {old.rebuild_command(self.dir)}"
                )
            if old.model != self.model or old.dimension != self.dimension:
                raise IndexFormatError(
                    f"{self.dir} was built with model {old.model!r} ({old.dimension}-d) but "
                    f"{self.model!r} ({self.dimension}-d) was requested; add --rebuild to replace "
                    f"it, or drop --model to keep {old.model!r}."
                )
            if store is not None and not same_store(store, store_of(old)):
                raise IndexFormatError(
                    f"{self.dir} keeps its vectors in {store_of(old)}, not {store}; add --rebuild "
                    f"to move them, or drop --store to keep {store_of(old)}."
                )
            rebuild_cmd = old.rebuild_command(self.dir)
            database_counts(self.previous / DATABASE, rebuild_cmd)
            with _writing(self.dir, DATABASE):
                shutil.copyfile(self.previous / DATABASE, database)
            self.inputs = list(old.inputs)
        else:
            self.inputs = []
            self.changed = True
        self.vectors = open_vector_writer(
            store or store_of(old) if old is not None else store or FAISS,
            self.previous,
            old,
            self.dimension,
            int(self.target.removeprefix("gen-")),
        )
        with _writing(self.dir, DATABASE):
            self.db = sqlite3.connect(database)
            if self.previous is None:
                self.db.executescript(_SCHEMA)
            elif old.tagger != TAGGER_VERSION:
                self._retag()

    def _retag(self) -> None:
        """Tag every stored paragraph again with this version's tagger: an index tagged by another
        version is brought up to date on its next update, without re-embedding anything."""
        self.db.execute("DELETE FROM entities")
        rows = self.db.execute(
            "SELECT a.id, a.title, p.id, p.text FROM paragraphs p JOIN articles a"
            " ON a.id = p.article_id ORDER BY a.id, p.position"
        ).fetchall()
        for _, article in itertools.groupby(rows, key=lambda row: row[0]):
            article = list(article)
            self._tag([row[2] for row in article], [row[3] for row in article], article[0][1])
            self.retagged += len(article)
        self.changed = True

    def _tag(self, ids: Sequence[int], texts: Sequence[str], title: str | None) -> None:
        """Store the entities of one article's paragraphs (answertype.tag_article)."""
        found = tag_article([title or "", *texts])[1:]
        self.db.executemany(
            "INSERT INTO entities VALUES (?, ?, ?, ?)",
            [(pid, e.start, e.end, e.type) for pid, es in zip(ids, found, strict=True) for e in es],
        )

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Discard uncommitted work and release the lock."""
        if getattr(self, "vectors", None) is not None:
            self.vectors.close()
            self.vectors = None
        if getattr(self, "db", None) is not None:
            self.db.close()
            self.db = None
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = None
        if self._lock is not None and not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    def hashes(self) -> dict[str, str]:
        """Content hash of every stored article, by source."""
        return dict(self.db.execute("SELECT source, content_hash FROM articles"))

    def remove(self, sources: Iterable[str]) -> int:
        """Remove articles (and their paragraphs, sentences and vectors) by source."""
        with _writing(self.dir, DATABASE):
            removed = self._remove(sources)
        self.changed = self.changed or removed > 0
        return removed

    def _remove(self, sources: Iterable[str]) -> int:
        removed = 0
        for source in sources:
            row = self.db.execute("SELECT id FROM articles WHERE source = ?", (source,)).fetchone()
            if row is None:
                continue
            paragraph_ids = [
                r[0]
                for r in self.db.execute(
                    "SELECT id FROM paragraphs WHERE article_id = ?", (row[0],)
                )
            ]
            sentence_ids = [
                r[0]
                for r in self.db.execute(
                    "SELECT s.id FROM sentences s JOIN paragraphs p ON p.id = s.paragraph_id "
                    "WHERE p.article_id = ?",
                    (row[0],),
                )
            ]
            self.vectors.remove("paragraphs", np.array(paragraph_ids, dtype=np.int64))
            self.vectors.remove("sentences", np.array(sentence_ids, dtype=np.int64))
            for table in ("sentences", "entities", "tokens"):
                self.db.executemany(
                    f"DELETE FROM {table} WHERE paragraph_id = ?", [(i,) for i in paragraph_ids]
                )
            self.db.execute("DELETE FROM paragraphs WHERE article_id = ?", (row[0],))
            self.db.execute("DELETE FROM articles WHERE id = ?", (row[0],))
            removed += 1
        return removed

    def add(
        self,
        article: Article,
        paragraphs: Sequence[Paragraph],
        vectors: Sequence[ParagraphVectors],
        article_id: int,
    ) -> None:
        """Store one article with its paragraphs and their vectors (replacing an older copy)."""
        self.remove([article.source])
        with _writing(self.dir, DATABASE):
            self._add(article, paragraphs, vectors, article_id)
        self.changed = True

    def _add(
        self,
        article: Article,
        paragraphs: Sequence[Paragraph],
        vectors: Sequence[ParagraphVectors],
        article_id: int,
    ) -> None:
        self.db.execute(
            "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                article_id,
                article.source,
                article.title,
                article.url,
                article.published,
                article.content_hash,
                _now(),
                len(paragraphs),
            ),
        )
        for paragraph, found in zip(paragraphs, vectors, strict=True):
            if found.tokens is not None:
                self.db.execute(
                    "INSERT INTO tokens VALUES (?, ?, ?)", (paragraph.id, *found.tokens.to_blobs())
                )
            # The title counts as keywords of every paragraph: measured to help (README).
            keywords = terms(f"{article.title} {paragraph.heading or ''} {paragraph.text}")
            self.db.execute(
                "INSERT INTO paragraphs VALUES (?, ?, ?, ?, ?, ?)",
                (
                    paragraph.id,
                    article_id,
                    paragraph.index,
                    paragraph.heading,
                    paragraph.text,
                    " ".join(keywords),
                ),
            )
            self.db.executemany(
                "INSERT INTO sentences VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        sentence_id(paragraph.id, i),
                        paragraph.id,
                        i,
                        s.start,
                        s.end,
                        " ".join(terms(paragraph.text[s.start : s.end])),
                    )
                    for i, s in enumerate(paragraph.sentences)
                ],
            )
        self._tag([p.id for p in paragraphs], [p.text for p in paragraphs], article.title)
        if paragraphs:
            day = day_number(article.published)
            self.vectors.add(
                "paragraphs",
                np.array([p.id for p in paragraphs], dtype=np.int64),
                np.stack([v.paragraph for v in vectors]).astype(np.float32),
                article_id,
                day,
            )
            self.vectors.add(
                "sentences",
                np.array(
                    [sentence_id(p.id, i) for p in paragraphs for i in range(len(p.sentences))],
                    dtype=np.int64,
                ),
                np.concatenate([v.sentences for v in vectors]).astype(np.float32),
                article_id,
                day,
            )

    def _write_keywords(self) -> None:
        """Rebuild the BM25 matrices from stored terms (no re-tokenizing) in the work folder."""
        for name, query in (
            (PARAGRAPH_KEYWORDS, "SELECT id, id, terms FROM paragraphs ORDER BY id"),
            (SENTENCE_KEYWORDS, "SELECT id, paragraph_id, terms FROM sentences ORDER BY id"),
        ):
            rows = self.db.execute(query).fetchall()
            KeywordIndex.build([r[2].split() for r in rows]).save(self.work, name)
            ids = np.array([[r[0], r[1]] for r in rows], dtype=np.int64).reshape(-1, 2)
            np.save(self.work / f"{name}.ids.npy", ids, allow_pickle=False)

    def commit(self, inputs: Sequence[str]) -> Path:
        """Write the new generation durably and make it live; returns its folder.

        A failed write (disk full, file too large) raises IndexWriteError and leaves the previous
        generation live, with nothing of the new one left behind.
        """
        merged = list(dict.fromkeys([*self.inputs, *inputs]))
        if not self.changed and merged == self.inputs and self.previous is not None:
            self.close()
            return self.previous
        with _writing(self.dir, DATABASE):
            self.db.commit()
            articles, paragraphs, sentences = (
                self.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("articles", "paragraphs", "sentences")
            )
        with _writing(self.dir, "keyword index"):
            self._write_keywords()
        self.db.close()
        self.db = None
        with _writing(self.dir, "vectors"):
            vectors = self.vectors.save(self.work)
        manifest = Manifest(
            format=FORMAT_VERSION,
            model=self.model,
            dimension=self.dimension,
            normalized=True,
            chunker=CHUNKER_VERSION,
            articles=articles,
            paragraphs=paragraphs,
            sentences=sentences,
            inputs=tuple(merged),
            ranker=self.ranker,
            created=_now(),
            tagger=TAGGER_VERSION,
            vectors=vectors,
        )
        with _writing(self.dir, MANIFEST):
            (self.work / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
            for path in self.work.iterdir():
                _fsync(path)
        target = self.dir / self.target
        pointer = self.dir / ".CURRENT.tmp"
        try:
            with _writing(self.dir, "CURRENT"):
                os.rename(self.work, target)
                self.work = target  # from here on, discarding the work removes the new folder
                _fsync(self.dir)
                pointer.write_text(target.name + "\n", encoding="utf-8")
                _fsync(pointer)
                os.replace(pointer, self.dir / "CURRENT")
        except BaseException:
            pointer.unlink(missing_ok=True)
            raise
        self.work = None  # committed: nothing left to discard
        # The rename is already visible; a failed sync of the folder cannot undo it.
        with contextlib.suppress(OSError):
            _fsync(self.dir)
        self._collect(keep={target.name, self.previous.name if self.previous else ""})
        kept = [int(p.name[4:]) for p in self.dir.glob("gen-*") if p.name[4:].isdigit()]
        with contextlib.suppress(RagError):  # clean-up only: the next commit tries again
            self.vectors.committed(sorted(kept))
        self.close()
        return target

    def _collect(self, keep: set[str]) -> None:
        # The previous generation stays one round so readers that just opened it can finish;
        # older ones go unless a reader still holds them (pinned), and then the next commit tries.
        for path in self.dir.iterdir():
            stale_build = path.name.startswith(".building-")
            if (path.name.startswith("gen-") and path.name not in keep) or stale_build:
                remove_generation(path)


@contextlib.contextmanager
def _writing(index_dir: Path, name: str | None = None) -> Iterator[None]:
    """Turn a failed write (disk full, file too large, no permission) into IndexWriteError."""
    try:
        yield
    except OSError as error:
        failed = error.filename2 or error.filename  # copyfile names its source, then its target
        what = Path(failed).name if failed else name
        raise IndexWriteError(
            _cannot_write(index_dir, what, error.strerror or str(error))
        ) from None
    except sqlite3.OperationalError as error:  # "database or disk is full", "disk I/O error"
        raise IndexWriteError(_cannot_write(index_dir, name, str(error))) from None


def _cannot_write(index_dir: Path, name: str | None, reason: str) -> str:
    detail = f"{name}: {reason}" if name else reason
    return (
        f"Could not write the index in {index_dir} ({detail}); the previous index is unchanged "
        "— free disk space or fix the folder's permissions, then run the same command again."
    )


def _next_generation_name(index_dir: Path) -> str:
    numbers = [int(p.name[4:]) for p in index_dir.glob("gen-*") if p.name[4:].isdigit()]
    return f"gen-{max(numbers, default=0) + 1:06d}"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
