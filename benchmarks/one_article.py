"""Libraries of one article, the way most people start: each SQuAD article of a fixed half indexed
alone, asked (up to --per) of its own questions and as many questions of the half's other
articles. Its own answerable questions should be answered; the others' questions, and its own
unanswerable ones (SQuAD v2.0), refused. Prints the answerability AUROC and, at the default
threshold, the share answered and refused, over all the libraries together.

With --news FOLDER, libraries of one week of news instead: for each quiz day of the news set's
half (but its last), the stories published in the seven days up to it, asked as of that day its
own quiz's questions and the next quiz's. A question is answerable when its story is in the
library; the next week's questions mostly are not.

    python benchmarks/one_article.py [--squad ../shared/data/squad/dev-v1.1.json] [--half check]
        [--per 30] [--index index/bench-one-article]
    python benchmarks/one_article.py --news ../shared/data/news/realtimeqa-cnn-2020-2022

A library's index is kept under --index (one folder per library) and reused while unchanged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rag.config import DEFAULT_MODEL, Config
from rag.embed import load_embedder
from rag.evaluate import auroc, load_dataset
from rag.pipeline import Pipeline, index_sources
from rag.retrieve.recency import When

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SEED = 0


def article_of(question) -> str:
    """The article key of a SQuAD question's gold paragraph ("<source>#<title>")."""
    return next(iter(question.relevance)).split("¶")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=DATA / "squad" / "dev-v1.1.json")
    parser.add_argument("--half", choices=("fit", "check"), default="check")
    parser.add_argument("--per", type=int, default=30, help="own questions asked per article")
    parser.add_argument("--news", type=Path, help="a dated BEIR folder: libraries of one week")
    parser.add_argument("--index", type=Path, default=Path("index/bench-one-article"))
    args = parser.parse_args()
    if args.news:
        weeks(args.news, args.half, args.index)
        return

    dataset = load_dataset(args.squad)
    embedder = load_embedder(DEFAULT_MODEL, True)
    questions = [q for q in dataset.questions if q.part == args.half]
    articles = sorted({article_of(q) for q in questions})
    rng = np.random.default_rng(SEED)
    scores, answerable, kinds = [], [], []
    threshold = None
    for number, article in enumerate(tqdm(articles, desc="articles", unit="article")):
        folder = args.index / f"{dataset.name}-{args.half}" / f"article-{number}"
        corpus, _ = dataset.subset(lambda key, a=article: key.startswith(f"{a}¶"), folder)
        config = Config(index_dir=folder / "index")
        index_sources(config, [str(corpus)], embedder=embedder)
        pipeline = Pipeline(config, embedder=embedder)
        threshold = pipeline.threshold
        own = [q for q in questions if article_of(q) == article]
        others = [q for q in questions if article_of(q) != article and q.answerable]
        own = [own[i] for i in sorted(rng.permutation(len(own))[: args.per])]
        others = [others[i] for i in sorted(rng.permutation(len(others))[: len(own)])]
        for question, kind in [(q, "own") for q in own] + [(q, "other") for q in others]:
            answer = pipeline.ask(question.text)
            scores.append(answer.confidence)
            answerable.append(kind == "own" and question.answerable)
            kinds.append(kind if question.answerable or kind == "other" else "own-unanswerable")

    scores, answerable, kinds = np.array(scores), np.array(answerable), np.array(kinds)
    print(
        f"{dataset.name} {args.half} half: {len(articles)} one-article libraries, "
        f"{len(scores)} questions ({int(answerable.sum())} answerable)"
    )
    report(scores, answerable, threshold)
    for kind, label in (("other", "other articles'"), ("own-unanswerable", "own unanswerable")):
        chosen = kinds == kind
        if chosen.any():
            refused = np.mean(scores[chosen] < threshold)
            print(f"  {label} questions refused: {refused:.3f} of {int(chosen.sum())}")
            only = chosen | answerable
            print(f"  AUROC against {label} alone: {auroc(scores[only], answerable[only]):.3f}")


def weeks(folder: Path, half: str, root: Path) -> None:
    """Libraries of one week of news (see the module's docstring)."""
    dataset = load_dataset(folder)
    embedder = load_embedder(DEFAULT_MODEL, True)
    published = {}
    for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            published[str(record["_id"])] = dt.date.fromisoformat(record["published"][:10])
    source = dataset.inputs[0]
    questions = [q for q in dataset.questions if q.part == half and q.date is not None]
    days = sorted({q.date for q in questions})
    scores, answerable = [], []
    threshold = None
    for day, following in tqdm(list(zip(days, days[1:], strict=False)), desc="weeks", unit="week"):
        week = {key for key, when in published.items() if day - dt.timedelta(days=7) < when <= day}
        corpus, _ = dataset.subset(
            lambda key, w=week: key.removeprefix(f"{source}#") in w, root / f"{folder.name}-{day}"
        )
        config = Config(index_dir=root / f"{folder.name}-{day}" / "index")
        index_sources(config, [str(corpus)], embedder=embedder)
        pipeline = Pipeline(config, embedder=embedder)
        threshold = pipeline.threshold
        for question in [q for q in questions if q.date in (day, following)]:
            answer = pipeline.ask(question.text, when=When(day))
            scores.append(answer.confidence)
            held = {key.removeprefix(f"{source}#") for key in question.relevance}
            answerable.append(bool(held & week))
    scores, answerable = np.array(scores), np.array(answerable)
    print(
        f"{dataset.name} {half} half: {len(days) - 1} one-week libraries, {len(scores)} "
        f"questions ({int(answerable.sum())} answerable), asked as of the library's day"
    )
    report(scores, answerable, threshold)
    print(f"  other weeks' questions refused: {np.mean(scores[~answerable] < threshold):.3f}")


def report(scores: np.ndarray, answerable: np.ndarray, threshold: float) -> None:
    """The AUROC over all the libraries' questions, and the share of the answerable answered."""
    print(f"  AUROC {auroc(scores, answerable):.3f}; at the default threshold {threshold:.3f}:")
    print(f"  own answerable questions answered: {np.mean(scores[answerable] >= threshold):.3f}")


if __name__ == "__main__":
    main()
