"""Putting the best paragraphs in order of their best sentence (rag.sentences.reorder): recall@1,
recall@5, MRR@10 and nDCG@10 of the retriever's own order and of the reordered one at each weight
of the retrieval score and at each weight of the paragraph's word-by-word match (the other weights
as shipped) and, on the news set asked as of its dates (the only set the prior moves), at each
weight of the prior, on the fixed fit and check halves of SQuAD v1.1, SciFact and the news set
(asked as of each question's date, and without dates).

The shipped score weight (REORDER_WEIGHT) and match weight (REORDER_MATCH) are the ones with the
best mean MRR@10 over the four fit halves, the shipped prior weight (REORDER_PRIOR) the one with
the best MRR@10 on the dated news fit half; the check halves say whether they hold. Each question
is searched once (as `rag eval` does, the best 20 paragraphs) and the best five are reordered at
every weight.

    python benchmarks/reorder.py [--limit N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rag import sentences
from rag.config import Config
from rag.embed import load_embedder
from rag.evaluate import DEPTH, asked_when, load_dataset, ndcg, recall, reciprocal_rank
from rag.pipeline import Pipeline, index_sources
from rag.retrieve import retrieve

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0)
PRIORS = (0.0, 0.5, 1.0, 2.0)
MATCHES = (0.0, 0.5, 1.0, 2.0, 4.0)
# (label, data, ask as of each question's date)
SETS = (
    ("SQuAD v1.1", "squad/dev-v1.1.json", True),
    ("SciFact", "scifact", True),
    ("news, as of its dates", "news/realtimeqa-cnn-2020-2022", True),
    ("news, no dates", "news/realtimeqa-cnn-2020-2022", False),
)


def measure(pipeline: Pipeline, dataset, questions, weights, dates: bool) -> dict:
    """{None (the retriever's order) or (score weight, prior weight, match weight): the means of
    (R@1, R@5, MRR@10, nDCG@10)}."""
    model = sentences.model()
    found_rows: dict = {None: [], **{w: [] for w in weights}}
    for q in tqdm(questions, unit="q", file=sys.stderr, mininterval=10.0):
        vector, tokens = pipeline.embedder.encode_question(q.text)
        when = asked_when(q, pipeline, dates)
        hits = retrieve(pipeline.index, q.text, vector, DEPTH, when=when, tokens=tokens)
        top = hits[: sentences.PARAGRAPHS]
        found, rows = sentences.candidates(q.text, top)
        best = np.full(len(top), -np.inf)
        if found:
            np.maximum.at(best, np.array([r for r, _, _ in found]), model.score(rows))
        scores = np.array([hit.score for hit in top])
        priors = np.array([hit.prior for hit in top])
        matches = sentences.paragraph_matches(top)
        orders = {None: list(range(len(top)))}
        for w, p, m in weights:
            key = best + w * scores - p * priors + m * matches
            orders[(w, p, m)] = list(np.argsort(-key, kind="stable"))
        for w, order in orders.items():
            ranked = [top[i] for i in order] + hits[sentences.PARAGRAPHS :]
            units = list(dict.fromkeys(dataset.unit(hit) for hit in ranked))
            found_rows[w].append(
                (
                    recall(q.relevance, units, 1),
                    recall(q.relevance, units, 5),
                    reciprocal_rank(q.relevance, units, 10),
                    ndcg(q.relevance, units, 10),
                )
            )
    return {w: np.mean(v, axis=0) for w, v in found_rows.items()}


def arguments(description: str) -> argparse.Namespace:
    """--data, --index-root and --limit, as the reorder benchmarks read them."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--index-root", type=Path, default=Path("index") / "eval")
    parser.add_argument("--limit", type=int, help="questions per half")
    return parser.parse_args()


def eval_pipeline(index_root: Path, dataset, embedder) -> Pipeline:
    """A pipeline over the dataset's index in the folder rag eval uses (built once, reused while
    the corpus is unchanged)."""
    config = Config(index_dir=index_root / dataset.name)
    index_sources(config, dataset.inputs, embedder=embedder)
    return Pipeline(config, embedder=embedder)


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    shipped = (sentences.REORDER_WEIGHT, sentences.REORDER_PRIOR, sentences.REORDER_MATCH)
    embedder = load_embedder("all-MiniLM-L6-v2", True)
    # Each grid moves one weight, the others as shipped: (position in the key, its values).
    grids = {"score": (0, WEIGHTS), "match": (2, MATCHES), "prior": (1, PRIORS)}
    fit_mrr: dict = {(name, v): [] for name, (_, values) in grids.items() for v in values}
    print("| half | set | order | R@1 | R@5 | MRR@10 | nDCG@10 |\n|---|---|---|---|---|---|---|")
    for label, name, dates in SETS:
        dataset = load_dataset(args.data / name)
        pipeline = eval_pipeline(args.index_root, dataset, embedder)
        prior = dates and name.startswith("news")
        keyed = {
            (grid, v): _moved(shipped, at, v)
            for grid, (at, values) in grids.items()
            if grid != "prior" or prior
            for v in values
        }
        for half in ("fit", "check"):
            questions = [q for q in dataset.questions if q.part == half and q.answerable]
            result = measure(
                pipeline, dataset, questions[: args.limit], sorted(set(keyed.values())), dates
            )
            for key, (r1, r5, mrr, nd) in result.items():
                order = "retriever"
                if key is not None:
                    order = "reordered, score {:g}, prior {:g}, match {:g}".format(*key)
                print(
                    f"| {half} | {label} | {order} | {r1:.3f} | {r5:.3f} | {mrr:.3f} | {nd:.3f} |",
                    flush=True,
                )
            if half == "fit":
                for grid_value, key in keyed.items():
                    fit_mrr[grid_value].append(result[key][2])
    for grid, (at, values) in grids.items():
        means = {v: float(np.mean(fit_mrr[(grid, v)])) for v in values}
        where = "on the dated news fit half" if grid == "prior" else "over the fit halves"
        print(
            f"mean MRR@10 {where} by {grid} weight: "
            + ", ".join(f"{v:g}: {m:.4f}" for v, m in means.items())
            + f"; best {max(means, key=means.get):g} (shipped {shipped[at]:g})"
        )


def _moved(shipped: tuple[float, ...], at: int, value: float) -> tuple[float, ...]:
    """The shipped weights with the one at `at` set to value."""
    return tuple(value if i == at else w for i, w in enumerate(shipped))


if __name__ == "__main__":
    main()
