"""Where an index's vectors live and how they are searched: one interface, two stores.

The index folder always keeps the text, offsets, keywords and manifest; the paragraph and
sentence vectors live in a vector store chosen when the index is built:

- "faiss" (the default): FAISS files inside each generation folder. Paragraphs are searched
  exactly up to EXACT_UP_TO of them; above that an inverted file (IVF) of 8-bit codes finds
  candidates, which are re-ranked against the exact vectors. Sentence vectors are only ever
  looked up by id (never searched), so they are kept flat and memory-mapped.
- "milvus://HOST:PORT[/NAME]": Milvus collections (rag.store.milvus), for vectors past one box.

Readers and writers meet here: `open_vector_reader` and `open_vector_writer` pick the store from
the manifest (reading) or the requested store (writing).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import faiss
import numpy as np

from rag.errors import IndexFormatError

if TYPE_CHECKING:
    from rag.store.layout import Manifest

KINDS = ("paragraphs", "sentences")
FAISS = "faiss"
MILVUS_SCHEME = "milvus://"

# Paragraph search is exact up to this many paragraphs, and approximate above it. Exact search of
# one question costs about 0.2 ms per 1,000 paragraphs on one core (13.5 ms at 60,000, 150 to
# 210 ms at a million; benchmarks/scale.py), the approximate index 2 to 8 ms.
EXACT_UP_TO = 50_000
# The approximate index: an inverted file of 8-bit codes (IVF, SQ8) with about 4·√n lists (a
# power of two), PROBES of them searched per question; its best candidates are re-ranked by exact
# inner product. Measured by benchmarks/scale.py on a million paragraphs with SQuAD questions:
# recall@100 against exact search 0.997 at 32 probes and 0.998 at 64 (3 ms), where an HNSW graph
# (M 32, built with width 200) reached 0.963 at search width 512 and no more at 2,048.
LISTS_PER_ROOT = 4
PROBES = 64
# The lists were fitted to the vectors of the build: once the index has grown past this many
# times its size then, they are fitted again.
GROWTH = 4
# The index is rebuilt once the vectors it holds for removed or replaced paragraphs exceed this
# share of the live ones (until then they are masked out of every search).
STALE_SHARE = 0.2
# A search that may use fewer than this share of the paragraphs (an old as-of day, a narrow
# window) is exact over just those: so few allowed vectors would leave most probed lists empty.
SPARSE_SHARE = 0.1

PARAGRAPH_VECTORS = "paragraphs.faiss"
SENTENCE_VECTORS = "sentences.faiss"
PARAGRAPH_ANN = "paragraphs.ivf.faiss"
ANN_IDS = "paragraphs.ivf.ids.npy"  # the paragraph id of each vector it holds; -1 once stale


@dataclass(frozen=True)
class DayRange:
    """The publication days (date ordinals) a search may use; undated: undated paragraphs too."""

    lowest: int | None = None
    highest: int | None = None
    undated: bool = True

    def mask(self, days: np.ndarray) -> np.ndarray:
        """Which of these days (NaN: undated) are in the range."""
        dated = ~np.isnan(days)
        keep = dated.copy()
        if self.lowest is not None:
            keep &= np.where(dated, days, -np.inf) >= self.lowest
        if self.highest is not None:
            keep &= np.where(dated, days, np.inf) <= self.highest
        if self.undated:
            keep |= ~dated
        return keep


@dataclass(frozen=True)
class Allowed:
    """The paragraphs a search may return: the day range, and the same as one flag per row of
    ids (the index's sorted paragraph ids). A store uses whichever it can filter by."""

    days: DayRange
    rows: np.ndarray
    ids: np.ndarray


class VectorReader(Protocol):
    """The vectors of one generation: paragraph search, and lookups of either kind by id."""

    description: dict
    dimension: int

    def count(self, kind: str) -> int: ...

    def search(
        self, query: np.ndarray, k: int, allowed: Allowed | None = None
    ) -> list[tuple[int, float]]: ...

    def lookup(self, kind: str, ids: Sequence[int]) -> np.ndarray: ...

    def close(self) -> None: ...


class VectorWriter(Protocol):
    """Builds the vectors of the next generation beside the live one's."""

    def add(
        self, kind: str, ids: np.ndarray, vectors: np.ndarray, article_id: int, day: int
    ) -> None: ...

    def remove(self, kind: str, ids: np.ndarray) -> None: ...

    def save(self, work: Path) -> dict: ...

    def committed(self, keep: Sequence[int]) -> None: ...

    def close(self) -> None: ...


def store_of(manifest: Manifest | None) -> str:
    """The store an index's vectors are in ("faiss" or a milvus:// address)."""
    if manifest is None:
        return FAISS
    return str(manifest.vectors.get("store", FAISS))


def same_store(first: str, second: str) -> bool:
    """Whether two store names mean the same store (milvus://h:19530 is milvus://h:19530/rag)."""
    if first.startswith(MILVUS_SCHEME) and second.startswith(MILVUS_SCHEME):
        return milvus_address(first) == milvus_address(second)
    return first == second


def store_error(store: str) -> str | None:
    """One sentence on what is wrong with a --store value, or None when it is usable."""
    if store == FAISS:
        return None
    if store.startswith(MILVUS_SCHEME) and milvus_address(store) is not None:
        return None
    return f"--store must be faiss or milvus://HOST:PORT[/NAME], not {store!r}."


def milvus_address(store: str) -> tuple[str, int, str] | None:
    """(host, port, name) of a milvus://HOST:PORT[/NAME] store (name "rag" when not given);
    None when it is not such an address."""
    match = re.fullmatch(
        r"milvus://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})(?:/([A-Za-z_][A-Za-z0-9_]*))?/?",
        store,
    )
    if match is None or not 0 < int(match[2]) < 65536:
        return None
    return match[1].strip("[]"), int(match[2]), match[3] or "rag"


def open_vector_reader(
    generation: Path, number: int, manifest: Manifest, rebuild: str
) -> VectorReader:
    """The vectors of a generation, from the store its manifest names, checked against it."""
    store = store_of(manifest)
    if store.startswith(MILVUS_SCHEME):
        from rag.store.milvus import MilvusReader

        return MilvusReader.open(generation, number, manifest, rebuild)
    if store != FAISS:
        raise IndexFormatError(
            f"{generation / 'manifest.json'} names an unknown vector store {store!r}; "
            f"rebuild with: {rebuild}"
        )
    return FaissReader.open(generation, manifest, rebuild)


def open_vector_writer(
    store: str,
    previous: Path | None,
    previous_manifest: Manifest | None,
    dimension: int,
    number: int,
) -> VectorWriter:
    """A writer of the next generation's vectors (number), starting from the previous one's."""
    if store.startswith(MILVUS_SCHEME):
        from rag.store.milvus import MilvusWriter

        return MilvusWriter(store, previous_manifest, dimension, number)
    return FaissWriter(previous, previous_manifest, dimension)


def describe(description: dict) -> str:
    """One line on where an index's vectors are and how they are searched, for `rag info`."""
    store = str(description.get("store", FAISS))
    parts = []
    for kind in KINDS:
        about = description.get(kind)
        if not isinstance(about, dict):
            continue
        if about.get("index") == "ivf":
            how = (
                f"IVF ({about.get('lists'):,} lists, {about.get('probes')} probed, 8-bit codes "
                f"re-ranked against the exact vectors; {about.get('vectors', 0):,} vectors, "
                f"{about.get('stale', 0):,} of them stale)"
            )
        elif about.get("index") == "hnsw":  # Milvus's own index
            how = f"HNSW (M {about.get('M')}, efConstruction {about.get('efConstruction')})"
        elif about.get("index") == "flat":
            how = f"exact ({about.get('storage', 'float32')})"
        else:
            how = ", ".join(f"{key} {value}" for key, value in about.items())
        if about.get("searched") is False:
            how += ", looked up by id"
        parts.append(f"{kind} {how}")
    if not parts:  # written before the store was recorded: flat FAISS files
        parts = ["paragraphs exact (float32)", "sentences exact (float32), looked up by id"]
    return f"{store}: " + "; ".join(parts)


def day_number(published: str | None) -> int:
    """A stored ISO publication day as a date ordinal; 0 when there is none or it is unreadable."""
    if not published:
        return 0
    try:
        return dt.date.fromisoformat(published[:10]).toordinal()
    except ValueError:
        return 0


# ----------------------------------------------------------------------------- FAISS


def read_faiss(path: Path, rebuild: str, *, mapped: bool = False) -> faiss.Index:
    """Read a FAISS index file; mapped: memory-map its vectors (read-only) instead of copying
    them into the process, so they live in the page cache, shared and reclaimable."""
    if not path.is_file():
        raise IndexFormatError(f"{path} is missing; rebuild with: {rebuild}")
    if mapped:
        try:
            return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
        except RuntimeError:
            pass  # a file system that cannot map it, or a damaged file: the plain read tells
    try:
        return faiss.read_index(str(path))
    except RuntimeError:
        raise IndexFormatError(
            f"{path} is not a readable FAISS index (truncated or corrupt); rebuild with: {rebuild}"
        ) from None


def write_faiss(index: faiss.Index, path: Path) -> None:
    """Write a FAISS index through a Python file: faiss.write_index(path) only prints a failed
    final flush ("close error") and returns, leaving a truncated file to be made live. A failed
    write raises OSError naming the file."""
    try:
        with open(path, "wb") as file:
            faiss.write_index(index, faiss.PyCallbackIOWriter(file.write))
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(path)) from None


class FaissReader:
    """A generation's FAISS files: flat, memory-mapped vectors of both kinds, and for large
    indexes an inverted file over the paragraphs whose candidates are re-ranked exactly."""

    def __init__(
        self,
        paragraphs: faiss.Index,
        sentences: faiss.Index,
        ann: faiss.Index | None,
        ann_ids: np.ndarray | None,
        description: dict,
    ):
        self.paragraphs = paragraphs
        self.sentences = sentences
        self.ann = ann
        self.ann_ids = ann_ids
        self.description = description
        self.dimension = paragraphs.d
        self._tables: dict[str, _VectorTable] = {}
        self._ann_positions: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def open(cls, generation: Path, manifest: Manifest, rebuild: str) -> FaissReader:
        # Generations are never changed once written, so their vectors can be mapped.
        paragraphs = read_faiss(generation / PARAGRAPH_VECTORS, rebuild, mapped=True)
        sentences = read_faiss(generation / SENTENCE_VECTORS, rebuild, mapped=True)
        for path, vectors, expected in (
            (generation / PARAGRAPH_VECTORS, paragraphs, manifest.paragraphs),
            (generation / SENTENCE_VECTORS, sentences, manifest.sentences),
        ):
            _check(path, vectors, manifest.dimension, expected, rebuild)
        ann = ann_ids = None
        if manifest.vectors.get("paragraphs", {}).get("index") == "ivf":
            ann = read_faiss(generation / PARAGRAPH_ANN, rebuild, mapped=True)
            ann_ids = _read_ids(generation / ANN_IDS, rebuild)
            _check(generation / PARAGRAPH_ANN, ann, manifest.dimension, len(ann_ids), rebuild)
            live = int((ann_ids >= 0).sum())
            if live != manifest.paragraphs:
                raise IndexFormatError(
                    f"{generation / ANN_IDS} names {live} live paragraphs but the manifest says "
                    f"{manifest.paragraphs}; rebuild with: {rebuild}"
                )
        return cls(paragraphs, sentences, ann, ann_ids, manifest.vectors)

    def count(self, kind: str) -> int:
        return int((self.paragraphs if kind == "paragraphs" else self.sentences).ntotal)

    def close(self) -> None:
        """Nothing to release: the mapped files go with the objects."""

    def search(
        self, query: np.ndarray, k: int, allowed: Allowed | None = None
    ) -> list[tuple[int, float]]:
        """Top-k paragraph ids by inner product, best first; never more than the index holds."""
        k = min(k, self.paragraphs.ntotal)
        if k <= 0:
            return []
        rows = None if allowed is None or allowed.rows.all() else allowed.rows
        if rows is not None and not rows.any():
            return []
        q = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))
        if self.ann is not None and (rows is None or rows.mean() >= SPARSE_SHARE):
            return self._ann_search(q, k, rows)
        params = None
        if rows is not None:
            ids = allowed.ids
            # The shorter list makes the smaller selector: the allowed ids, or all but the others.
            if rows.sum() <= len(rows) // 2:
                selector = faiss.IDSelectorBatch(np.ascontiguousarray(ids[rows]))
            else:
                selector = faiss.IDSelectorNot(
                    faiss.IDSelectorBatch(np.ascontiguousarray(ids[~rows]))
                )
            params = faiss.SearchParameters(sel=selector)
        scores, ids = self.paragraphs.search(q, k, params=params)
        # FAISS pads with -1 when k exceeds what it can return.
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def _ann_search(
        self, q: np.ndarray, k: int, rows: np.ndarray | None
    ) -> list[tuple[int, float]]:
        """Candidates from the inverted file (live, allowed vectors only) re-ranked by exact
        inner product."""
        wanted = max(2 * k, k + 20)
        params = faiss.SearchParametersIVF(nprobe=PROBES)
        usable = self.ann_ids >= 0
        if rows is not None:
            _, positions = self._positions()
            usable = np.zeros(len(self.ann_ids), dtype=bool)
            usable[positions[rows]] = True
        if not usable.all():
            bitmap = np.packbits(usable, bitorder="little")
            params.sel = selector = faiss.IDSelectorBitmap(len(usable), faiss.swig_ptr(bitmap))
            selector.keep = bitmap  # the selector reads the array; keep it alive with it
        _, positions_found = self.ann.search(q, min(wanted, len(self.ann_ids)), params=params)
        found = positions_found[0][positions_found[0] >= 0]
        ids = np.unique(self.ann_ids[found])
        if not len(ids):
            return []
        scores = self.lookup("paragraphs", ids) @ q[0]
        order = np.argsort(-scores, kind="stable")[:k]
        return [(int(ids[i]), float(scores[i])) for i in order]

    def _positions(self) -> tuple[np.ndarray, np.ndarray]:
        """The live vectors sorted by paragraph id: (ids, their positions), row-aligned with
        the index's sorted paragraph ids."""
        if self._ann_positions is None:
            live = np.flatnonzero(self.ann_ids >= 0)
            order = np.argsort(self.ann_ids[live], kind="stable")
            self._ann_positions = (self.ann_ids[live][order], live[order])
        return self._ann_positions

    def lookup(self, kind: str, ids: Sequence[int]) -> np.ndarray:
        table = self._tables.get(kind)
        if table is None:
            table = self._tables[kind] = _VectorTable(
                self.paragraphs if kind == "paragraphs" else self.sentences
            )
        return table.lookup(ids)


class FaissWriter:
    """The next generation's FAISS files: exact vectors of both kinds (the truth), and the
    paragraphs' inverted file, kept up to date by adding vectors and masking removed ones."""

    def __init__(self, previous: Path | None, previous_manifest: Manifest | None, dimension: int):
        self.dimension = dimension
        self.ann: faiss.Index | None = None
        self.ann_ids: list[np.ndarray] = []
        self.outdated = False  # built with other parameters than this version's
        self.trained_on = 0  # how many paragraphs its lists were fitted to
        if previous is None or previous_manifest is None:
            self.paragraphs = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
            self.sentences = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
            return
        rebuild = previous_manifest.rebuild_command(previous.parent)
        self.paragraphs = read_faiss(previous / PARAGRAPH_VECTORS, rebuild)
        self.sentences = read_faiss(previous / SENTENCE_VECTORS, rebuild)
        ann = previous_manifest.vectors.get("paragraphs", {})
        if ann.get("index") == "ivf":
            self.ann = read_faiss(previous / PARAGRAPH_ANN, rebuild)
            self.ann_ids = [_read_ids(previous / ANN_IDS, rebuild).copy()]
            self.trained_on = int(ann.get("trained_on", 0))
            self.outdated = ann.get("storage") != "sq8"

    def add(
        self, kind: str, ids: np.ndarray, vectors: np.ndarray, article_id: int, day: int
    ) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.asarray(ids, dtype=np.int64)
        if kind == "sentences":
            self.sentences.add_with_ids(vectors, ids)
            return
        self.paragraphs.add_with_ids(vectors, ids)
        if self.ann is not None:
            self.ann.add(vectors)
            self.ann_ids.append(ids.copy())

    def remove(self, kind: str, ids: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if kind == "sentences":
            self.sentences.remove_ids(ids)
            return
        self.paragraphs.remove_ids(ids)
        if self.ann is not None and len(ids):
            nodes = np.concatenate(self.ann_ids)
            # Masked, not deleted: positions stay put, and deleting from an inverted file
            # rewrites every list.
            nodes[np.isin(nodes, ids)] = -1
            self.ann_ids = [nodes]

    def save(self, work: Path) -> dict:
        """Write the files into the work folder; returns the manifest's description of them."""
        live = self.paragraphs.ntotal
        nodes = np.concatenate(self.ann_ids) if self.ann_ids else np.zeros(0, np.int64)
        stale = int((nodes < 0).sum())
        if live <= EXACT_UP_TO:
            self.ann, nodes = None, None
        elif (
            self.ann is None
            or self.outdated
            or stale > STALE_SHARE * live
            or live > GROWTH * self.trained_on
        ):
            self.ann, nodes = build_ann(self.paragraphs)
            self.trained_on = live
        write_faiss(self.paragraphs, work / PARAGRAPH_VECTORS)
        write_faiss(self.sentences, work / SENTENCE_VECTORS)
        sentences = {"index": "flat", "storage": "float32", "searched": False}
        if self.ann is None:
            return {
                "store": FAISS,
                "paragraphs": {"index": "flat", "storage": "float32"},
                "sentences": sentences,
            }
        write_faiss(self.ann, work / PARAGRAPH_ANN)
        np.save(work / ANN_IDS, nodes, allow_pickle=False)
        ann = {
            "index": "ivf",
            "storage": "sq8",
            "rerank": "exact",
            "lists": int(self.ann.nlist),
            "probes": PROBES,
            "trained_on": self.trained_on,
            "vectors": int(len(nodes)),
            "stale": int((nodes < 0).sum()),
        }
        return {"store": FAISS, "paragraphs": ann, "sentences": sentences}

    def committed(self, keep: Sequence[int]) -> None:
        """Nothing outside the generation folders to clean up."""

    def close(self) -> None:
        self.ann = None


def build_ann(flat: faiss.Index) -> tuple[faiss.Index, np.ndarray]:
    """An inverted file of 8-bit codes over a flat IDMap index's vectors (lists fitted to them),
    and the paragraph id of each of its positions."""
    table = _VectorTable(flat)
    ids = table.sorted_ids.copy()
    n = len(ids)
    lists = 2 ** max(0, round(np.log2(max(1.0, LISTS_PER_ROOT * np.sqrt(n)))))
    ann = faiss.IndexIVFScalarQuantizer(
        faiss.IndexFlatIP(flat.d),
        flat.d,
        lists,
        faiss.ScalarQuantizer.QT_8bit,
        faiss.METRIC_INNER_PRODUCT,
    )
    if n == 0:
        return ann, ids
    vectors = table.matrix[table.order]
    # k-means wants about 40 points per list; more adds time, not quality.
    sample = np.random.default_rng(0).permutation(n)[: 50 * lists]
    ann.train(np.ascontiguousarray(vectors[np.sort(sample)]))
    for start in range(0, n, 100_000):
        ann.add(np.ascontiguousarray(vectors[start : start + 100_000]))
    return ann, ids


def _check(path: Path, vectors: faiss.Index, dimension: int, expected: int, rebuild: str) -> None:
    if vectors.d != dimension:
        raise IndexFormatError(
            f"{path} holds {vectors.d}-d vectors but the manifest says {dimension}; "
            f"rebuild with: {rebuild}"
        )
    if vectors.ntotal != expected:
        raise IndexFormatError(
            f"{path} holds {vectors.ntotal} vectors but the manifest says {expected}; "
            f"rebuild with: {rebuild}"
        )


def _read_ids(path: Path, rebuild: str) -> np.ndarray:
    try:
        ids = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        raise IndexFormatError(f"{path} is missing or damaged; rebuild with: {rebuild}") from None
    if ids.ndim != 1 or ids.dtype != np.int64:
        raise IndexFormatError(f"{path} is not a list of ids; rebuild with: {rebuild}")
    return ids


class _VectorTable:
    """Vectors of a flat IDMap index viewed as a matrix with a sorted id column for lookups."""

    def __init__(self, index: faiss.Index):
        flat = faiss.downcast_index(index.index)
        n, d = index.ntotal, index.d
        matrix = faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d) if n else np.zeros((0, d))
        ids = faiss.vector_to_array(index.id_map)
        self.order = np.argsort(ids)
        self.sorted_ids = ids[self.order]
        matrix.flags.writeable = False  # it may be a read-only mapping of the file
        self.matrix = matrix  # a view: the caller keeps the FAISS object (and its memory) alive

    def lookup(self, ids: Sequence[int]) -> np.ndarray:
        wanted = np.asarray(ids, dtype=np.int64)
        positions = np.searchsorted(self.sorted_ids, wanted)
        positions = np.minimum(positions, max(len(self.sorted_ids) - 1, 0))
        if len(wanted) and (
            len(self.sorted_ids) == 0 or not np.array_equal(self.sorted_ids[positions], wanted)
        ):
            raise KeyError("some ids are not in the index")
        return self.matrix[self.order[positions]]


__all__ = [
    "Allowed",
    "DayRange",
    "FaissReader",
    "FaissWriter",
    "VectorReader",
    "VectorWriter",
    "open_vector_reader",
    "open_vector_writer",
]
