"""The index under stress: readers during writes, a full disk, and damaged files found late."""

from __future__ import annotations

import contextlib
import gc
import json
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from rag.config import Config
from rag.errors import IndexFormatError, IndexWriteError
from rag.pipeline import Pipeline, index_sources, remove_articles
from rag.store import Index, current_generation, vectors
from tests.conftest import ROOT

ENVOY = "Who is the US special envoy for Afghanistan?"
LIGHTHOUSE = "Who designed the lighthouse at Quenby harbour?"
LIGHTHOUSE_ARTICLE = (
    "Quenby harbour report\n\n"
    "The new lighthouse at Quenby harbour was designed by the engineer Marta Olsen. It was "
    "switched on in March after two years of building.\n\n"
    "The harbour board paid 4 million euros for the lighthouse and its keeper's cottage.\n"
)


def _state(pipeline: Pipeline) -> tuple[frozenset[str], dict[str, dict]]:
    """What one reader sees: one generation's article set, and the answers to both questions."""
    index = pipeline.index
    sources = frozenset(a.source for a in index.articles())
    assert index.manifest.articles == len(sources)  # one generation: its manifest and its rows
    return sources, {q: pipeline.ask(q).to_dict() for q in (ENVOY, LIGHTHOUSE)}


def test_readers_during_writes_see_the_old_or_the_new_index(seed_copy, embedder, tmp_path):
    """Questions asked while articles are added and removed get exactly the answers of the index
    before or of the index after a change: never a mix, never an error."""
    config = Config(index_dir=seed_copy)
    article = tmp_path / "quenby.txt"
    article.write_text(LIGHTHOUSE_ARTICLE, encoding="utf-8")
    before = _state(Pipeline(config, embedder=embedder))

    seen: list[tuple[frozenset[str], dict]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        pipeline = Pipeline(config, embedder=embedder)
        while not stop.is_set():
            try:
                seen.append(_state(pipeline))
            except BaseException as error:  # any failure is the finding: keep it for the assert
                errors.append(error)
                return

    def wait_for(count: int, sources: frozenset[str]) -> None:
        deadline = time.monotonic() + 120
        start = len(seen)
        while sum(s == sources for s, _ in seen[start:]) < count and not errors:
            assert time.monotonic() < deadline, "the readers stopped reading"
            time.sleep(0.01)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        wait_for(3, before[0])
        after = None
        for _ in range(2):
            added = index_sources(config, [str(article)], embedder=embedder)
            assert len(added.added) == 1
            after = after or _state(Pipeline(config, embedder=embedder))
            wait_for(3, after[0])
            assert remove_articles(config, added.added, model=embedder.name) == added.added
            wait_for(3, before[0])
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=120)
    assert not errors, f"a reader failed: {errors[0]!r}"

    assert after[0] == before[0] | {str(article.resolve())}
    assert "Marta Olsen" in after[1][LIGHTHOUSE]["answer"]
    assert "Marta Olsen" not in before[1][LIGHTHOUSE]["answer"]
    # Each observation (an article list, an answer) comes whole from one index or the other;
    # consecutive ones may straddle a commit.
    states = Counter()
    for sources, answers in seen:
        states[
            "sources "
            + ("before" if sources == before[0] else "after" if sources == after[0] else "mixed")
        ] += 1
        for question, answer in answers.items():
            old, new = before[1][question], after[1][question]
            states[
                "answer " + ("before" if answer == old else "after" if answer == new else "mixed")
            ] += 1
    assert set(states) == {"sources before", "sources after", "answer before", "answer after"}, (
        states
    )


def test_a_reader_keeps_its_generation_while_newer_ones_replace_it(seed_copy, embedder, tmp_path):
    """An open index stays readable however many generations replace it meanwhile; once it is
    closed, the next writer deletes it."""
    config = Config(index_dir=seed_copy)
    held = Index.open(seed_copy)
    generation = held.generation
    articles = held.articles()
    for i in range(3):
        note = tmp_path / f"note-{i}.txt"
        note.write_text(f"Harbour note {i}\n\nThe ferry to island {i} leaves at dawn.\n")
        index_sources(config, [str(note)], embedder=embedder)
    assert current_generation(seed_copy) != generation and generation.is_dir()
    assert held.articles() == articles
    paragraph = held.article_paragraphs(articles[0].id)[0]
    assert held.passages([paragraph.id])[paragraph.id].text == paragraph.text

    del held
    gc.collect()
    remove_articles(config, [str(tmp_path / "note-0.txt")], model=embedder.name)
    assert not generation.exists()
    assert len(list(seed_copy.glob("gen-*"))) == 2  # the live one and the one before it


# --- a full disk -------------------------------------------------------------------------------


def _new_articles(folder: Path, count: int = 40) -> Path:
    folder.mkdir(exist_ok=True)
    for i in range(count):
        (folder / f"report-{i:02d}.txt").write_text(
            f"Harbour report {i}\n\n"
            + "\n\n".join(
                f"Paragraph {j} of report {i}: the harbour of town {i} logged {i * j} ships. "
                f"Grain and timber made up most of the trade in season {j}."
                for j in range(4)
            )
        )
    return folder


# How a write past the size limit is reported: by the OS (EFBIG), or by SQLite in its words.
WRITE_FAILURES = ("File too large", "database or disk is full", "disk I/O error")


@contextlib.contextmanager
def _file_size_limit(limit: int):
    """Make any write past `limit` bytes fail with EFBIG in this process, as a full disk would."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def test_write_errors_at_every_stage_leave_the_old_index_answering(
    seed_index, seed_pipeline, embedder, tmp_path, monkeypatch
):
    """Writes that fail while copying the database, adding rows or writing the vector files each
    give one clear sentence naming the file; the previous index answers as before and nothing of
    the failed build is left. Run again with room, the same command completes."""
    folder = _new_articles(tmp_path / "new")
    reference = tmp_path / "reference"
    shutil.copytree(seed_index, reference)
    index_sources(Config(index_dir=reference), [str(folder)], embedder=embedder)
    built = current_generation(reference)
    sizes = {p.name: p.stat().st_size for p in built.iterdir()}
    old_sizes = {p.name: p.stat().st_size for p in current_generation(seed_index).iterdir()}
    # One limit below each file that grows, so each write in turn is the first to fail. The
    # database (with its token vectors) outgrows the vector files written after it, so their
    # limits are set only while they are written.
    limits = sorted({1024, old_sizes["index.sqlite"] + 4096, *(sizes[n] - 1 for n in sizes)})
    stages = [(n, None) for n in limits if n >= 1024]
    stages += [(sizes[n] - 1, n) for n in ("paragraphs.faiss", "sentences.faiss")]
    write_faiss = vectors.write_faiss
    before = seed_pipeline.ask(ENVOY).to_dict()
    failed_on = set()
    for limit, only in stages:
        index_dir = tmp_path / f"limit-{limit}-{only}"
        shutil.copytree(seed_index, index_dir)
        generation = current_generation(index_dir)

        def limited(index, path, limit=limit, only=only):
            with _file_size_limit(limit) if path.name == only else contextlib.nullcontext():
                write_faiss(index, path)

        monkeypatch.setattr(vectors, "write_faiss", limited)
        everywhere = _file_size_limit(limit) if only is None else contextlib.nullcontext()
        with pytest.raises(IndexWriteError) as error, everywhere:
            index_sources(Config(index_dir=index_dir), [str(folder)], embedder=embedder)
        monkeypatch.setattr(vectors, "write_faiss", write_faiss)
        message = str(error.value)
        assert "\n" not in message
        assert message.startswith(f"Could not write the index in {index_dir} (")
        assert any(f": {reason}); " in message for reason in WRITE_FAILURES), message
        assert "the previous index is unchanged" in message
        failed_on.add(message.split("(", 1)[1].split(":", 1)[0])
        assert current_generation(index_dir) == generation
        assert sorted(p.name for p in index_dir.iterdir()) == [".lock", "CURRENT", generation.name]
        pipeline = Pipeline(Config(index_dir=index_dir), embedder=embedder)
        assert pipeline.ask(ENVOY).to_dict() == before
    assert {"index.sqlite", "paragraphs.faiss", "sentences.faiss"} <= failed_on, failed_on

    index_sources(Config(index_dir=index_dir), [str(folder)], embedder=embedder)
    assert Index.open(index_dir).manifest.articles == 41


def test_rag_index_on_a_full_disk_prints_one_line_and_keeps_the_old_index(seed_copy, tmp_path):
    folder = _new_articles(tmp_path / "new")
    generation = current_generation(seed_copy)
    limit = (generation / "index.sqlite").stat().st_size + 4096

    def full_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", "index", str(folder), "--index", str(seed_copy)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        preexec_fn=full_disk,
        timeout=600,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert line.startswith(f"error: Could not write the index in {seed_copy} (")
    assert any(f"index.sqlite: {reason}); " in line for reason in WRITE_FAILURES), line
    assert current_generation(seed_copy) == generation
    assert not list(seed_copy.glob(".building-*"))
    assert Index.open(seed_copy).manifest.articles == 1


# --- damage found after the index was opened ---------------------------------------------------


def test_database_damaged_under_an_open_index_is_a_clear_error(seed_copy):
    index = Index.open(seed_copy)
    database = index.database
    database.write_bytes(b"not a database" * 100)
    with pytest.raises(IndexFormatError) as error:
        index.articles()
    message = str(error.value)
    assert message.startswith(f"{database} could not be read (")
    assert f"rebuild with: rag index {ROOT / 'data' / 'sample'}" in message
    assert "--rebuild" in message and "\n" not in message
    with pytest.raises(IndexFormatError, match=r"index\.sqlite is not a readable SQLite"):
        Index.open(seed_copy)
    assert not isinstance(error.value, sqlite3.Error)


def _edit_manifest(index_dir: Path, **changes) -> Path:
    path = current_generation(index_dir) / "manifest.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))
    return path


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"paragraphs": "25"}, "paragraphs is '25', not a count"),
        ({"articles": True}, "articles is True, not a count"),
        ({"sentences": -1}, "sentences is -1, not a count"),
        ({"model": ""}, "model is '', not a model name"),
        ({"dimension": 768}, "paragraphs.faiss holds 384-d vectors but the manifest says 768"),
        ({"articles": 2}, "holds 1 articles, 25 paragraphs"),
        ({"sentences": 5}, "38 sentences but the manifest says 1, 25 and 5"),
        ({"vectors": {"store": 3}}, "vectors is {'store': 3}, not a vector store description"),
        ({"vectors": {"store": "elastic"}}, "names an unknown vector store 'elastic'"),
    ],
)
def test_a_manifest_that_lies_is_refused_naming_the_file(seed_copy, changes, words):
    path = _edit_manifest(seed_copy, **changes)
    with pytest.raises(IndexFormatError) as error:
        Index.open(seed_copy)
    message = str(error.value)
    assert words in message
    assert str(path.parent) in message and "rebuild with: rag index" in message
    assert "\n" not in message


def test_a_manifest_naming_another_model_is_refused_naming_both(seed_copy):
    path = _edit_manifest(seed_copy, model="sentence-transformers/all-mpnet-base-v2")
    with pytest.raises(IndexFormatError) as error:
        Index.open(seed_copy, model="all-MiniLM-L6-v2")
    message = str(error.value)
    assert message.startswith(f"{path} says the index was built with model 'sentence-transformers")
    assert "but 'all-MiniLM-L6-v2' was requested" in message and "--rebuild" in message
