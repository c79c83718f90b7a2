"""A learned ranker tried beside the shipped one: LightGBM's LambdaRank over the twelve candidate
features of rag/retrieve/features.py, with and without eight more read from each candidate's text
(README "Retrieval"). Fitted on the fixed fit halves of SQuAD v1.1 dev, SciFact and the news set
(each dataset weighted equally), measured on their check halves, which nothing was fitted on.

The trees reorder the 40 best candidates of the shipped ranker; the news questions are asked as
of their dates (publication filter only: the recency prior, fitted on the shipped ranker's scale,
is left out of both sides, so its figures are lower than `rag eval`'s). Needs LightGBM
(pip install '.[fit]'); reuses the eval indexes (`rag eval` builds them).

    python benchmarks/ranker_trees.py [--limit N] [--leaves 15] [--trees 200]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

from rag.answertype import OTHER, REASON, asked_type
from rag.config import DEFAULT_MODEL, Config
from rag.embed import load_embedder
from rag.evaluate import load_dataset
from rag.pipeline import Pipeline, index_sources
from rag.retrieve import Hit, candidates, ranker
from rag.retrieve.recency import When

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = ("squad/dev-v1.1.json", "scifact", "news/realtimeqa-cnn-2020-2022")
TOP = 40
EXTRAS = (
    "bigrams",  # share of the question's word pairs found in the paragraph
    "sentence_bigrams",  # ... in its best sentence (by cosine)
    "second_sentence",  # the second-best sentence cosine
    "window",  # the best cosine of two adjacent sentences together
    "sentences",  # log(1 + number of sentences)
    "typed",  # the paragraph holds a thing of the asked-for kind the question does not name
    "typed_best",  # ... in its best sentence
    "asks_type",  # the question asks for a clear kind of thing
)
_WORD = re.compile(r"[a-z0-9]+")
_GLUE = frozenset(
    (
        "what which who whom whose when where why how did does do is was were are the a an of in to"
    ).split()
)


def _pairs(words: list[str]) -> set[tuple[str, str]]:
    return set(zip(words, words[1:], strict=False))


def extras(index, q: np.ndarray, question: str, ids: list[int]) -> np.ndarray:
    """One row of EXTRAS per candidate paragraph id."""
    asked_pairs = {p for p in _pairs(_WORD.findall(question.lower())) if not set(p) <= _GLUE}
    kind = asked_type(question)
    lowered = question.lower()
    passages = index.passages(ids)
    rows = []
    for pid in ids:
        p = passages[pid]
        vectors = index.vectors("sentences", list(p.sentence_ids))
        cosines = vectors @ q if len(vectors) else np.zeros(1, dtype=np.float32)
        ordered = np.sort(cosines)[::-1]
        window = float(ordered[0])
        if len(vectors) > 1:
            sums = vectors[:-1] + vectors[1:]
            window = float(np.max((sums @ q) / np.linalg.norm(sums, axis=1)))
        best = int(np.argmax(cosines))
        share = sentence_share = 0.0
        if asked_pairs:
            share = len(asked_pairs & _pairs(_WORD.findall(p.text.lower()))) / len(asked_pairs)
            if p.sentences:
                s = p.sentences[best]
                words = _WORD.findall(p.text[s.start : s.end].lower())
                sentence_share = len(asked_pairs & _pairs(words)) / len(asked_pairs)
        typed = typed_best = 0.0
        if kind == REASON:
            typed = float(
                bool(re.search(r"\b(because|due to|since|so that|in order to)\b", p.text))
            )
        elif kind != OTHER:
            for e in p.entities:
                if e.type == kind and p.text[e.start : e.end].lower() not in lowered:
                    typed = 1.0
                    s = p.sentences[best] if p.sentences else None
                    if s is not None and s.start <= e.start < s.end:
                        typed_best = 1.0
        rows.append(
            [
                share,
                sentence_share,
                float(ordered[1] if len(ordered) > 1 else ordered[0]),
                window,
                np.log1p(len(p.sentences)),
                typed,
                typed_best,
                float(kind != OTHER),
            ]
        )
    return np.array(rows, dtype=np.float32)


def collect(data: Path, limit: int | None) -> dict[str, list[dict]]:
    """Per dataset, each answerable question's 40 best candidates: features, judged units."""
    embedder = load_embedder(DEFAULT_MODEL, True)
    found = {}
    for name in SETS:
        dataset = load_dataset(data / name)
        config = Config(index_dir=Path("index/eval") / dataset.name)
        index_sources(config, dataset.inputs, embedder=embedder)
        index = Pipeline(config, embedder=embedder).index
        ids = index.keywords.paragraph_ids.tolist()
        units = {
            pid: dataset.unit(Hit(p, 0.0, 0.0, ()))
            for pid, p in index.passages(ids, tokens=False).items()
        }
        questions = [q for q in dataset.questions if q.answerable][:limit]
        texts = list(dict.fromkeys(q.text for q in questions))
        vectors = {}
        for start in range(0, len(texts), 256):
            batch = texts[start : start + 256]
            vectors.update(zip(batch, embedder.encode_queries(batch), strict=True))
        rows, started = [], time.perf_counter()
        for q in questions:
            when = When(q.date) if q.date is not None else None
            ranked, features = candidates(index, q.text, vectors[q.text], when)
            ranked, features = ranked[:TOP], features[:TOP]
            more = extras(index, vectors[q.text], q.text, ranked)
            rows.append(
                {
                    "part": q.part,
                    "units": [units[pid] for pid in ranked],
                    "relevance": q.relevance,
                    "features": np.hstack([features, more]),
                }
            )
        seconds = time.perf_counter() - started
        print(f"{dataset.name}: {len(rows)} questions, {seconds:.0f} s", file=sys.stderr)
        found[dataset.name] = rows
    return found


def measures(rows: list[dict], scores: list[np.ndarray]) -> str:
    """R@1, MRR@10 and nDCG@10 of the judged units, each candidate list ordered by its scores."""
    first, reciprocal, gains = [], [], []
    for row, score in zip(rows, scores, strict=True):
        order = np.argsort(-score, kind="stable")
        units = list(dict.fromkeys(row["units"][i] for i in order))
        relevance = row["relevance"]
        first.append(float(bool(units) and units[0] in relevance))
        hits = [i for i, u in enumerate(units[:10]) if u in relevance]
        reciprocal.append(1.0 / (hits[0] + 1) if hits else 0.0)
        dcg = sum(relevance.get(u, 0) / np.log2(i + 2) for i, u in enumerate(units[:10]))
        best = sorted(relevance.values(), reverse=True)[:10]
        ideal = sum(g / np.log2(i + 2) for i, g in enumerate(best))
        gains.append(dcg / ideal if ideal else 0.0)
    return (
        f"R@1 {np.mean(first):.3f}  MRR@10 {np.mean(reciprocal):.3f}  nDCG@10 {np.mean(gains):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="at most N questions per dataset")
    parser.add_argument("--leaves", type=int, default=15)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    import lightgbm

    found = collect(args.data, args.limit)
    width = len(ranker().features)
    shipped = ranker()
    print(f"{'':42} check half (fit half in brackets)")
    for label, columns in (
        ("shipped ranker", None),
        ("trees, 12 features", width),
        ("trees, 20 features", None),
    ):
        if label == "shipped ranker":
            score = lambda row: shipped.score(row["features"][:, :width])  # noqa: E731
        else:
            use = slice(0, columns)
            x, y, group, weight = [], [], [], []
            for rows in found.values():
                fit = [r for r in rows if r["part"] == "fit"]
                for r in fit:
                    gold = np.array([u in r["relevance"] for u in r["units"]], dtype=float)
                    if gold.any() and not gold.all():
                        x.append(r["features"][:, use])
                        y.append(gold)
                        group.append(len(gold))
                        weight.append(np.full(len(gold), 1.0 / len(fit)))
            weights = np.concatenate(weight)
            model = lightgbm.LGBMRanker(
                n_estimators=args.trees,
                num_leaves=args.leaves,
                learning_rate=0.05,
                min_child_samples=50,
                subsample=0.8,
                subsample_freq=1,
                colsample_bytree=0.8,
                random_state=0,
                verbose=-1,
            )
            model.fit(
                np.vstack(x), np.concatenate(y), group=group, sample_weight=weights / weights.mean()
            )
            score = lambda row, m=model, u=use: m.predict(row["features"][:, u])  # noqa: E731
        print(label)
        for name, rows in found.items():
            parts = {p: [r for r in rows if r["part"] == p] for p in ("check", "fit")}
            check, fit = (
                measures(parts[p], [score(r) for r in parts[p]]) for p in ("check", "fit")
            )
            print(f"  {name:40} {check}   [{fit}]")


if __name__ == "__main__":
    main()
