"""Indexing throughput against raw model.encode on the same texts, and re-index time.

Prints, for the SQuAD v1.1 dev paragraphs (2,067): paragraphs/s of `rag index` (parse, chunk,
embed, write) beside `model.encode` on the same paragraph texts, their ratio, and the time to
re-index the unchanged corpus beside the first build. On a shared machine the speed of both drifts
by more than the gap between them, so the two are measured in alternating rounds (--rounds) and
each side's fastest round is compared; every round's figures are printed too.

`model.encode` truncates a paragraph longer than the model's window, where `rag index` embeds all
of it in windows; --windows also times `model.encode` on the very windows `rag index` embeds,
which shows how much of the gap is that text.

    python benchmarks/indexing.py [--squad ../shared/data/squad/dev-v1.1.json] [--rounds 3]
        [--windows]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from rag.chunk import chunk_article
from rag.config import Config
from rag.embed import load_embedder
from rag.ingest import Article, read_sources
from rag.pipeline import index_sources

DEFAULT_SQUAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad" / "dev-v1.1.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of each side")
    parser.add_argument(
        "--windows", action="store_true", help="also time model.encode on rag index's windows"
    )
    args = parser.parse_args()

    embedder = load_embedder("all-MiniLM-L6-v2", True)
    texts = [
        b.text for a in read_sources([str(args.squad)]) if isinstance(a, Article) for b in a.blocks
    ]
    embedder.model.encode(texts[:64])  # warm-up: first calls pay for lazy initialisation
    n = len(texts)
    precision = "bf16" if embedder.bf16 else "fp32"

    def raw(bf16: bool, inputs: list[str] = texts) -> float:
        started = time.perf_counter()
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            embedder.model.encode(inputs, batch_size=64, normalize_embeddings=True)
        return time.perf_counter() - started

    print(f"corpus: {args.squad.name}, {n} paragraphs, torch threads {torch.get_num_threads()}")
    raws, builds, reindexes = [], [], []
    for round_ in range(1, args.rounds + 1):
        raws.append(raw(embedder.bf16))
        with tempfile.TemporaryDirectory() as tmp:
            config = Config(index_dir=Path(tmp) / "index")
            started = time.perf_counter()
            first = index_sources(config, [str(args.squad)], embedder=embedder)
            builds.append(time.perf_counter() - started)
            started = time.perf_counter()
            again = index_sources(config, [str(args.squad)], embedder=embedder)
            reindexes.append(time.perf_counter() - started)
        assert again.paragraphs == 0, "re-indexing an unchanged corpus embedded paragraphs"
        print(
            f"round {round_}: model.encode ({precision}) {n / raws[-1]:.1f} paragraphs/s "
            f"({raws[-1]:.1f} s), rag index {n / builds[-1]:.1f} paragraphs/s "
            f"({builds[-1]:.1f} s, {first.paragraphs} paragraphs embedded), "
            f"ratio {raws[-1] / builds[-1]:.2f}",
            flush=True,
        )
    raw_best, build_best, reindex = min(raws), min(builds), min(reindexes)
    print(f"model.encode ({precision}):   {n / raw_best:8.1f} paragraphs/s  ({raw_best:.1f} s)")
    if embedder.bf16:
        raw_fp32 = raw(False)
        print(f"model.encode (fp32):   {n / raw_fp32:8.1f} paragraphs/s  ({raw_fp32:.1f} s)")
    if args.windows:
        windows = [
            p.text[w.start : w.end]
            for a in read_sources([str(args.squad)])
            if isinstance(a, Article)
            for p in chunk_article(
                a, embedder.token_spans, embedder.window_tokens, embedder.token_counts
            )
            for w in p.windows
        ]
        on_windows = raw(embedder.bf16, windows)
        print(
            f"model.encode ({precision}) on rag index's {len(windows)} windows: "
            f"{n / on_windows:8.1f} paragraphs/s  ({on_windows:.1f} s)"
        )
    print(f"rag index (first):     {n / build_best:8.1f} paragraphs/s  ({build_best:.1f} s)")
    print(f"ratio index / encode ({precision}), fastest rounds: {raw_best / build_best:.2f}")
    print(
        f"re-index unchanged:    {reindex:.2f} s, {build_best / reindex:.0f}x faster than the "
        "first build (target >= 50x)"
    )


if __name__ == "__main__":
    main()
