"""The index on disk: FAISS vectors with explicit ids, SQLite for text and offsets, a manifest.

Layout of an index folder:

    index/CURRENT            name of the live generation, replaced atomically
    index/gen-000007/        manifest.json, paragraphs.faiss, sentences.faiss, index.sqlite
    index/.lock              held by the one writer at a time

A writer builds the next generation in a temporary folder, renames it into place, then swaps
CURRENT; a crash at any point leaves the previous generation untouched and live.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from rag.chunk import CHUNKER_VERSION, Paragraph, Span, stable_id
from rag.embed import ParagraphVectors
from rag.errors import IndexFormatError
from rag.ingest import Article

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PARAGRAPH_VECTORS = "paragraphs.faiss"
SENTENCE_VECTORS = "sentences.faiss"
DATABASE = "index.sqlite"

_SCHEMA = """
CREATE TABLE articles (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL UNIQUE, title TEXT NOT NULL, url TEXT,
    published TEXT, content_hash TEXT NOT NULL, added_at TEXT NOT NULL, paragraphs INTEGER NOT NULL
);
CREATE TABLE paragraphs (
    id INTEGER PRIMARY KEY, article_id INTEGER NOT NULL, position INTEGER NOT NULL,
    heading TEXT, text TEXT NOT NULL
);
CREATE INDEX paragraphs_by_article ON paragraphs (article_id, position);
CREATE TABLE sentences (
    id INTEGER PRIMARY KEY, paragraph_id INTEGER NOT NULL, position INTEGER NOT NULL,
    start INTEGER NOT NULL, end INTEGER NOT NULL
);
CREATE INDEX sentences_by_paragraph ON sentences (paragraph_id, position);
CREATE VIRTUAL TABLE paragraph_terms USING fts5 (
    title, heading, text, tokenize = 'porter unicode61'
);
"""


def sentence_id(paragraph_id: int, position: int) -> int:
    """Return the FAISS id of a paragraph's sentence."""
    return stable_id("sentence", str(paragraph_id), str(position))


@dataclass(frozen=True)
class Manifest:
    """What an index was built with; loading refuses an index whose manifest does not match."""

    format: int
    model: str
    dimension: int
    normalized: bool
    chunker: str
    articles: int
    paragraphs: int
    sentences: int
    inputs: tuple[str, ...]
    abstain_threshold: float
    created: str

    def to_json(self) -> str:
        """Serialize for manifest.json."""
        data = self.__dict__ | {"inputs": list(self.inputs)}
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_file(cls, path: Path) -> Manifest:
        """Read manifest.json, refusing anything that is not a complete manifest."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data["inputs"] = tuple(data["inputs"])
            return cls(**data)
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise IndexFormatError(
                f"{path} is missing or not a valid manifest ({error.__class__.__name__}); "
                f"rebuild with: rag index <sources> --index {path.parent.parent} --rebuild"
            ) from None

    def rebuild_command(self, index_dir: Path, model: str | None = None) -> str:
        """The command that rebuilds this index from its sources, optionally with another model."""
        sources = " ".join(_shell_quote(s) for s in self.inputs) or "<sources>"
        model_flag = f" --model {_shell_quote(model)}" if model else ""
        return f"rag index {sources} --index {_shell_quote(str(index_dir))}{model_flag} --rebuild"


def _shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


@dataclass(frozen=True)
class Passage:
    """A stored paragraph with what a citation needs: its article and its sentence spans."""

    id: int
    article_id: int
    article_title: str
    source: str
    index: int
    heading: str | None
    text: str
    sentences: tuple[Span, ...]
    sentence_ids: tuple[int, ...]


@dataclass(frozen=True)
class ArticleInfo:
    """One row of the library: an indexed article."""

    id: int
    source: str
    title: str
    url: str | None
    published: str | None
    paragraphs: int
    added_at: str
    content_hash: str


def current_generation(index_dir: Path) -> Path | None:
    """Return the live generation folder of an index, or None when there is no index."""
    try:
        name = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise IndexFormatError(f"Cannot read {index_dir / 'CURRENT'}: {error.strerror}.") from None
    if not name.startswith("gen-") or "/" in name:
        raise IndexFormatError(
            f"{index_dir / 'CURRENT'} names {name!r}, not a generation folder; "
            f"rebuild with: rag index <sources> --index {index_dir} --rebuild"
        )
    return index_dir / name


class Index:
    """A read-only view of one generation of an index; cheap to query from many threads."""

    def __init__(
        self,
        index_dir: Path,
        generation: Path,
        manifest: Manifest,
        paragraphs: faiss.Index,
        sentences: faiss.Index,
        database: Path,
    ):
        self.dir = index_dir
        self.generation = generation
        self.manifest = manifest
        self.paragraph_vectors = paragraphs
        self.sentence_vectors = sentences
        self.database = database
        self._tables: dict[str, _VectorTable] = {}

    @classmethod
    def open(cls, index_dir: Path, *, model: str | None = None) -> Index:
        """Open the live generation, checking it against its manifest and the requested model."""
        index_dir = Path(index_dir)
        generation = current_generation(index_dir)
        if generation is None:
            raise IndexFormatError(
                f"No index at {index_dir} — build one with: rag index <sources> --index {index_dir}"
            )
        manifest = Manifest.from_file(generation / MANIFEST)
        rebuild = manifest.rebuild_command(index_dir, model)
        if manifest.format != FORMAT_VERSION:
            raise IndexFormatError(
                f"{index_dir} uses index format {manifest.format} but this version reads format "
                f"{FORMAT_VERSION}; rebuild with: {rebuild}"
            )
        if model is not None and model != manifest.model:
            raise IndexFormatError(
                f"{index_dir} was built with model {manifest.model!r} but {model!r} was requested; "
                f"drop --model to use {manifest.model!r}, or rebuild with: {rebuild}"
            )
        if manifest.chunker != CHUNKER_VERSION:
            raise IndexFormatError(
                f"{index_dir} was split into paragraphs by chunker version {manifest.chunker} but "
                f"this version uses {CHUNKER_VERSION}; rebuild with: {rebuild}"
            )
        paragraphs = _read_faiss(generation / PARAGRAPH_VECTORS, rebuild)
        sentences = _read_faiss(generation / SENTENCE_VECTORS, rebuild)
        for path, vectors, expected in (
            (generation / PARAGRAPH_VECTORS, paragraphs, manifest.paragraphs),
            (generation / SENTENCE_VECTORS, sentences, manifest.sentences),
        ):
            if vectors.d != manifest.dimension:
                raise IndexFormatError(
                    f"{path} holds {vectors.d}-d vectors but the manifest says "
                    f"{manifest.dimension}; "
                    f"rebuild with: {rebuild}"
                )
            if vectors.ntotal != expected:
                raise IndexFormatError(
                    f"{path} holds {vectors.ntotal} vectors but the manifest says {expected}; "
                    f"rebuild with: {rebuild}"
                )
        database = generation / DATABASE
        counts = _database_counts(database, rebuild)
        wanted = (manifest.articles, manifest.paragraphs, manifest.sentences)
        if counts != wanted:
            raise IndexFormatError(
                f"{database} holds {counts[0]} articles, {counts[1]} paragraphs and {counts[2]} "
                f"sentences but the manifest says {wanted[0]}, {wanted[1]} and {wanted[2]}; "
                f"rebuild with: {rebuild}"
            )
        return cls(index_dir, generation, manifest, paragraphs, sentences, database)

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection to this generation's database (one per call, thread-safe)."""
        connection = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)
        try:
            yield connection
        finally:
            connection.close()

    def search(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Top-k paragraph ids by inner product, best first; never more than the index holds."""
        k = min(k, self.paragraph_vectors.ntotal)
        if k <= 0:
            return []
        scores, ids = self.paragraph_vectors.search(_as_matrix(query_vector), k)
        # FAISS pads with -1 when k exceeds what it can return.
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def search_sentences(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Top-k sentence ids by inner product, best first."""
        k = min(k, self.sentence_vectors.ntotal)
        if k <= 0:
            return []
        scores, ids = self.sentence_vectors.search(_as_matrix(query_vector), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def vectors(self, kind: str, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of the given paragraph or sentence ids, in order, shape (n, dim)."""
        table = self._tables.get(kind)
        if table is None:
            table = self._tables[kind] = _VectorTable(
                self.paragraph_vectors if kind == "paragraphs" else self.sentence_vectors
            )
        return table.lookup(ids)

    def passages(self, ids: Sequence[int]) -> dict[int, Passage]:
        """Look up stored paragraphs by id (ids not in the index are left out)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self.connect() as db:
            rows = db.execute(
                "SELECT p.id, p.article_id, a.title, a.source, p.position, p.heading, p.text "
                f"FROM paragraphs p JOIN articles a ON a.id = p.article_id WHERE p.id IN ({marks})",
                [int(i) for i in ids],
            ).fetchall()
            spans: dict[int, list[tuple[int, int, int]]] = {}
            for pid, sid, start, end in db.execute(
                "SELECT paragraph_id, id, start, end FROM sentences "
                f"WHERE paragraph_id IN ({marks}) ORDER BY paragraph_id, position",
                [int(i) for i in ids],
            ):
                spans.setdefault(pid, []).append((sid, start, end))
        return {
            row[0]: Passage(
                id=row[0],
                article_id=row[1],
                article_title=row[2],
                source=row[3],
                index=row[4],
                heading=row[5],
                text=row[6],
                sentences=tuple(Span(s, e) for _, s, e in spans.get(row[0], [])),
                sentence_ids=tuple(sid for sid, _, _ in spans.get(row[0], [])),
            )
            for row in rows
        }

    def paragraph_of_sentences(self, ids: Sequence[int]) -> dict[int, int]:
        """Map sentence ids to the ids of their paragraphs."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self.connect() as db:
            return dict(
                db.execute(
                    f"SELECT id, paragraph_id FROM sentences WHERE id IN ({marks})",
                    [int(i) for i in ids],
                ).fetchall()
            )

    def sentence_ids_of(self, paragraph_ids: Sequence[int]) -> tuple[list[int], np.ndarray]:
        """Sentence ids of the given paragraphs, and for each the position of its paragraph."""
        position = {int(p): i for i, p in enumerate(paragraph_ids)}
        marks = ",".join("?" * len(position))
        with self.connect() as db:
            rows = db.execute(
                f"SELECT id, paragraph_id FROM sentences WHERE paragraph_id IN ({marks})",
                list(position),
            ).fetchall()
        return [r[0] for r in rows], np.array([position[r[1]] for r in rows], dtype=np.int64)

    def keyword_search(self, match: str, k: int) -> list[tuple[int, float]]:
        """Top-k paragraph ids for an FTS5 MATCH expression by BM25, best (highest) first."""
        if not match:
            return []
        with self.connect() as db:
            rows = db.execute(
                "SELECT rowid, -bm25(paragraph_terms, 0.5, 0.5, 1.0) FROM paragraph_terms "
                "WHERE paragraph_terms MATCH ? "
                "ORDER BY bm25(paragraph_terms, 0.5, 0.5, 1.0) LIMIT ?",
                (match, k),
            ).fetchall()
        return [(int(i), float(s)) for i, s in rows]

    def articles(self) -> list[ArticleInfo]:
        """Every indexed article, in the order they were added."""
        with self.connect() as db:
            rows = db.execute(
                "SELECT id, source, title, url, published, paragraphs, added_at, content_hash "
                "FROM articles ORDER BY added_at, source"
            ).fetchall()
        return [ArticleInfo(*row) for row in rows]

    def article_paragraphs(self, article_id: int) -> list[Passage]:
        """All paragraphs of one article, in order."""
        with self.connect() as db:
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM paragraphs WHERE article_id = ? ORDER BY position",
                    (article_id,),
                )
            ]
        found = self.passages(ids)
        return [found[i] for i in ids]


class _VectorTable:
    """Vectors of a flat IDMap index viewed as a matrix with a sorted id column for lookups."""

    def __init__(self, index: faiss.Index):
        flat = faiss.downcast_index(index.index)
        n, d = index.ntotal, index.d
        matrix = faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d) if n else np.zeros((0, d))
        ids = faiss.vector_to_array(index.id_map)
        self.order = np.argsort(ids)
        self.sorted_ids = ids[self.order]
        self.matrix = matrix  # a view: the Index keeps the FAISS object (and its memory) alive

    def lookup(self, ids: Sequence[int]) -> np.ndarray:
        wanted = np.asarray(ids, dtype=np.int64)
        positions = np.searchsorted(self.sorted_ids, wanted)
        positions = np.minimum(positions, max(len(self.sorted_ids) - 1, 0))
        if len(wanted) and (
            len(self.sorted_ids) == 0 or not np.array_equal(self.sorted_ids[positions], wanted)
        ):
            raise KeyError("some ids are not in the index")
        return self.matrix[self.order[positions]]


def _as_matrix(vector: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(1, -1))


def _read_faiss(path: Path, rebuild: str) -> faiss.Index:
    if not path.is_file():
        raise IndexFormatError(f"{path} is missing; rebuild with: {rebuild}")
    try:
        return faiss.read_index(str(path))
    except RuntimeError:
        raise IndexFormatError(
            f"{path} is not a readable FAISS index (truncated or corrupt); rebuild with: {rebuild}"
        ) from None


def _database_counts(path: Path, rebuild: str) -> tuple[int, int, int]:
    if not path.is_file():
        raise IndexFormatError(f"{path} is missing; rebuild with: {rebuild}")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return tuple(
                connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("articles", "paragraphs", "sentences")
            )
        finally:
            connection.close()
    except sqlite3.DatabaseError:
        raise IndexFormatError(
            f"{path} is not a readable SQLite database (truncated or corrupt); "
            f"rebuild with: {rebuild}"
        ) from None


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
        abstain_threshold: float,
        rebuild: bool = False,
    ):
        self.dir = Path(index_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.dir / ".lock", "a+")  # noqa: SIM115 — held for the writer's life
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.previous = None if rebuild else current_generation(self.dir)
        self.model = model
        self.dimension = dimension
        self.abstain_threshold = abstain_threshold
        self.work = Path(tempfile.mkdtemp(prefix=".building-", dir=self.dir))
        self.changed = False
        database = self.work / DATABASE
        if self.previous is not None:
            old = Manifest.from_file(self.previous / MANIFEST)
            if old.model != model or old.dimension != dimension:
                self.close()
                raise IndexFormatError(
                    f"{self.dir} was built with model {old.model!r} ({old.dimension}-d) but "
                    f"{model!r} ({dimension}-d) was requested; add --rebuild to replace it, or "
                    f"drop --model to keep {old.model!r}."
                )
            rebuild_cmd = old.rebuild_command(self.dir)
            self.paragraphs = _read_faiss(self.previous / PARAGRAPH_VECTORS, rebuild_cmd)
            self.sentences = _read_faiss(self.previous / SENTENCE_VECTORS, rebuild_cmd)
            _database_counts(self.previous / DATABASE, rebuild_cmd)
            shutil.copyfile(self.previous / DATABASE, database)
            self.inputs = list(old.inputs)
        else:
            self.paragraphs = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
            self.sentences = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
            self.inputs = []
            self.changed = True
        self.db = sqlite3.connect(database)
        if self.previous is None:
            self.db.executescript(_SCHEMA)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Discard uncommitted work and release the lock."""
        if getattr(self, "db", None) is not None:
            self.db.close()
            self.db = None
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = None
        if not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    def hashes(self) -> dict[str, str]:
        """Content hash of every stored article, by source."""
        return dict(self.db.execute("SELECT source, content_hash FROM articles"))

    def remove(self, sources: Iterable[str]) -> int:
        """Remove articles (and their paragraphs, sentences and vectors) by source."""
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
            self.paragraphs.remove_ids(np.array(paragraph_ids, dtype=np.int64))
            self.sentences.remove_ids(np.array(sentence_ids, dtype=np.int64))
            self.db.executemany(
                "DELETE FROM paragraph_terms WHERE rowid = ?", [(i,) for i in paragraph_ids]
            )
            self.db.executemany(
                "DELETE FROM sentences WHERE paragraph_id = ?", [(i,) for i in paragraph_ids]
            )
            self.db.execute("DELETE FROM paragraphs WHERE article_id = ?", (row[0],))
            self.db.execute("DELETE FROM articles WHERE id = ?", (row[0],))
            removed += 1
        self.changed = self.changed or removed > 0
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
        for paragraph in paragraphs:
            self.db.execute(
                "INSERT INTO paragraphs VALUES (?, ?, ?, ?, ?)",
                (paragraph.id, article_id, paragraph.index, paragraph.heading, paragraph.text),
            )
            self.db.execute(
                "INSERT INTO paragraph_terms (rowid, title, heading, text) VALUES (?, ?, ?, ?)",
                (paragraph.id, article.title, paragraph.heading or "", paragraph.text),
            )
            self.db.executemany(
                "INSERT INTO sentences VALUES (?, ?, ?, ?, ?)",
                [
                    (sentence_id(paragraph.id, i), paragraph.id, i, s.start, s.end)
                    for i, s in enumerate(paragraph.sentences)
                ],
            )
        if paragraphs:
            self.paragraphs.add_with_ids(
                np.stack([v.paragraph for v in vectors]).astype(np.float32),
                np.array([p.id for p in paragraphs], dtype=np.int64),
            )
            self.sentences.add_with_ids(
                np.concatenate([v.sentences for v in vectors]).astype(np.float32),
                np.array(
                    [sentence_id(p.id, i) for p in paragraphs for i in range(len(p.sentences))],
                    dtype=np.int64,
                ),
            )
        self.changed = True

    def commit(self, inputs: Sequence[str]) -> Path:
        """Write the new generation durably and make it live; returns its folder."""
        merged = list(dict.fromkeys([*self.inputs, *inputs]))
        if not self.changed and merged == self.inputs and self.previous is not None:
            self.close()
            return self.previous
        self.db.commit()
        articles, paragraphs, sentences = (
            self.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("articles", "paragraphs", "sentences")
        )
        self.db.close()
        self.db = None
        faiss.write_index(self.paragraphs, str(self.work / PARAGRAPH_VECTORS))
        faiss.write_index(self.sentences, str(self.work / SENTENCE_VECTORS))
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
            abstain_threshold=self.abstain_threshold,
            created=_now(),
        )
        (self.work / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
        for path in self.work.iterdir():
            _fsync(path)
        target = self.dir / _next_generation_name(self.dir)
        os.rename(self.work, target)
        _fsync(self.dir)
        pointer = self.dir / ".CURRENT.tmp"
        pointer.write_text(target.name + "\n", encoding="utf-8")
        _fsync(pointer)
        os.replace(pointer, self.dir / "CURRENT")
        _fsync(self.dir)
        self.work = None  # committed: nothing left to discard
        self._collect(keep={target.name, self.previous.name if self.previous else ""})
        self.close()
        return target

    def _collect(self, keep: set[str]) -> None:
        # The previous generation stays one round so readers that just opened it can finish.
        for path in self.dir.iterdir():
            stale_build = path.name.startswith(".building-")
            if (path.name.startswith("gen-") and path.name not in keep) or stale_build:
                shutil.rmtree(path, ignore_errors=True)


def _next_generation_name(index_dir: Path) -> str:
    numbers = [int(p.name[4:]) for p in index_dir.glob("gen-*") if p.name[4:].isdigit()]
    return f"gen-{max(numbers, default=0) + 1:06d}"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
