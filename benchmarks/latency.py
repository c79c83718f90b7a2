"""Latency of the full cited-answer path beside its floor, over an index of 10k+ paragraphs.

Builds (once; reused while unchanged) an index of SQuAD v1.1 + v2.0 dev and the SciFact corpus,
then asks SQuAD questions one at a time and prints p50/p95 of:

- floor: query embedding + FAISS search alone;
- full: `Pipeline.ask` — embedding, hybrid retrieval with sentence rescoring, the cited answer.

    python benchmarks/latency.py [--questions 1000] [--index index/bench-latency]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from rag.config import Config
from rag.embed import load_embedder
from rag.pipeline import Pipeline, index_sources

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def percentiles(seconds: list[float]) -> str:
    """p50 and p95 in milliseconds."""
    ms = np.array(seconds) * 1000
    return f"p50 {np.percentile(ms, 50):6.2f} ms   p95 {np.percentile(ms, 95):6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--index", type=Path, default=Path("index/bench-latency"))
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()

    squad = args.data / "squad" / "dev-v1.1.json"
    sources = [
        str(squad),
        str(args.data / "squad" / "dev-v2.0.json"),
        str(args.data / "scifact" / "corpus.jsonl"),
    ]
    embedder = load_embedder("all-MiniLM-L6-v2", True)
    config = Config(index_dir=args.index)
    index_sources(config, sources, embedder=embedder)
    pipeline = Pipeline(config, embedder=embedder)
    index = pipeline.index
    questions = [
        qa["question"]
        for article in json.loads(squad.read_text())["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]
    questions = questions[: args.questions]
    for question in questions[:20]:  # warm-up
        pipeline.ask(question)

    floor, full = [], []
    # Interleaved, so both see the same machine load.
    for question in questions:
        started = time.perf_counter()
        vector = embedder.encode_queries([question])[0]
        index.search(vector, config.k)
        floor.append(time.perf_counter() - started)
        started = time.perf_counter()
        pipeline.ask(question)
        full.append(time.perf_counter() - started)

    print(
        f"index: {index.manifest.paragraphs} paragraphs, {index.manifest.sentences} sentences, "
        f"{index.manifest.articles} articles; {len(questions)} questions, one at a time"
    )
    print(f"floor (embed + FAISS):     {percentiles(floor)}")
    print(f"full cited answer (ask):   {percentiles(full)}")
    print(
        f"ratio full / floor at p50: {np.percentile(full, 50) / np.percentile(floor, 50):.2f} "
        "(target <= 2)"
    )
    print(f"full answers per second:   {len(full) / sum(full):.1f}")


if __name__ == "__main__":
    main()
