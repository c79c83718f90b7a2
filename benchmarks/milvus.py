"""The Milvus store beside FAISS on the same articles: search latency, recall, answer latency and
throughput.

Indexes a corpus (SQuAD v1.1 dev by default: 2,067 paragraphs) twice, once with its vectors in
FAISS files and once in Milvus collections (each reused while unchanged), then for the same
questions prints, for each store:

- search: the paragraph search alone (a question's vector → its 10 nearest), p50/p95;
- recall@10 of that search against exact search (numpy over the stored vectors);
- answer: `Pipeline.ask`, the whole cited answer, p50/p95;
- throughput: 20 threads asking at once (as many as benchmarks/load.py's sessions).

    python benchmarks/milvus.py [--store milvus://HOST:PORT/NAME] [--questions 300]

Without --store it starts a Milvus 2.3 standalone server of its own (the `milvus` wheel, run as
the tests run it: in a network namespace with only loopback, so as root) and stops it at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rag.config import Config
from rag.embed import load_embedder
from rag.pipeline import Pipeline, index_sources

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def percentiles(seconds: list[float]) -> str:
    """p50 and p95 in milliseconds."""
    ms = np.array(seconds) * 1000
    return f"p50 {np.percentile(ms, 50):7.2f} ms   p95 {np.percentile(ms, 95):7.2f} ms"


@contextlib.contextmanager
def milvus_store(store: str | None) -> Iterator[str]:
    """The given store, or one on a server started here for the run."""
    if store is not None:
        yield store
        return
    sys.path.insert(0, str(ROOT))
    from tests.milvus_server import MilvusServer

    with tempfile.TemporaryDirectory(prefix="bench-milvus-") as data:
        server = MilvusServer(Path(data))
        server.start(timeout=120)
        try:
            yield f"{server.url}/bench"
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="a running server's milvus://HOST:PORT/NAME")
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--index", type=Path, default=Path("index/bench-milvus"))
    parser.add_argument("--data", type=Path, default=DATA / "squad" / "dev-v1.1.json")
    args = parser.parse_args()

    embedder = load_embedder("all-MiniLM-L6-v2", True)
    questions = [
        qa["question"]
        for article in json.loads(args.data.read_text())["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ][: args.questions]
    queries = embedder.encode_queries(questions)
    with milvus_store(args.store) as store:
        pipelines = {}
        for name, where in (("faiss", "faiss"), ("milvus", store)):
            config = Config(index_dir=args.index / name, store=where)
            started = time.perf_counter()
            # A store of its own each: a Milvus index left by an earlier run on another server
            # is rebuilt rather than refused.
            rebuild = name == "milvus" and args.store is None
            index_sources(config, [str(args.data)], embedder=embedder, rebuild=rebuild)
            print(f"{name:6} index built or reused in {time.perf_counter() - started:.1f} s")
            pipelines[name] = Pipeline(Config(index_dir=args.index / name), embedder=embedder)
        measure(pipelines, questions, queries, args.threads)


def measure(pipelines: dict, questions: list[str], queries: np.ndarray, threads: int) -> None:
    exact_index = pipelines["faiss"].index
    ids = np.asarray(exact_index.keywords.paragraph_ids)
    matrix = exact_index.vectors("paragraphs", ids)
    exact = [set(ids[np.argsort(-(matrix @ q))[:10]].tolist()) for q in queries]
    print(f"{len(ids)} paragraphs, {len(questions)} questions\n")
    for name, pipeline in pipelines.items():
        index = pipeline.index
        for query in queries[:20]:  # warm-up
            index.search(query, 10)
        searches, found = [], []
        for query in queries:
            started = time.perf_counter()
            hits = index.search(query, 10)
            searches.append(time.perf_counter() - started)
            found.append({i for i, _ in hits})
        recall = np.mean([len(f & e) / len(e) for f, e in zip(found, exact, strict=True)])
        for question in questions[:10]:
            pipeline.ask(question)
        answers = []
        for question in questions:
            started = time.perf_counter()
            pipeline.ask(question)
            answers.append(time.perf_counter() - started)
        rate = throughput(pipeline, questions, threads)
        print(f"{name}")
        print(f"  search (top 10)   {percentiles(searches)}   recall@10 vs exact {recall:.4f}")
        print(f"  answer            {percentiles(answers)}")
        print(f"  {threads} threads at once  {rate:.1f} questions/s\n")


def throughput(pipeline: Pipeline, questions: list[str], threads: int) -> float:
    """Questions answered per second with `threads` asking at once, each its share in turn."""
    gate = threading.Barrier(threads + 1)

    def ask(share: list[str]) -> None:
        gate.wait()
        for question in share:
            pipeline.ask(question)

    workers = [threading.Thread(target=ask, args=(questions[n::threads],)) for n in range(threads)]
    for worker in workers:
        worker.start()
    gate.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    return len(questions) / (time.perf_counter() - started)


if __name__ == "__main__":
    main()
