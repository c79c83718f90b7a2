"""Libraries of one article, the way most people start: each SQuAD article of a fixed half indexed
alone, asked (up to --per) of its own questions and as many questions of the half's other
articles. Its own answerable questions should be answered; the others' questions, and its own
unanswerable ones (SQuAD v2.0), refused. Prints the answerability AUROC and, at the default
threshold, the share answered and refused, over all the libraries together.

    python benchmarks/one_article.py [--squad ../shared/data/squad/dev-v1.1.json] [--half check]
        [--per 30] [--index index/bench-one-article]

An article's index is kept under --index (one folder per article) and reused while unchanged.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rag.config import DEFAULT_MODEL, Config
from rag.embed import load_embedder
from rag.evaluate import auroc, load_dataset
from rag.pipeline import Pipeline, index_sources

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
    parser.add_argument("--index", type=Path, default=Path("index/bench-one-article"))
    args = parser.parse_args()

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
    print(f"  AUROC {auroc(scores, answerable):.3f}; at the default threshold {threshold:.3f}:")
    print(f"  own answerable questions answered: {np.mean(scores[answerable] >= threshold):.3f}")
    for kind, label in (("other", "other articles'"), ("own-unanswerable", "own unanswerable")):
        chosen = kinds == kind
        if chosen.any():
            refused = np.mean(scores[chosen] < threshold)
            print(f"  {label} questions refused: {refused:.3f} of {int(chosen.sum())}")
            only = chosen | answerable
            print(f"  AUROC against {label} alone: {auroc(scores[only], answerable[only]):.3f}")


if __name__ == "__main__":
    main()
