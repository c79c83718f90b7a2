"""A learned order of the best five paragraphs against the shipped key (rag.sentences.reorder):
recall@1 and MRR within the best five on the SQuAD v1.1 check half, for the retriever's order,
the shipped key, LambdaRank trees (LightGBM) fitted on the fit half, the same trees in 2-fold
cross-validation on the check half itself, and the best weights of the shipped key's form chosen
on the check half (an upper bound for that form, not a fair figure).

Each paragraph's row: retrieval score, its gap to the best, rank, the recency prior's penalty, the
best and second-best sentence-model scores among its sentences, the number of its sentences within
the model's margin of the best, and the ranker's twelve features.

    python benchmarks/reorder_learned.py [--limit N]     # pip install '.[fit]'
"""

from __future__ import annotations

import sys

import numpy as np
from reorder import arguments, eval_pipeline  # benchmarks/reorder.py, beside this script
from tqdm import tqdm

from rag import sentences
from rag.embed import load_embedder
from rag.evaluate import DEPTH, asked_when, load_dataset
from rag.pipeline import Pipeline
from rag.retrieve import retrieve

TREES = {
    "objective": "lambdarank",
    "n_estimators": 200,
    "num_leaves": 15,
    "learning_rate": 0.05,
    "min_child_samples": 50,
    "random_state": 0,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
SCORE, PRIOR, BEST = 0, 3, 4  # columns of a row used by the shipped key


def rows(pipeline: Pipeline, dataset, questions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every question's best five paragraphs as rows, whether each is gold, and the question."""
    model = sentences.model()
    table, gold, group = [], [], []
    for number, q in enumerate(tqdm(questions, unit="q", file=sys.stderr, mininterval=10.0)):
        vector, tokens = pipeline.embedder.encode_question(q.text)
        hits = retrieve(
            pipeline.index, q.text, vector, DEPTH, when=asked_when(q, pipeline), tokens=tokens
        )
        top = hits[: sentences.PARAGRAPHS]
        if not top:
            continue
        found, candidates = sentences.candidates(q.text, top)
        scores = model.score(candidates) if found else np.zeros(0)
        best = np.full(len(top), -10.0)
        second = np.full(len(top), -10.0)
        within = np.zeros(len(top))
        highest = scores.max() if len(scores) else 0.0
        for (rank, _, _), score in zip(found, scores, strict=True):
            second[rank] = max(second[rank], min(best[rank], score))
            best[rank] = max(best[rank], score)
            within[rank] += score >= highest - model.margin
        for rank, hit in enumerate(top):
            table.append(
                [hit.score, hit.score - top[0].score, rank, hit.prior, best[rank], second[rank]]
                + [within[rank], *hit.features]
            )
            gold.append(dataset.unit(hit) in q.relevance)
            group.append(number)
    return np.array(table), np.array(gold, dtype=float), np.array(group)


def measure(gold: np.ndarray, group: np.ndarray, key: np.ndarray) -> tuple[float, float]:
    """Recall@1 and MRR over the best five, each question's paragraphs in the order of key."""
    first, reciprocal = [], []
    for number in np.unique(group):
        chosen = group == number
        ordered = gold[chosen][np.argsort(-key[chosen], kind="stable")]
        hits = np.flatnonzero(ordered)
        first.append(ordered[0])
        reciprocal.append(1.0 / (hits[0] + 1) if len(hits) else 0.0)
    return float(np.mean(first)), float(np.mean(reciprocal))


def trees(table: np.ndarray, gold: np.ndarray, group: np.ndarray):
    import lightgbm

    _, sizes = np.unique(group, return_counts=True)
    return lightgbm.LGBMRanker(**TREES).fit(table, gold, group=sizes)


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    embedder = load_embedder("all-MiniLM-L6-v2", True)
    dataset = load_dataset(args.data / "squad" / "dev-v1.1.json")
    pipeline = eval_pipeline(args.index_root, dataset, embedder)
    halves = {}
    for half in ("fit", "check"):
        questions = [q for q in dataset.questions if q.part == half][: args.limit]
        halves[half] = rows(pipeline, dataset, questions)
    table, gold, group = halves["check"]
    shipped = (
        table[:, BEST]
        + sentences.REORDER_WEIGHT * table[:, SCORE]
        - sentences.REORDER_PRIOR * table[:, PRIOR]
    )
    results = {
        "retriever's order": measure(gold, group, -table[:, 2]),
        "shipped key": measure(gold, group, shipped),
        "LambdaRank fitted on the fit half": measure(
            gold, group, trees(*halves["fit"]).predict(table)
        ),
    }
    # Blocks of up to 200 questions, alternately in each fold (neighbours share articles).
    block = max(1, min(200, len(np.unique(group)) // 4))
    folds = (group // block) % 2
    crossed = np.zeros(len(gold))
    for fold in (0, 1):
        model = trees(table[folds != fold], gold[folds != fold], group[folds != fold])
        crossed[folds == fold] = model.predict(table[folds == fold])
    results["LambdaRank, 2-fold on the check half"] = measure(gold, group, crossed)
    bound = max(
        (measure(gold, group, table[:, BEST] + w * table[:, SCORE] - table[:, PRIOR]), w)
        for w in (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
    )
    results[f"shipped form, weight {bound[1]:g} chosen on the check half"] = bound[0]
    print("| order of the best five (SQuAD v1.1 check half) | R@1 | MRR within five |")
    print("|---|---|---|")
    for name, (first, reciprocal) in results.items():
        print(f"| {name} | {first:.4f} | {reciprocal:.4f} |")


if __name__ == "__main__":
    main()
