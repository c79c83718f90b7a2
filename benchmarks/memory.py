"""Memory of the app's process with a 100k-paragraph index, beside a 1k-paragraph baseline.

Builds (once; reused while unchanged) synthetic indexes through the index writer: articles of
ten paragraphs, three sentences each, words drawn from a 5,000-word vocabulary, and random unit
vectors for paragraphs and sentences (what embedding would give, without hours of embedding).
Then, in a fresh process per index, measures resident memory (RSS):

- after loading the model (what every index pays);
- after opening the index (`Pipeline`: vectors, BM25 matrices, ids);
- after answering 100 questions, and the peak over the whole run;
- the private part after answering: RSS less file pages (the index's vectors are memory-mapped,
  so the page cache holds them, shared between processes and reclaimable).

    python benchmarks/memory.py [--paragraphs 100000] [--baseline 1000] [--index index/bench-memory]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DIMENSION = 384
PER_ARTICLE = 10
SENTENCES = 3


def rss_mb(field: str = "VmRSS") -> float:
    """Resident memory of this process now, in MB: all of it (VmRSS), or only its private,
    anonymous memory (RssAnon), leaving out file pages such as memory-mapped vectors, which
    the page cache holds and shares."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def vocabulary(rng: np.random.Generator, size: int = 5000) -> list[str]:
    syllables = ["ka", "lo", "ri", "an", "te", "mu", "sel", "dor", "vi", "na", "qu", "ex", "ol"]
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables, size=rng.integers(2, 5))))
    return sorted(words)


def sentence(rng: np.random.Generator, words: list[str]) -> str:
    # Zipf-like word frequencies, as in real text: a few words common, most rare.
    picks = np.minimum(rng.zipf(1.3, size=rng.integers(8, 16)), len(words)) - 1
    text = " ".join(words[i] for i in picks)
    return text[:1].upper() + text[1:] + "."


def random_unit(rng: np.random.Generator, n: int) -> np.ndarray:
    """n random unit vectors."""
    vectors = rng.standard_normal((n, DIMENSION))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def build(
    index_dir: Path,
    paragraphs: int,
    seed: int = 0,
    draw: Callable[[np.random.Generator, int], np.ndarray] = random_unit,
) -> dict[str, float]:
    """Write a synthetic index of `paragraphs` paragraphs through the real index writer, with
    vectors from draw (n unit vectors: paragraphs first, then their sentences); returns the
    seconds spent adding articles and committing."""
    from rag.chunk import Paragraph
    from rag.config import DEFAULT_MODEL
    from rag.embed import ParagraphVectors
    from rag.ingest import Article, Block
    from rag.retrieve.answerable import model_versions
    from rag.store import Writer
    from rag.text import Span

    rng = np.random.default_rng(seed)
    words = vocabulary(rng)
    started = time.perf_counter()
    with Writer(
        index_dir, model=DEFAULT_MODEL, dimension=DIMENSION, ranker=model_versions(), rebuild=True
    ) as writer:
        for a in range(paragraphs // PER_ARTICLE):
            texts, spans = [], []
            for _ in range(PER_ARTICLE):
                parts = [sentence(rng, words) for _ in range(SENTENCES)]
                text = " ".join(parts)
                starts = np.cumsum([0] + [len(p) + 1 for p in parts[:-1]])
                texts.append(text)
                spans.append(
                    tuple(Span(int(s), int(s) + len(p)) for s, p in zip(starts, parts, strict=True))
                )
            article = Article(
                f"synthetic/{a:06d}.txt",
                f"Synthetic article {a}",
                tuple(Block(t, None) for t in texts),
            )
            records = [
                Paragraph(a * 100 + i + 1, a, i + 1, None, t, s, (Span(0, len(t)),))
                for i, (t, s) in enumerate(zip(texts, spans, strict=True))
            ]
            vectors = draw(rng, PER_ARTICLE * (1 + SENTENCES))
            writer.add(
                article,
                records,
                [
                    ParagraphVectors(vectors[i], vectors[PER_ARTICLE + i * SENTENCES :][:SENTENCES])
                    for i in range(PER_ARTICLE)
                ],
                a + 1,
            )
            if a and a % 10_000 == 0:
                print(f"  {a * PER_ARTICLE:,} paragraphs added", flush=True)
        added = time.perf_counter()
        writer.commit([f"synthetic:{paragraphs}:{seed}"])
    finished = time.perf_counter()
    print(f"built {paragraphs:,} paragraphs in {finished - started:.0f} s", flush=True)
    return {"add_s": added - started, "commit_s": finished - added}


def ensure(index_dir: Path, paragraphs: int) -> Path:
    from rag.errors import RagError
    from rag.store import Index

    try:
        if Index.open(index_dir).manifest.paragraphs == paragraphs:
            return index_dir
    except RagError:
        pass
    build(index_dir, paragraphs)
    return index_dir


def measure(index_dir: Path, questions: int) -> dict:
    """Run in a fresh process: RSS after the model, after opening the index, after answering."""
    from rag.config import DEFAULT_MODEL, Config
    from rag.embed import load_embedder
    from rag.pipeline import Pipeline

    embedder = load_embedder(DEFAULT_MODEL, True)
    embedder.encode_queries(["warm up the model"])
    model = rss_mb()
    started = time.perf_counter()
    pipeline = Pipeline(Config(index_dir=index_dir), embedder=embedder)
    opened = rss_mb()
    open_seconds = time.perf_counter() - started
    rng = np.random.default_rng(1)
    words = vocabulary(np.random.default_rng(0))
    asked = [f"What about {sentence(rng, words)}" for _ in range(questions)]
    latencies = []
    for question in asked:
        started = time.perf_counter()
        pipeline.ask(question)
        latencies.append(time.perf_counter() - started)
    manifest = pipeline.index.manifest
    return {
        "paragraphs": manifest.paragraphs,
        "sentences": manifest.sentences,
        "model_mb": model,
        "open_mb": opened,
        "answered_mb": rss_mb(),
        "private_mb": rss_mb("RssAnon"),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "open_s": open_seconds,
        "p50_ms": float(np.percentile(latencies, 50) * 1000),
        "disk_mb": sum(p.stat().st_size for p in pipeline.index.generation.iterdir()) / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paragraphs", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--index", type=Path, default=Path("index/bench-memory"))
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.questions)))
        return

    rows = []
    for paragraphs in (args.baseline, args.paragraphs):
        index_dir = ensure(args.index / f"{paragraphs}", paragraphs)
        child = subprocess.run(
            [sys.executable, __file__, "--measure", str(index_dir)]
            + ["--questions", str(args.questions)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))

    print(
        f"{'paragraphs':>10} {'sentences':>10} {'model':>8} {'+index':>8} {'answered':>9} "
        f"{'peak':>8} {'private':>8} {'vectors':>8} {'on disk':>8} {'open':>6} {'p50':>8}"
    )
    for row in rows:
        vectors = (row["paragraphs"] + row["sentences"]) * DIMENSION * 4 / 2**20
        print(
            f"{row['paragraphs']:>10,} {row['sentences']:>10,} {row['model_mb']:>6.0f}MB "
            f"{row['open_mb'] - row['model_mb']:>6.0f}MB {row['answered_mb']:>7.0f}MB "
            f"{row['peak_mb']:>6.0f}MB {row['private_mb']:>6.0f}MB {vectors:>6.0f}MB "
            f"{row['disk_mb']:>6.0f}MB "
            f"{row['open_s']:>5.1f}s {row['p50_ms']:>6.1f}ms"
        )
    small, large = rows
    per = (large["open_mb"] - small["open_mb"]) / (large["paragraphs"] - small["paragraphs"])
    raw = (large["sentences"] / large["paragraphs"] + 1) * DIMENSION * 4 / 2**10
    print(
        f"index memory per paragraph: {per * 1024:.2f} KB (float32 vectors alone: {raw:.2f} KB); "
        f"peak RSS {large['peak_mb'] / small['peak_mb']:.2f}x, private memory "
        f"{large['private_mb'] / small['private_mb']:.2f}x the "
        f"{small['paragraphs']:,}-paragraph baseline"
    )


if __name__ == "__main__":
    main()
