"""How often the citation verifier accepts a true claim and rejects one its paragraph lacks.

For SQuAD v1.1 dev questions, a claim is written the way a model answers: the question's words
followed by the gold answer ("Which NFL team represented the AFC at Super Bowl 50 Denver
Broncos."). Retrieval runs as in the app (k = 5). The claim, cited to the gold paragraph, should be
supported; cited among the retrieved paragraphs other than the gold one, it should not (some of
those do state the answer too: SQuAD articles repeat facts, so this rate is an upper bound on
false support). Prints both rates.

    python benchmarks/verifier.py [--squad ../shared/data/squad/dev-v1.1.json] [--questions 300]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from rag.config import Config
from rag.embed import load_embedder
from rag.pipeline import Pipeline, index_sources
from rag.verify import RECITED, SUPPORTED, Verifier

DEFAULT_SQUAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad" / "dev-v1.1.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--index", type=Path, default=Path("index") / "eval" / "dev-v1.1")
    args = parser.parse_args()

    embedder = load_embedder("all-MiniLM-L6-v2", True)
    config = Config(index_dir=args.index)
    index_sources(config, [str(args.squad)], embedder=embedder)  # reused when unchanged
    pipeline = Pipeline(config, embedder=embedder)
    verifier = Verifier(embedder.encode_queries)

    data = json.loads(args.squad.read_text(encoding="utf-8"))["data"]
    questions = [
        (qa["question"], qa["answers"][0]["text"], paragraph["context"].strip())
        for article in data
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]
    random.Random(1).shuffle(questions)
    supported = rejected = with_gold = with_others = 0
    for question, answer, context in questions[: args.questions]:
        claim = f"{question.rstrip('?')} {answer}."
        hits = pipeline.search(question, k=5)
        gold = [n for n, h in enumerate(hits, 1) if h.passage.text.strip() == context]
        others = [h for h in hits if h.passage.text.strip() != context]
        if gold:
            with_gold += 1
            verdict = verifier.check(f"{claim} [{gold[0]}]", hits).verdicts[0]
            supported += verdict.status == SUPPORTED
        if others:
            with_others += 1
            verdict = verifier.check(f"{claim} [1]", others).verdicts[0]
            rejected += verdict.status not in (SUPPORTED, RECITED)
    print(f"questions: {min(args.questions, len(questions))}")
    print(
        f"true claim cited to its paragraph, supported:   {supported / with_gold:.3f} "
        f"({supported}/{with_gold})"
    )
    print(
        f"claim checked against other paragraphs, rejected: {rejected / with_others:.3f} "
        f"({rejected}/{with_others})"
    )


if __name__ == "__main__":
    main()
