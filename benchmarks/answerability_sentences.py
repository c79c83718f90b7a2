"""Whether the sentence model's view of the best sentences tells SQuAD v2.0's unanswerable
questions from its answerable ones, beside the eleven answerability features
(rag/retrieve/answerable.py).

Every SQuAD v2.0 dev question is asked as `rag eval` asks it. For each: the eleven features, and
eight read from the sentence model's candidates (rag.sentences.scored): the best sentence's score
and its gap to the next, that sentence's word-by-word match, term share, pair share, answer-type
fit and cosine, and the best paragraph match. Trees with the shipped settings (rag.fit.TREES; the
new columns unconstrained) are fitted on the fit half (by article) alone and scored on the check
half: AUROC of the eleven, of the eleven and the eight, and of each new column alone. The shipped
model (fitted on every dataset) is printed for comparison.

    python benchmarks/answerability_sentences.py [--limit N]   # N: questions of each half
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rag import sentences
from rag.config import Config
from rag.evaluate import DEPTH, asked_when, auroc, load_dataset
from rag.pipeline import Pipeline, index_sources
from rag.retrieve.answerable import answerability_features, model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad" / "dev-v2.0.json"
EXTRA = (
    "sentence score",
    "gap to the next",
    "match",
    "terms",
    "pairs",
    "type fit",
    "cosine",
    "best paragraph match",
)
_COLUMNS = ("match", "terms", "pairs", "type_fit", "cosine")


def extra_row(question: str, hits) -> list[float]:
    """The eight sentence-model columns for a question and its best paragraphs."""
    _, rows, scores = sentences.scored(question, hits)
    if not len(scores):
        return [0.0] * len(EXTRA)
    order = np.argsort(-scores, kind="stable")
    best = order[0]
    gap = scores[best] - scores[order[1]] if len(order) > 1 else 0.0
    column = sentences._COLUMN
    return [
        float(scores[best]),
        float(gap),
        *(float(rows[best, column[name]]) for name in _COLUMNS),
        float(rows[:, column["paragraph_match"]].max()),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--index", type=Path, default=Path("index/eval/dev-v2.0"))
    parser.add_argument("--limit", type=int, help="ask only the first N questions of each half")
    args = parser.parse_args()
    try:
        import lightgbm

        from rag.fit import TREES
    except ImportError:
        raise SystemExit("this benchmark needs LightGBM: pip install '.[fit]'") from None

    dataset = load_dataset(args.data)
    config = Config(index_dir=args.index)
    index_sources(config, dataset.inputs)  # reused when unchanged
    pipeline = Pipeline(config)
    questions = [
        q
        for part in ("fit", "check")
        for q in [q for q in dataset.questions if q.part == part][: args.limit]
    ]
    base, extra = [], []
    for q in tqdm(questions, desc="questions", unit="q", mininterval=1.0):
        when = asked_when(q, pipeline)
        hits = pipeline.search(q.text, k=max(DEPTH, pipeline.config.k), when=when)
        hits = hits[: pipeline.config.k]
        base.append(answerability_features(q.text, hits))
        extra.append(extra_row(q.text, hits))
    x0, x1 = np.array(base, dtype=np.float32), np.array(extra, dtype=np.float32)
    y = np.array([q.answerable for q in questions])
    fit = np.array([q.part == "fit" for q in questions])
    check = ~fit

    def trees_auroc(x: np.ndarray) -> float:
        settings = dict(TREES)
        known = list(settings["monotone_constraints"])
        settings["monotone_constraints"] = known + [0] * (x.shape[1] - len(known))
        fitted = lightgbm.LGBMClassifier(**settings).fit(x[fit], y[fit])
        return auroc(fitted.predict_proba(x[check])[:, 1], y[check])

    shipped = auroc(np.array([model().probability(row) for row in x0[check]]), y[check])
    print(f"check half: {check.sum()} questions, {y[check].sum()} answerable")
    for label, value in (
        ("shipped model (every dataset's fit half)", shipped),
        ("eleven features, trees on v2.0's fit half", trees_auroc(x0)),
        ("eleven + eight sentence-model columns", trees_auroc(np.hstack([x0, x1]))),
    ):
        print(f"{label:<45} AUROC {value:.3f}")
    for i, name in enumerate(EXTRA):
        print(f"  {name} alone: AUROC {auroc(x1[check, i], y[check]):.3f}")


if __name__ == "__main__":
    main()
