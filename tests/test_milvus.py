"""The Milvus vector store against a real Milvus 2.3 standalone server, started once for the
session (tests/milvus_server.py): the same answers as the FAISS store on the same data, updates,
crashes, readers during writes, a server that is down or restarted, and several readers at once.

Each test keeps its vectors under its own index name, so they share the one server. The server
starts while the model loads, and the collections of every index name are made at once when it is
up (MilvusWriter makes them as a first writer does; a new collection takes seconds to load, and
made one at a time they cost a minute). The restart test has a server of its own, started beside
the shared one, and makes its collections through its first writer.
Each distinct batch of paragraphs is embedded once per module (`model`): the sample is written to
several indexes, and the SQuAD slice to FAISS and Milvus, with the same vectors either way.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from pymilvus import MilvusClient

from rag.cli import main
from rag.config import Config, from_env
from rag.embed import Embedder
from rag.errors import ConfigError, IndexFormatError, VectorStoreError
from rag.evaluate import evaluate
from rag.pipeline import Pipeline, index_sources, remove_articles
from rag.store import Index, Manifest, Writer, current_generation
from rag.store.milvus import MilvusWriter
from rag.store.vectors import Allowed, DayRange
from tests.conftest import DATED, FLOOD_QUESTION, ROOT, SAMPLE, squad_path
from tests.milvus_server import MilvusServer
from tests.test_pinned import AS_OF, PINNED, answers, comparable, differences
from tests.test_reliability import ENVOY, LIGHTHOUSE, LIGHTHOUSE_ARTICLE

TIMINGS = {"latency_ms", "questions_per_s"}
SAMPLE_SOURCE = str(next(SAMPLE.iterdir()).resolve())


# The index names the tests below write to the session server (each test its own).
INDEX_NAMES = "sample dated squad updates failing killed held busy checked".split()


@pytest.fixture(scope="session")
def milvus_servers(tmp_path_factory, request) -> Iterator[tuple[MilvusServer, MilvusServer]]:
    """Two real Milvus servers, killed at the end: the one every test but the restart test shares,
    with the (empty) collections of INDEX_NAMES, and the restart test's own, which starts (from the
    programs the first one unpacked) while those collections are made."""
    server = MilvusServer(tmp_path_factory.mktemp("milvus"))
    own = MilvusServer(
        tmp_path_factory.mktemp("milvus-restart"), binaries=server.data / "milvus" / "bin"
    )
    try:
        server.start(timeout=60, wait=False)
        dimension = request.getfixturevalue("embedder").dimension  # loaded while it starts
        server.wait_ready(timeout=60)
        own.start(timeout=60, wait=False)

        def make(name: str) -> None:
            MilvusWriter(f"{server.url}/{name}", None, dimension, 1).close()

        with ThreadPoolExecutor(len(INDEX_NAMES)) as pool:
            made = [pool.submit(make, name) for name in INDEX_NAMES]
            # The FAISS indexes the tests compare with are built while the collections load.
            request.getfixturevalue("seed_index")
            request.getfixturevalue("dated_index")
            for done in made:
                done.result()
        yield server, own
    finally:
        own.stop(graceful=False)
        server.stop(graceful=False)


@pytest.fixture(scope="session")
def milvus(milvus_servers) -> MilvusServer:
    """The server every test but the restart test shares."""
    return milvus_servers[0]


class _Embedded:
    """The session's embedder, but each distinct batch of paragraphs is embedded only once (the
    same vectors it would compute again: the batch is the same, to the last paragraph)."""

    def __init__(self, embedder: Embedder):
        self._embedder = embedder
        self._done: dict[tuple, list] = {}

    def __getattr__(self, name: str):
        return getattr(self._embedder, name)

    def encode_paragraphs(self, paragraphs: Sequence, *, batch_size: int = 64, progress=None):
        key = (batch_size, tuple((p.text, p.sentences, p.windows) for p in paragraphs))
        if key not in self._done:
            vectors = self._embedder.encode_paragraphs(
                paragraphs, batch_size=batch_size, progress=progress
            )
            self._done[key] = vectors
        elif progress is not None:
            progress(len(paragraphs))
        return self._done[key]


@pytest.fixture(scope="module")
def model(embedder) -> _Embedded:
    return _Embedded(embedder)


@pytest.fixture(scope="module")
def milvus_sample(milvus, tmp_path_factory, model) -> Path:
    """An index of the sample article with its vectors in Milvus; tests must not modify it."""
    index_dir = tmp_path_factory.mktemp("milvus-sample") / "index"
    index_sources(_config(index_dir, milvus, "sample"), [str(SAMPLE)], embedder=model)
    return index_dir


def _config(index_dir: Path, server: MilvusServer, name: str, **values) -> Config:
    return Config(index_dir=index_dir, store=f"{server.url}/{name}", **values)


def _rows(server: MilvusServer, collection: str, where: str = "pk >= 0") -> int:
    """All rows of a collection that match, whatever generation they belong to (Strong read)."""
    client = MilvusClient(uri=f"http://127.0.0.1:{server.port}", timeout=10)
    try:
        found = client.query(
            collection, filter=where, output_fields=["count(*)"], consistency_level="Strong"
        )
        return int(found[0]["count(*)"])
    finally:
        client.close()


def _lighthouse(tmp_path: Path) -> Path:
    article = tmp_path / "quenby.txt"
    article.write_text(LIGHTHOUSE_ARTICLE, encoding="utf-8")
    return article


def _answers_of(index_dir: Path, embedder, questions, *, unpin=False, **values) -> list[dict]:
    """The answers of a pipeline opened for them; with unpin, its generation is let go at once
    (collected: half a second with the model loaded, so only where the next commits' deletions
    are counted), else whenever the garbage collector runs next."""
    pipeline = Pipeline(Config(index_dir=index_dir, **values), embedder=embedder)
    found = [pipeline.ask(q).to_dict() for q in questions]
    del pipeline
    if unpin:
        gc.collect()  # its generation is unpinned now, so the next commits may let it go
    return found


def test_the_sample_gets_the_same_answers_as_with_faiss(milvus_sample, seed_index, model):
    """Over the sample article, the pinned answers (extractive, a refusal, a follow-up, LLM answers
    checked sentence by sentence) come out the same from Milvus as from FAISS."""
    faiss_answers = answers(Pipeline(Config(index_dir=seed_index, as_of=AS_OF), embedder=model))
    found = answers(Pipeline(Config(index_dir=milvus_sample, as_of=AS_OF), embedder=model))
    assert found == faiss_answers
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))
    assert differences(comparable(found), comparable(pinned)) == []


def test_the_manifest_and_rag_info_say_where_the_vectors_are(milvus, milvus_sample, capsys):
    generation = current_generation(milvus_sample)
    vectors = Manifest.from_file(generation / "manifest.json").vectors
    assert vectors["store"] == f"{milvus.url}/sample"
    assert vectors["collections"] == {
        "paragraphs": "sample_paragraphs",
        "sentences": "sample_sentences",
    }
    assert vectors["generation"] == int(generation.name[4:]) == vectors["since"]
    assert vectors["paragraphs"]["index"] == "hnsw" and vectors["paragraphs"]["metric"] == "IP"
    assert not list(generation.glob("*.faiss"))  # the folder keeps no vectors of its own

    assert main(["info", "--index", str(milvus_sample)]) == 0
    shown = capsys.readouterr().out
    assert f"{milvus.url}/sample" in shown and "HNSW" in shown


def test_dated_questions_and_windows_get_the_same_answers(milvus, dated_index, model, tmp_path):
    """Publication windows and as-of days filter the Milvus search by day as FAISS does."""
    index_dir = tmp_path / "milvus-index"
    index_sources(_config(index_dir, milvus, "dated"), [str(DATED)], embedder=model)
    settings = [
        {},
        {"as_of": dt.date(2021, 7, 21)},
        {"as_of": dt.date(2021, 7, 30)},
        {"since": dt.date(2021, 7, 25)},
        {"until": dt.date(2021, 7, 20)},
        {"since": dt.date(2021, 7, 21), "until": dt.date(2021, 7, 21)},
    ]
    questions = [FLOOD_QUESTION, "Who designed the lighthouse?"]
    for values in settings:
        expected = _answers_of(dated_index, model, questions, **values)
        assert _answers_of(index_dir, model, questions, **values) == expected, values


def test_a_squad_slice_gets_the_same_figures_and_answers(milvus, model, tmp_path):
    """rag eval over a Milvus-backed index: two SQuAD articles, their first 20
    questions (40 more cost half a minute and take no other path): the same metrics and answers."""
    data = json.loads(squad_path().read_text(encoding="utf-8"))["data"]
    chosen = [e for e in data if e["title"] in ("Amazon_rainforest", "Jacksonville,_Florida")]
    assert len(chosen) == 2
    slice_path = tmp_path / "squad-slice.json"
    slice_path.write_text(json.dumps({"data": chosen}), encoding="utf-8")
    results = {}
    for store in ("faiss", f"{milvus.url}/squad"):
        config = Config(index_dir=tmp_path / store.split("/")[-1] / "index", store=store)
        results[store] = evaluate(config, slice_path, limit=20, progress=False, embedder=model)
    # Everything but the clock: recall, MRR, answers found, abstentions, thresholds.
    faiss_result, milvus_result = (
        {key: value for key, value in result.items() if key not in TIMINGS}
        for result in results.values()
    )
    assert milvus_result == faiss_result and "recall@1" in faiss_result
    questions = [qa["question"] for qa in chosen[0]["paragraphs"][0]["qas"][:3]]
    answered = [
        _answers_of(tmp_path / name / "index", model, questions) for name in ("faiss", "squad")
    ]
    assert answered[0] == answered[1]


def test_adding_and_removing_articles(milvus, seed_copy, model, tmp_path):
    """Incremental indexing: an added article is found, a removed one is gone, each generation
    counts its own rows, and rows no kept generation sees are deleted from the collections."""
    index_dir = tmp_path / "milvus-index"
    config = _config(index_dir, milvus, "updates")
    index_sources(config, [str(SAMPLE)], embedder=model)
    article = _lighthouse(tmp_path)
    # The same changes to a FAISS copy give the answers to compare with.
    faiss_config = Config(index_dir=seed_copy)
    for target in (config, faiss_config):
        assert index_sources(target, [str(article)], embedder=model).added
    both = [ENVOY, LIGHTHOUSE]
    added = _answers_of(index_dir, model, both, as_of=AS_OF, unpin=True)
    assert added == _answers_of(seed_copy, model, both, as_of=AS_OF, unpin=True)
    assert "Marta Olsen" in added[1]["answer"]

    for target in (config, faiss_config):
        assert remove_articles(target, [SAMPLE_SOURCE], model=model.name)
    removed = _answers_of(index_dir, model, both, as_of=AS_OF, unpin=True)
    assert removed == _answers_of(seed_copy, model, both, as_of=AS_OF, unpin=True)
    assert "Khalilzad" not in removed[0]["answer"]
    manifest = Index.open(index_dir).manifest
    assert (manifest.articles, manifest.paragraphs) == (1, 2)

    # The sample's rows stay while the generation before the removal is kept; one more commit
    # lets it go, and with it the rows only it could see.
    assert _rows(milvus, "updates_paragraphs") == 25 + 2
    index_sources(config, [str(SAMPLE)], embedder=model)
    remove_articles(config, [SAMPLE_SOURCE], model=model.name)
    assert _rows(milvus, "updates_paragraphs") == 25 + 2  # the re-added copy, still kept
    index_sources(config, [str(article)], embedder=model)  # unchanged: no new generation
    index_sources(config, [str(SAMPLE)], embedder=model)
    assert _rows(milvus, "updates_paragraphs") == 25 + 2
    assert Index.open(index_dir).manifest.paragraphs == 27


def test_a_writer_that_fails_leaves_the_previous_generation(milvus, model, tmp_path):
    """An error inside the writer after its rows reached Milvus (saved, never made live): the
    previous generation answers as before, and the next writer takes those rows back."""
    index_dir = tmp_path / "milvus-index"
    config = _config(index_dir, milvus, "failing")
    index_sources(config, [str(SAMPLE)], embedder=model)
    before = _answers_of(index_dir, model, [ENVOY, LIGHTHOUSE], as_of=AS_OF)
    generation = current_generation(index_dir)

    with (
        pytest.raises(RuntimeError, match="the disk caught fire"),
        Writer(index_dir, model=model.name, dimension=model.dimension, ranker="any") as writer,
    ):
        writer.remove([SAMPLE_SOURCE])
        lighthouse = model.encode_queries([LIGHTHOUSE_ARTICLE])
        writer.vectors.add("paragraphs", np.array([7]), lighthouse, 9, 0)
        writer.vectors.save(writer.work)  # everything sent to Milvus, then the crash
        raise RuntimeError("the disk caught fire")

    assert current_generation(index_dir) == generation
    assert _rows(milvus, "failing_paragraphs", "removed != 0") == 25  # the marks are still there
    assert _answers_of(index_dir, model, [ENVOY, LIGHTHOUSE], as_of=AS_OF) == before
    index = Index.open(index_dir)
    assert index.vector_store.count("paragraphs") == index.manifest.paragraphs == 25

    assert index_sources(config, [str(_lighthouse(tmp_path))], embedder=model).added
    after = _answers_of(index_dir, model, [ENVOY, LIGHTHOUSE], as_of=AS_OF)
    # (Another article changes the keyword statistics, so the envoy's scores move a little.)
    assert after[0]["answer"] == before[0]["answer"] and "Marta Olsen" in after[1]["answer"]
    assert _rows(milvus, "failing_paragraphs", "removed != 0") == 0
    assert _rows(milvus, "failing_paragraphs", "id == 7") == 0


def test_a_killed_writer_leaves_the_previous_generation(milvus, model, tmp_path):
    """A writer process killed (SIGKILL) after marking an article's rows removed: the previous
    generation still answers with its counts, and the next writer succeeds."""
    index_dir = tmp_path / "milvus-index"
    config = _config(index_dir, milvus, "killed")
    index_sources(config, [str(SAMPLE)], embedder=model)
    before = _answers_of(index_dir, model, [ENVOY], as_of=AS_OF)
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from rag.store import Writer
        writer = Writer(Path({str(index_dir)!r}), model={model.name!r},
                        dimension={model.dimension}, ranker="any")
        writer.remove([{SAMPLE_SOURCE!r}])
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=120)
    assert done.returncode == -signal.SIGKILL
    assert _rows(milvus, "killed_paragraphs", "removed != 0") == 25

    assert _answers_of(index_dir, model, [ENVOY], as_of=AS_OF) == before
    assert Index.open(index_dir).vector_store.count("sentences") == 38
    assert index_sources(config, [str(_lighthouse(tmp_path))], embedder=model).added
    after = _answers_of(index_dir, model, [ENVOY], as_of=AS_OF)
    assert after[0]["answer"] == before[0]["answer"]
    assert Index.open(index_dir).manifest.paragraphs == 27


def test_an_open_index_keeps_answering_its_generation(milvus, model, tmp_path):
    """An Index opened on generation G searches and looks up G's vectors after G+1 and G+2
    have removed them and been committed."""
    index_dir = tmp_path / "milvus-index"
    config = _config(index_dir, milvus, "held")
    index_sources(config, [str(SAMPLE)], embedder=model)
    held = Index.open(index_dir)
    query = model.encode_queries([ENVOY])[0]
    hits = held.search(query, 5)
    ids = [i for i, _ in hits]
    vectors = held.vectors("paragraphs", ids)

    index_sources(config, [str(_lighthouse(tmp_path))], embedder=model)
    remove_articles(config, [SAMPLE_SOURCE], model=model.name)
    assert current_generation(index_dir) != held.generation
    newest = Index.open(index_dir)
    assert newest.manifest.paragraphs == 2
    assert not set(ids) & {i for i, _ in newest.search(query, 5)}

    assert held.search(query, 5) == hits
    assert np.array_equal(held.vectors("paragraphs", ids), vectors)
    assert held.vector_store.count("paragraphs") == 25


def test_readers_during_writes_see_the_old_or_the_new_index(milvus, model, tmp_path):
    """Questions asked while an article is added and removed get the answers of the index before
    or after each change: never a mix, never an error."""
    index_dir = tmp_path / "milvus-index"
    config = _config(index_dir, milvus, "busy", as_of=AS_OF)
    index_sources(config, [str(SAMPLE)], embedder=model)
    pipeline = Pipeline(config, embedder=model)
    before = pipeline.ask(LIGHTHOUSE).to_dict()
    seen: list[dict] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        reader = Pipeline(config, embedder=model)
        while not stop.is_set():
            try:
                seen.append(reader.ask(LIGHTHOUSE).to_dict())
            except BaseException as error:  # the finding itself: kept for the assert
                errors.append(error)
                return

    threads = [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        article = _lighthouse(tmp_path)
        index_sources(config, [str(article)], embedder=model)
        after = Pipeline(config, embedder=model).ask(LIGHTHOUSE).to_dict()
        remove_articles(config, [str(article.resolve())], model=model.name)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    assert not errors, f"a reader failed: {errors[0]!r}"
    assert "Marta Olsen" in after["answer"] and "Marta Olsen" not in before["answer"]
    assert seen and all(answer in (before, after) for answer in seen)


def test_two_reader_processes_at_once(milvus, milvus_sample, tmp_path):
    """Two processes search and look up the same Milvus-backed index at the same time and get
    what this process gets."""
    index = Index.open(milvus_sample)
    ids = [int(i) for i in index.keywords.paragraph_ids]
    queries = index.vectors("paragraphs", ids) + 0.05
    np.save(tmp_path / "queries.npy", queries.astype(np.float32))
    window = Allowed(DayRange(None, None, True), np.ones(len(ids), bool), np.array(ids))
    expected = [[[i, round(s, 5)] for i, s in index.search(q, 7, window)] for q in queries]
    script = textwrap.dedent(
        f"""
        import json, sys
        import numpy as np
        from rag.store import Index
        from rag.store.vectors import Allowed, DayRange
        index = Index.open({str(milvus_sample)!r})
        ids = [int(i) for i in index.keywords.paragraph_ids]
        window = Allowed(DayRange(None, None, True), np.ones(len(ids), bool), np.array(ids))
        found = []
        for _ in range(5):
            for query in np.load({str(tmp_path / "queries.npy")!r}):
                hits = index.search(query, 7, window)
                index.vectors("sentences", [s for p in index.passages([h[0] for h in hits]).values()
                                            for s in p.sentence_ids])
                found.append([[i, round(s, 5)] for i, s in hits])
        json.dump(found, sys.stdout)
        """
    )
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    for reader in readers:
        out, _ = reader.communicate(timeout=300)
        assert reader.returncode == 0
        assert json.loads(out) == expected * 5


def test_a_store_other_than_the_index_s_needs_rebuild(milvus, milvus_sample, model, tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(milvus_sample, copy)
    for store in ("faiss", f"{milvus.url}/other"):
        with pytest.raises(IndexFormatError) as refused:
            index_sources(Config(index_dir=copy, store=store), [str(SAMPLE)], embedder=model)
        assert str(refused.value) == (
            f"{copy} keeps its vectors in {milvus.url}/sample, not {store}; add --rebuild to "
            f"move them, or drop --store to keep {milvus.url}/sample."
        )
    # --rebuild moves the vectors back to FAISS files.
    index_sources(
        Config(index_dir=copy, store="faiss"), [str(SAMPLE)], rebuild=True, embedder=model
    )
    assert Index.open(copy).manifest.vectors["store"] == "faiss"
    with pytest.raises(ConfigError, match="milvus://HOST:PORT"):
        from_env({"RAG_STORE": "milvus://nowhere"})


def test_milvus_collections_are_checked(milvus, model, tmp_path):
    """A missing collection, a collection of another dimension, or rows that do not match the
    manifest's counts are each a one-sentence error with what to do."""
    index_dir = tmp_path / "milvus-index"
    config = _config(index_dir, milvus, "checked")
    index_sources(config, [str(SAMPLE)], embedder=model)
    with pytest.raises(IndexFormatError) as other_size:
        MilvusWriter(f"{milvus.url}/checked", None, 8, 99)
    assert str(other_size.value) == (
        f"The Milvus collection checked_paragraphs at {milvus.url}/checked holds 384-d vectors "
        f"but this index needs 8-d; give the index another name "
        f"(--store {milvus.url}/OTHER)."
    )

    client = MilvusClient(uri=f"http://127.0.0.1:{milvus.port}", timeout=10)
    try:
        client.delete("checked_sentences", filter="id > 0")
        assert _rows(milvus, "checked_sentences") == 0  # a Strong read: the delete has landed
        with pytest.raises(IndexFormatError) as uncounted:
            Index.open(index_dir)
        assert "holds 0 sentences of generation 1 but the manifest says 38" in str(uncounted.value)
        assert str(uncounted.value).endswith(f"--index {index_dir} --rebuild")
        client.drop_collection("checked_paragraphs")
    finally:
        client.close()
    with pytest.raises(IndexFormatError) as missing:
        Index.open(index_dir)
    assert str(missing.value).startswith(
        f"The Milvus collection checked_paragraphs at {milvus.url} is missing; rebuild with: "
    )


def test_server_down_then_restarted(milvus_servers, tmp_path_factory, model, capsys):
    """A server of its own: while it is down (stopped cleanly), `rag ask`, indexing and a pipeline
    opened before say so in one sentence; after a restart from the clean stop, and again after a
    kill, the index answers as before, and after the second a writer adds to it."""
    server = milvus_servers[1]
    server.wait_ready(timeout=60)
    try:
        index_dir = tmp_path_factory.mktemp("restart") / "index"
        config = _config(index_dir, server, "restart", as_of=AS_OF)
        index_sources(config, [str(SAMPLE)], embedder=model)
        before = _answers_of(index_dir, model, [ENVOY], as_of=AS_OF)
        serving = Pipeline(Config(index_dir=index_dir, as_of=AS_OF), embedder=model)

        # Stopped cleanly first: a fresh server exits in about 3 s; a restarted one often uses all
        # the 10 s allowed before it is killed.
        server.stop(graceful=True)
        down = (
            f"The Milvus server at 127.0.0.1:{server.port} cannot be reached; start it (or "
            "check the address given with --store) and try again."
        )
        assert main(["ask", ENVOY, "--index", str(index_dir)]) == 1
        assert capsys.readouterr().err == f"error: {down}\n"
        with pytest.raises(VectorStoreError) as refused:
            index_sources(config, [str(SAMPLE)], embedder=model)
        assert str(refused.value) == down
        with pytest.raises(VectorStoreError) as gone:  # opened before the server went away
            serving.ask(ENVOY)
        assert str(gone.value) == down
        del serving

        server.start(timeout=60)  # after the clean stop
        assert _answers_of(index_dir, model, [ENVOY], as_of=AS_OF) == before
        server.stop(graceful=False)
        server.start(timeout=60)  # after a kill
        assert _answers_of(index_dir, model, [ENVOY], as_of=AS_OF) == before
        assert index_sources(
            config, [str(_lighthouse(tmp_path_factory.mktemp("l")))], embedder=model
        ).added
        assert (
            _answers_of(index_dir, model, [ENVOY], as_of=AS_OF)[0]["answer"]
            == (before[0]["answer"])
        )
    finally:
        server.stop(graceful=False)
