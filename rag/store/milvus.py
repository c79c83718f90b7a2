"""Vectors in Milvus: every generation of an index is a filter over the same two collections.

Each index NAME (milvus://HOST:PORT/NAME, "rag" by default) has two collections, NAME_paragraphs
and NAME_sentences. A row holds one vector with its paragraph or sentence id, article id,
publication day, and two generation numbers: `added` (the generation that wrote it) and
`removed` (the generation that removed it; 0 while live). Generation G of the index sees the rows

    since <= added <= G  and  (removed == 0 or removed > G)

where `since` is the generation the index was (re)built at. So a writer of G never changes what an
older generation sees: it adds rows with added=G and marks rows removed=G, and until the index
folder's CURRENT names G no reader asks for G. A writer that dies leaves rows no committed
generation sees; the next writer of G deletes them (added >= G) and un-marks the others
(removed >= G) before it starts. Rows no kept generation can see any more are deleted after a
commit (`committed`).

A generation's manifest records a Milvus timestamp taken after its last write; readers pass it as
the guarantee timestamp of every search and query, so a generation's first reads already see all
of its rows (a Bounded read could miss the last few seconds of writes) and later reads wait for
nothing (a Strong read costs a time tick, about 0.2-0.4 s, on every question).

The primary key of a row is its id mixed with the generation that added it (id XOR a per-
generation salt), so a writer can delete what it added itself without asking the server, and the
same paragraph re-added by a later generation gets a new row beside the old one.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.errors import IndexFormatError, VectorStoreError
from rag.store.vectors import KINDS, Allowed, DayRange, milvus_address

if TYPE_CHECKING:
    from rag.store.layout import Manifest

# How the paragraphs are searched: HNSW by inner product (the vectors are normalized). Sentences
# are only looked up by id, never searched, but Milvus loads no collection without an index: FLAT
# costs nothing to build.
PARAGRAPH_INDEX = {
    "index_type": "HNSW",
    "metric_type": "IP",
    "params": {"M": 16, "efConstruction": 200},
}
SENTENCE_INDEX = {"index_type": "FLAT", "metric_type": "IP", "params": {}}
EF_SEARCH = 64  # the search list; widened to 2k for larger k
MAX_TOP_K = 16_384  # Milvus's limit on k
FIELDS = ("pk", "id", "article_id", "published", "added", "removed", "vector")
CONNECT_TIMEOUT = 5.0  # seconds to reach the server before saying it is down
CALL_TIMEOUT = 60.0  # seconds for one request
SETTLE_TIMEOUT = 30.0  # seconds a collection may take to start serving after a load or restart
BATCH = 2_000  # rows per insert, ids per query
CACHED_VECTORS = 50_000  # per kind and reader: 77 MB of 384-d vectors
# The marker row: never visible (added is past every generation); upserting it at save gives a
# timestamp later than every write of the generation.
MARKER_PK = -1
NEVER = 2**62
_MASK = 2**63 - 1
_SALT = 0x9E3779B97F4A7C15  # any odd constant spreads the generation over the bits


def row_key(ids: np.ndarray, generation: int) -> np.ndarray:
    """Primary keys of the rows generation adds for these ids: distinct ids give distinct keys."""
    salt = np.int64((generation * _SALT) & _MASK)
    return np.bitwise_xor(np.asarray(ids, dtype=np.int64), salt)


def visible(generation: int, since: int) -> str:
    """The filter that selects the rows generation sees."""
    return (
        f"added >= {since} and added <= {generation} and (removed == 0 or removed > {generation})"
    )


def day_filter(days: DayRange) -> str | None:
    """The filter on `published` (date ordinal, 0 when undated) for a day range; None: all."""
    dated = ["published != 0"]
    if days.lowest is not None:
        dated.append(f"published >= {int(days.lowest)}")
    if days.highest is not None:
        dated.append(f"published <= {int(days.highest)}")
    if days.undated:
        if len(dated) == 1:
            return None
        return f"(({' and '.join(dated)}) or published == 0)"
    return f"({' and '.join(dated)})"


def collection_names(name: str) -> dict[str, str]:
    """The collection of each kind of vector for an index name."""
    return {kind: f"{name}_{kind}" for kind in KINDS}


def _store_address(store: str) -> tuple[str, int, str]:
    address = milvus_address(store)
    if address is None:
        raise IndexFormatError(f"{store!r} is not a milvus://HOST:PORT[/NAME] address.")
    return address


def _display(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@contextlib.contextmanager
def _talking(host: str, port: int) -> Iterator[None]:
    """Turn pymilvus's and gRPC's errors into one VectorStoreError sentence."""
    from pymilvus.exceptions import MilvusException

    try:
        yield
    except MilvusException as error:
        raise VectorStoreError(_explain(host, port, str(error.message or error))) from None
    except Exception as error:  # grpc.RpcError and friends, raised under pymilvus
        if type(error).__module__.startswith(("grpc", "pymilvus")):
            raise VectorStoreError(_explain(host, port, str(error))) from None
        raise


def _explain(host: str, port: int, message: str) -> str:
    where = _display(host, port)
    lowered = message.lower()
    if any(word in lowered for word in ("fail connecting", "unavailable", "deadline", "connect")):
        return (
            f"The Milvus server at {where} cannot be reached; start it (or check the address "
            "given with --store) and try again."
        )
    detail = " ".join(message.split())[:200].rstrip(".")
    return f"The Milvus server at {where} refused a request ({detail}); check its log."


def _connect(host: str, port: int) -> Any:
    from pymilvus import MilvusClient

    # pymilvus prints every failed call's traceback to stderr (its own handler, set up when it is
    # imported); here each failure becomes one sentence instead, so only the fatal ones are left.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)

    with _talking(host, port):
        return MilvusClient(uri=f"http://{_display(host, port)}", timeout=CONNECT_TIMEOUT)


def _settled(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call, and call again while the server says a collection's channel is not serving yet
    (just created or loaded, or the server just restarted: Milvus 2.3 answers 503 for a moment).
    Only for reads and for writes that may be repeated (upserts, deletes by key)."""
    from pymilvus.exceptions import MilvusException

    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        try:
            return call(*args, **kwargs)
        except MilvusException as error:
            message = str(error.message or "").lower()
            settling = error.code == 503 or "not available" in message or "recover" in message
            if not settling or time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def _count(client: Any, collection: str, where: str, **consistency: Any) -> int:
    rows = _settled(
        client.query,
        collection,
        filter=where,
        output_fields=["count(*)"],
        timeout=CALL_TIMEOUT,
        **consistency,
    )
    return int(rows[0]["count(*)"]) if rows else 0


def _dimension(client: Any, collection: str) -> int | None:
    """The dimension of a collection's vector field; None when it has no such field."""
    described = client.describe_collection(collection, timeout=CALL_TIMEOUT)
    for spec in described.get("fields", []):
        if spec.get("name") == "vector":
            return int(spec.get("params", {}).get("dim", 0))
    return None


def _ensure_loaded(client: Any, collection: str) -> None:
    # A restarted server reloads what was loaded; a collection released by hand is loaded again.
    state = client.get_load_state(collection, timeout=CALL_TIMEOUT).get("state")
    if getattr(state, "name", str(state)) != "Loaded":
        client.load_collection(collection, timeout=CALL_TIMEOUT)


class MilvusReader:
    """One generation's vectors in Milvus: paragraph search and lookups by id, from many threads."""

    def __init__(
        self,
        client: Any,
        address: tuple[str, int, str],
        description: dict,
        dimension: int,
        counts: dict[str, int],
    ):
        self.client = client
        self.host, self.port, self.name = address
        self.description = description
        self.dimension = dimension
        self.collections: dict[str, str] = dict(description["collections"])
        self.generation = int(description["generation"])
        self.visible = visible(self.generation, int(description["since"]))
        # Every read waits until the server has applied this generation's writes (see above).
        self.consistency = {
            "consistency_level": "Customized",
            "guarantee_timestamp": int(description["timestamp"]),
        }
        self._counts = counts
        # A generation's rows never change, so vectors read once are kept (the pipeline asks for
        # the same candidates' vectors several times per question).
        self._cache: dict[str, OrderedDict[int, np.ndarray]] = {
            kind: OrderedDict() for kind in KINDS
        }
        self._cache_lock = threading.Lock()

    @classmethod
    def open(cls, generation: Path, number: int, manifest: Manifest, rebuild: str) -> MilvusReader:
        """Connect to the server the manifest names and check the collections against it."""
        description = manifest.vectors
        where = generation / "manifest.json"
        try:
            address = _store_address(str(description["store"]))
            collections = {kind: str(description["collections"][kind]) for kind in KINDS}
            stamped = int(description["generation"]), int(description["since"])
            int(description["timestamp"])
        except (KeyError, TypeError, ValueError, IndexFormatError):
            raise IndexFormatError(
                f"{where} does not say where its Milvus vectors are; rebuild with: {rebuild}"
            ) from None
        if stamped[0] != number or stamped[1] > number:
            raise IndexFormatError(
                f"{where} describes Milvus rows of generation {stamped[0]} but sits in generation "
                f"{number}; rebuild with: {rebuild}"
            )
        host, port, _ = address
        client = _connect(host, port)
        try:
            with _talking(host, port):
                counts = cls._check(client, address, description, manifest, rebuild, collections)
        except BaseException:
            client.close()
            raise
        return cls(client, address, description, manifest.dimension, counts)

    @staticmethod
    def _check(
        client: Any,
        address: tuple[str, int, str],
        description: dict,
        manifest: Manifest,
        rebuild: str,
        collections: dict[str, str],
    ) -> dict[str, int]:
        host, port, _ = address
        where = f"milvus://{_display(host, port)}"
        rows = visible(int(description["generation"]), int(description["since"]))
        stamp = {
            "consistency_level": "Customized",
            "guarantee_timestamp": int(description["timestamp"]),
        }
        counts = {}
        for kind, expected in (
            ("paragraphs", manifest.paragraphs),
            ("sentences", manifest.sentences),
        ):
            collection = collections[kind]
            if not client.has_collection(collection, timeout=CALL_TIMEOUT):
                raise IndexFormatError(
                    f"The Milvus collection {collection} at {where} is missing; "
                    f"rebuild with: {rebuild}"
                )
            dimension = _dimension(client, collection)
            if dimension != manifest.dimension:
                raise IndexFormatError(
                    f"The Milvus collection {collection} at {where} holds {dimension}-d vectors "
                    f"but the manifest says {manifest.dimension}; rebuild with: {rebuild}"
                )
            _ensure_loaded(client, collection)
            counts[kind] = _count(client, collection, rows, **stamp)
            if counts[kind] != expected:
                raise IndexFormatError(
                    f"The Milvus collection {collection} at {where} holds {counts[kind]} {kind} "
                    f"of generation {description['generation']} but the manifest says "
                    f"{expected}; rebuild with: {rebuild}"
                )
        return counts

    def count(self, kind: str) -> int:
        """How many vectors of this kind the generation holds."""
        return self._counts[kind]

    def search(
        self, query: np.ndarray, k: int, allowed: Allowed | None = None
    ) -> list[tuple[int, float]]:
        """Top-k paragraph ids by inner product, best first, among the allowed days."""
        k = min(k, self._counts["paragraphs"], MAX_TOP_K)
        if k <= 0:
            return []
        where = self.visible
        days = day_filter(allowed.days) if allowed is not None else None
        if days is not None:
            where = f"{where} and {days}"
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        with _talking(self.host, self.port):
            hits = _settled(
                self.client.search,
                self.collections["paragraphs"],
                data=[vector.tolist()],
                filter=where,
                limit=k,
                output_fields=["id"],
                search_params={"metric_type": "IP", "params": {"ef": max(EF_SEARCH, 2 * k)}},
                anns_field="vector",
                timeout=CALL_TIMEOUT,
                **self.consistency,
            )
        return [(int(hit["entity"]["id"]), float(hit["distance"])) for hit in hits[0]]

    def lookup(self, kind: str, ids: Sequence[int]) -> np.ndarray:
        """The vectors of these ids, in order, shape (n, dimension); KeyError if one is absent."""
        wanted = np.asarray(ids, dtype=np.int64).reshape(-1)
        cache = self._cache[kind]
        with self._cache_lock:
            known = {int(i): cache[int(i)] for i in np.unique(wanted) if int(i) in cache}
        asked = [int(i) for i in np.unique(wanted) if int(i) not in known]
        with _talking(self.host, self.port):
            for start in range(0, len(asked), BATCH):
                chunk = ", ".join(str(i) for i in asked[start : start + BATCH])
                for row in _settled(
                    self.client.query,
                    self.collections[kind],
                    filter=f"id in [{chunk}] and {self.visible}",
                    output_fields=["id", "vector"],
                    timeout=CALL_TIMEOUT,
                    **self.consistency,
                ):
                    known[int(row["id"])] = np.asarray(row["vector"], dtype=np.float32)
        missing = [i for i in asked if i not in known]
        if missing:
            raise KeyError(f"{len(missing)} ids are not in the index, such as {missing[0]}")
        with self._cache_lock:
            for i in asked:
                cache[i] = known[i]
                cache.move_to_end(i)
            while len(cache) > CACHED_VECTORS:
                cache.popitem(last=False)
        if not len(wanted):
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([known[int(i)] for i in wanted])

    def close(self) -> None:
        """Let go of the connection (shared with other readers of the same server)."""
        with contextlib.suppress(Exception):
            self.client.close()


class MilvusWriter:
    """Writes generation `number` of an index's vectors into its Milvus collections."""

    def __init__(self, store: str, previous_manifest: Manifest | None, dimension: int, number: int):
        self.host, self.port, self.name = _store_address(store)
        # Recorded as given, so that the same --store on the next run names the same store.
        self.store = store
        self.dimension = dimension
        self.generation = number
        self.collections = collection_names(self.name)
        self.since = number
        if previous_manifest is not None:
            self._follow(previous_manifest)
        self._pending: dict[str, list[dict]] = {kind: [] for kind in KINDS}
        self._wrote = False  # something was sent that a failed run must take back
        self._saved = False
        self.client = _connect(self.host, self.port)
        try:
            with _talking(self.host, self.port):
                for kind in KINDS:
                    self._prepare(kind)
                for kind in KINDS:
                    self._undo(kind)
        except BaseException:
            self.client.close()
            raise

    def _follow(self, previous: Manifest) -> None:
        """Continue the previous generation's rows, when they are in this store."""
        description = previous.vectors
        previous_store = str(description.get("store", "faiss"))
        address = milvus_address(previous_store)
        if address != (self.host, self.port, self.name):
            raise IndexFormatError(
                f"The index keeps its vectors in {previous_store}, not {self.store}; add --rebuild "
                f"to move them, or drop --store to keep {previous_store}."
            )
        try:
            self.since = int(description["since"])
        except (KeyError, TypeError, ValueError):
            raise IndexFormatError(
                f"The manifest of the index does not say which Milvus rows are its own; rebuild "
                f"with --rebuild --store {self.store}."
            ) from None

    def _prepare(self, kind: str) -> None:
        """Create the collection if it is missing; check and load it if it is there."""
        from pymilvus import DataType, MilvusClient

        collection = self.collections[kind]
        if self.client.has_collection(collection, timeout=CALL_TIMEOUT):
            dimension = _dimension(self.client, collection)
            if dimension != self.dimension:
                raise IndexFormatError(
                    f"The Milvus collection {collection} at {self.store} holds {dimension}-d "
                    f"vectors but this index needs {self.dimension}-d; give the index another "
                    f"name (--store milvus://{_display(self.host, self.port)}/OTHER)."
                )
            _ensure_loaded(self.client, collection)
            return
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pk", DataType.INT64, is_primary=True)
        for field in FIELDS[1:-1]:
            schema.add_field(field, DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dimension)
        spec = PARAGRAPH_INDEX if kind == "paragraphs" else SENTENCE_INDEX
        index = self.client.prepare_index_params()
        index.add_index(
            field_name="vector",
            index_type=spec["index_type"],
            metric_type=spec["metric_type"],
            params=spec["params"],
        )
        # Created with its index, the collection starts loading; load_collection waits for it.
        self.client.create_collection(
            collection,
            schema=schema,
            index_params=index,
            consistency_level="Bounded",
            timeout=CALL_TIMEOUT,
        )
        self.client.load_collection(collection, timeout=CALL_TIMEOUT)

    def _undo(self, kind: str) -> None:
        """Delete the rows an earlier writer of this generation (or a later number) left, and
        un-mark those it removed: they belong to no committed generation."""
        collection = self.collections[kind]
        later = self.generation
        # Strong: the writer that left them may have died a moment ago.
        rows = _settled(
            self.client.query,
            collection,
            filter=f"pk != {MARKER_PK} and (added >= {later} or removed >= {later})",
            output_fields=["pk", "added"],
            consistency_level="Strong",
            timeout=CALL_TIMEOUT,
        )
        added = [int(r["pk"]) for r in rows if int(r["added"]) >= later]
        marked = [int(r["pk"]) for r in rows if int(r["added"]) < later]
        self._delete(collection, added)
        for start in range(0, len(marked), BATCH):
            chunk = ", ".join(str(pk) for pk in marked[start : start + BATCH])
            full = _settled(
                self.client.query,
                collection,
                filter=f"pk in [{chunk}]",
                output_fields=list(FIELDS),
                consistency_level="Strong",
                timeout=CALL_TIMEOUT,
            )
            _settled(
                self.client.upsert,
                collection,
                [_plain(row) | {"removed": 0} for row in full],
                timeout=CALL_TIMEOUT,
            )

    def _delete(self, collection: str, keys: list[int]) -> None:
        """Delete rows by primary key, in batches."""
        for start in range(0, len(keys), BATCH):
            _settled(
                self.client.delete,
                collection,
                ids=keys[start : start + BATCH],
                timeout=CALL_TIMEOUT,
            )

    def add(
        self, kind: str, ids: np.ndarray, vectors: np.ndarray, article_id: int, day: int
    ) -> None:
        """Add rows (with added = this generation) for these ids and vectors."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dimension)
        keys = row_key(ids, self.generation)
        self._pending[kind].extend(
            {
                "pk": int(key),
                "id": int(i),
                "article_id": int(article_id),
                "published": int(day),
                "added": self.generation,
                "removed": 0,
                "vector": vector.tolist(),
            }
            for key, i, vector in zip(keys, ids, vectors, strict=True)
        )
        if len(self._pending[kind]) >= BATCH:
            self._send(kind)

    def _send(self, kind: str) -> None:
        rows, self._pending[kind] = self._pending[kind], []
        self._wrote = self._wrote or bool(rows)
        with _talking(self.host, self.port):
            for start in range(0, len(rows), BATCH):
                self.client.insert(
                    self.collections[kind], rows[start : start + BATCH], timeout=CALL_TIMEOUT
                )

    def remove(self, kind: str, ids: np.ndarray) -> None:
        """Remove these ids from this generation on: rows this writer added are deleted, rows
        of earlier generations are marked removed = this generation (they stay for them)."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if not len(ids):
            return
        self._send(kind)
        self._wrote = True
        collection = self.collections[kind]
        earlier = f"added >= {self.since} and added < {self.generation} and removed == 0"
        with _talking(self.host, self.port):
            self._delete(collection, [int(key) for key in row_key(ids, self.generation)])
            for start in range(0, len(ids), BATCH):
                chunk = ", ".join(str(int(i)) for i in ids[start : start + BATCH])
                rows = _settled(
                    self.client.query,
                    collection,
                    filter=f"id in [{chunk}] and {earlier}",
                    output_fields=list(FIELDS),
                    consistency_level="Strong",
                    timeout=CALL_TIMEOUT,
                )
                if rows:
                    marked = [_plain(row) | {"removed": self.generation} for row in rows]
                    _settled(self.client.upsert, collection, marked, timeout=CALL_TIMEOUT)

    def save(self, work: Path) -> dict:
        """Send what is pending and stamp the generation; returns the manifest's description."""
        for kind in KINDS:
            self._send(kind)
        with _talking(self.host, self.port):
            stamp = max(self._mark(kind) for kind in KINDS)
        self._saved = True
        return {
            "store": self.store,
            "collections": dict(self.collections),
            "generation": self.generation,
            "since": self.since,
            "timestamp": stamp,
            "paragraphs": _describe(PARAGRAPH_INDEX, searched=True)
            | {"collection": self.collections["paragraphs"], "efSearch": EF_SEARCH},
            "sentences": _describe(SENTENCE_INDEX, searched=False)
            | {"collection": self.collections["sentences"]},
        }

    def _mark(self, kind: str) -> int:
        """Upsert the marker row; its timestamp orders after every earlier write."""
        row = {
            "pk": MARKER_PK,
            "id": -1,
            "article_id": -1,
            "published": 0,
            "added": NEVER,
            "removed": 0,
            "vector": [0.0] * self.dimension,
        }
        # MilvusClient.upsert drops the timestamp of the write; its connection's reply has it.
        result = self.client._get_connection().upsert_rows(
            self.collections[kind], [row], timeout=CALL_TIMEOUT
        )
        return int(result.timestamp)

    def committed(self, keep: Sequence[int]) -> None:
        """Delete rows no kept generation sees (best effort: the next commit tries again)."""
        self._wrote = False  # live now: closing must not undo it
        oldest = min([*keep, self.generation])
        gone = f"removed != 0 and removed <= {oldest}"
        if oldest >= self.since:
            gone = f"({gone}) or (added < {self.since} and pk != {MARKER_PK})"
        with contextlib.suppress(VectorStoreError), _talking(self.host, self.port):
            for kind in KINDS:
                _settled(
                    self.client.delete, self.collections[kind], filter=gone, timeout=CALL_TIMEOUT
                )

    def close(self) -> None:
        """Discard uncommitted work and let go of the connection; safe to call twice."""
        if getattr(self, "client", None) is None:
            return
        if self._wrote and not self._saved:
            # Never saved, so never live: its rows can go now (the next writer would anyway).
            with contextlib.suppress(VectorStoreError), _talking(self.host, self.port):
                for kind in KINDS:
                    self._pending[kind] = []
                    self._undo(kind)
        with contextlib.suppress(Exception):
            self.client.close()
        self.client = None


def _plain(row: dict) -> dict:
    """A queried row as a row to write back: the fields of the schema, vector as floats."""
    return {field: row[field] for field in FIELDS} | {"vector": [float(x) for x in row["vector"]]}


def _describe(spec: dict, *, searched: bool) -> dict:
    return {
        "index": spec["index_type"].lower(),
        "metric": spec["metric_type"],
        **spec["params"],
        "searched": searched,
    }
