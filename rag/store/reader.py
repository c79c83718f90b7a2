"""Reading an index: vector search, keyword search and stored paragraphs, from many threads."""

from __future__ import annotations

import contextlib
import datetime
import sqlite3
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.answertype import TAGGER_VERSION, Entity
from rag.chunk import CHUNKER_VERSION
from rag.errors import IndexFormatError
from rag.store.keywords import KeywordIndex
from rag.store.layout import (
    DATABASE,
    FORMAT_VERSION,
    MANIFEST,
    PARAGRAPH_KEYWORDS,
    SENTENCE_KEYWORDS,
    Manifest,
    database_counts,
    pin_generation,
)
from rag.store.vectors import Allowed, DayRange, VectorReader, open_vector_reader
from rag.text import Span
from rag.tokens import TokenVectors


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
    entities: tuple[Entity, ...] = ()  # tagged at indexing, in order of position
    published: str | None = None  # the article's publication day (ISO), when its source says
    # Its word tokens' vectors (rag.tokens), for matching the question word by word.
    tokens: TokenVectors | None = field(default=None, compare=False, repr=False)


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


class Index:
    """A read-only view of one generation of an index; cheap to query from many threads.

    While an Index object lives, its generation is pinned: writers leave its files in place even
    after newer generations have replaced it, so a question begun on it finishes on it.
    """

    def __init__(
        self,
        index_dir: Path,
        generation: Path,
        manifest: Manifest,
        vectors: VectorReader,
        database: Path,
        keywords: Keywords,
    ):
        self.dir = index_dir
        self.generation = generation
        self.manifest = manifest
        self.vector_store = vectors
        self.database = database
        self.keywords = keywords
        self._days: np.ndarray | None = None
        self._allowed: dict[DayRange, np.ndarray | None] = {}

    @classmethod
    def open(cls, index_dir: Path, *, model: str | None = None) -> Index:
        """Open the live generation, checking it against its manifest and the requested model."""
        index_dir = Path(index_dir)
        generation, pin = pin_generation(index_dir)
        if generation is None:
            raise IndexFormatError(
                f"No index at {index_dir} — build one with: rag index <sources> --index {index_dir}"
            )
        try:
            index = cls._open(index_dir, generation, model)
        except BaseException:
            if pin is not None:
                pin.close()
            raise
        if pin is not None:
            weakref.finalize(index, pin.close)  # unpinned when the last user lets go
        return index

    @classmethod
    def _open(cls, index_dir: Path, generation: Path, model: str | None) -> Index:
        manifest = Manifest.from_file(generation / MANIFEST)
        rebuild = manifest.rebuild_command(index_dir, model)
        if manifest.format != FORMAT_VERSION:
            raise IndexFormatError(
                f"{index_dir} uses index format {manifest.format} but this version reads format "
                f"{FORMAT_VERSION}; rebuild with: {rebuild}"
            )
        if model is not None and model != manifest.model:
            raise IndexFormatError(
                f"{generation / MANIFEST} says the index was built with model {manifest.model!r} "
                f"but {model!r} was requested; "
                f"drop --model to use {manifest.model!r}, or rebuild with: {rebuild}"
            )
        if manifest.chunker != CHUNKER_VERSION:
            raise IndexFormatError(
                f"{index_dir} was split into paragraphs by chunker version {manifest.chunker} but "
                f"this version uses {CHUNKER_VERSION}; rebuild with: {rebuild}"
            )
        if manifest.tagger != TAGGER_VERSION:
            raise IndexFormatError(
                f"{index_dir} was tagged by entity tagger {manifest.tagger or 'none'} but this "
                f"version uses {TAGGER_VERSION}; update its tags (nothing is embedded again) "
                f"with: {manifest.update_command(index_dir)}"
            )
        database = generation / DATABASE
        counts = database_counts(database, rebuild)
        wanted = (manifest.articles, manifest.paragraphs, manifest.sentences)
        if counts != wanted:
            raise IndexFormatError(
                f"{database} holds {counts[0]} articles, {counts[1]} paragraphs and {counts[2]} "
                f"sentences but the manifest says {wanted[0]}, {wanted[1]} and {wanted[2]}; "
                f"rebuild with: {rebuild}"
            )
        keywords = Keywords.load(generation, manifest, rebuild)
        vectors = open_vector_reader(generation, generation_number(generation), manifest, rebuild)
        index = cls(index_dir, generation, manifest, vectors, database, keywords)
        weakref.finalize(index, vectors.close)
        return index

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection to this generation's database (one per call, thread-safe).

        A database damaged after opening raises IndexFormatError naming it, not sqlite3's error.
        """
        try:
            connection = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)
        except sqlite3.Error as error:
            raise self._unreadable(error) from None
        try:
            yield connection
        except sqlite3.DatabaseError as error:
            raise self._unreadable(error) from None
        finally:
            connection.close()

    def _unreadable(self, error: sqlite3.Error) -> IndexFormatError:
        return IndexFormatError(
            f"{self.database} could not be read ({error}); rebuild with: "
            f"{self.manifest.rebuild_command(self.dir)}"
        )

    def search(
        self, query_vector: np.ndarray, k: int, allowed: Allowed | None = None
    ) -> list[tuple[int, float]]:
        """Top-k paragraph ids by inner product, best first; never more than the index holds.

        allowed: the paragraphs that may be returned (None: all of them).
        """
        return self.vector_store.search(query_vector, k, allowed)

    def days(self) -> np.ndarray:
        """Each paragraph's publication day (date ordinal; NaN when undated), aligned with
        keywords.paragraph_ids; read once per generation."""
        if self._days is None:
            with self.connect() as db:
                rows = db.execute(
                    "SELECT p.id, a.published FROM paragraphs p "
                    "JOIN articles a ON a.id = p.article_id ORDER BY p.id"
                ).fetchall()
            by_id = {pid: day_ordinal(published) for pid, published in rows}
            self._days = np.array(
                [by_id.get(int(pid), np.nan) for pid in self.keywords.paragraph_ids],
                dtype=np.float64,
            )
        return self._days

    def allowed(self, days: DayRange) -> np.ndarray | None:
        """Which paragraphs (rows of keywords.paragraph_ids) a day range lets a question use;
        None when it leaves none out. Kept for the last few ranges: the questions of one day
        are all asked as of that day."""
        if days not in self._allowed:
            rows = days.mask(self.days())
            if len(self._allowed) >= 8:
                self._allowed.pop(next(iter(self._allowed)))
            self._allowed[days] = None if rows.all() else rows
        return self._allowed[days]

    def vectors(self, kind: str, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of the given paragraph or sentence ids, in order, shape (n, dim)."""
        return self.vector_store.lookup(kind, ids)

    def passages(self, ids: Sequence[int], *, tokens: bool = True) -> dict[int, Passage]:
        """Look up stored paragraphs by id (ids not in the index are left out); tokens=False
        leaves their token vectors unread."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self.connect() as db:
            rows = db.execute(
                "SELECT p.id, p.article_id, a.title, a.source, p.position, p.heading, p.text, "
                "a.published "
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
            entities: dict[int, list[Entity]] = {}
            for pid, start, end, kind in db.execute(
                "SELECT paragraph_id, start, end, type FROM entities "
                f"WHERE paragraph_id IN ({marks}) ORDER BY paragraph_id, start",
                [int(i) for i in ids],
            ):
                entities.setdefault(pid, []).append(Entity(start, end, kind))
            found: dict[int, TokenVectors] = {}
            if tokens:
                for pid, starts, vectors in db.execute(
                    "SELECT paragraph_id, starts, vectors FROM tokens "
                    f"WHERE paragraph_id IN ({marks})",
                    [int(i) for i in ids],
                ):
                    found[pid] = TokenVectors.from_blobs(starts, vectors)
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
                entities=tuple(entities.get(row[0], ())),
                published=row[7],
                tokens=found.get(row[0]),
            )
            for row in rows
        }

    def texts(self, ids: Sequence[int]) -> dict[int, str]:
        """The text keyword search reads of each paragraph id (article title, heading and text):
        a lighter look-up than passages() for reading many paragraphs' words."""
        rows = self._rows_for_ids(
            "SELECT p.id, a.title, p.heading, p.text FROM paragraphs p "
            "JOIN articles a ON a.id = p.article_id WHERE p.id IN ({marks})",
            ids,
        )
        return {pid: f"{title} {heading or ''} {body}" for pid, title, heading, body in rows}

    def sentence_texts(self, ids: Sequence[int]) -> dict[int, str]:
        """The text of every sentence of the given paragraph ids, by sentence id."""
        return dict(
            self._rows_for_ids(
                "SELECT s.id, substr(p.text, s.start + 1, s.end - s.start) FROM sentences s "
                "JOIN paragraphs p ON p.id = s.paragraph_id WHERE s.paragraph_id IN ({marks})",
                ids,
            )
        )

    def _rows_for_ids(self, query: str, ids: Sequence[int]) -> list[tuple]:
        """The rows of a query whose one {marks} takes a placeholder for each id."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        with self.connect() as db:
            return db.execute(query.format(marks=marks), [int(i) for i in ids]).fetchall()

    def articles(self) -> list[ArticleInfo]:
        """Every indexed article, in the order they were added."""
        with self.connect() as db:
            rows = db.execute(
                "SELECT id, source, title, url, published, paragraphs, added_at, content_hash "
                "FROM articles ORDER BY added_at, source"
            ).fetchall()
        return [ArticleInfo(*row) for row in rows]

    def opening(self, article_id: int) -> Passage | None:
        """An article's first paragraph (without token vectors), or None for an unknown id."""
        with self.connect() as db:
            row = db.execute(
                "SELECT id FROM paragraphs WHERE article_id = ? ORDER BY position LIMIT 1",
                (article_id,),
            ).fetchone()
        return None if row is None else self.passages([row[0]], tokens=False).get(row[0])

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


def day_ordinal(published: str | None) -> float:
    """The ordinal of a stored ISO publication day; NaN when there is none or it is unreadable."""
    if not published:
        return float("nan")
    try:
        return float(datetime.date.fromisoformat(published[:10]).toordinal())
    except ValueError:
        return float("nan")


def generation_number(generation: Path) -> int:
    """gen-000007 → 7."""
    try:
        return int(generation.name.removeprefix("gen-"))
    except ValueError:
        raise IndexFormatError(
            f"{generation} is not named like a generation (gen-NNNNNN); rebuild the index."
        ) from None


class Keywords:
    """The BM25 matrices of a generation with the ids of their rows."""

    def __init__(
        self,
        paragraphs: KeywordIndex,
        paragraph_ids: np.ndarray,
        sentences: KeywordIndex,
        sentence_ids: np.ndarray,
        sentence_owners: np.ndarray,
    ):
        self.paragraphs = paragraphs
        self.paragraph_ids = paragraph_ids  # sorted: row i holds paragraph paragraph_ids[i]
        self.sentences = sentences
        self.sentence_ids = sentence_ids
        self.sentence_owners = sentence_owners
        # Sentence rows grouped by paragraph, for finding a candidate's sentences by bisection.
        self._by_owner = np.argsort(sentence_owners, kind="stable")
        self._owners_sorted = sentence_owners[self._by_owner]

    @classmethod
    def load(cls, generation: Path, manifest: Manifest, rebuild: str) -> Keywords:
        """Read both keyword indexes, checking them against the manifest's counts."""
        loaded = []
        for name, expected in (
            (PARAGRAPH_KEYWORDS, manifest.paragraphs),
            (SENTENCE_KEYWORDS, manifest.sentences),
        ):
            try:
                index = KeywordIndex.load(generation, name)
                ids = np.load(generation / f"{name}.ids.npy", allow_pickle=False)
            except (OSError, ValueError, KeyError) as error:
                raise IndexFormatError(
                    f"{generation / name}.npz is missing or damaged ({error.__class__.__name__}); "
                    f"rebuild with: {rebuild}"
                ) from None
            if index.matrix.shape[0] != expected or ids.shape != (expected, 2):
                raise IndexFormatError(
                    f"{generation / name}.npz holds {index.matrix.shape[0]} rows but the manifest "
                    f"says {expected}; rebuild with: {rebuild}"
                )
            loaded.append((index, ids))
        (paragraphs, paragraph_ids), (sentences, sentence_ids) = loaded
        return cls(
            paragraphs, paragraph_ids[:, 0], sentences, sentence_ids[:, 0], sentence_ids[:, 1]
        )

    def paragraph_rows(self, paragraph_ids: Sequence[int]) -> np.ndarray:
        """Row of each paragraph id in the paragraph matrix."""
        return np.searchsorted(self.paragraph_ids, np.asarray(paragraph_ids, dtype=np.int64))

    def sentence_rows(self, paragraph_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the sentences of the given paragraphs, and each row's position among them."""
        wanted = np.asarray(paragraph_ids, dtype=np.int64)
        starts = np.searchsorted(self._owners_sorted, wanted, side="left")
        ends = np.searchsorted(self._owners_sorted, wanted, side="right")
        counts = ends - starts
        owners = np.repeat(np.arange(len(wanted)), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return self._by_owner[np.repeat(starts, counts) + offsets], owners
