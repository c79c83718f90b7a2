"""How often the citation verifier accepts a true claim and rejects one its paragraph lacks.

For SQuAD v1.1 dev questions, a claim is written the way a model answers: the question's words
followed by the gold answer ("Which NFL team represented the AFC at Super Bowl 50 Denver
Broncos."). Retrieval runs as in the app (k = 5). The claim, cited to the gold paragraph, should be
supported; cited among the retrieved paragraphs other than the gold one, it should not (some of
those do state the answer too: SQuAD articles repeat facts, so this rate is an upper bound on
false support). Prints both rates.

Negation: sentences of those gold paragraphs, checked as claims cited to their paragraph, should be
supported; the same sentences with "not" put after their first auxiliary verb ("was" → "was not"),
or with their "not" taken out, should not be. Prints the three rates.

    python benchmarks/verifier.py [--squad ../shared/data/squad/dev-v1.1.json] [--questions 300]
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np

from rag.answer import Status
from rag.config import Config
from rag.embed import load_embedder
from rag.pipeline import Pipeline, index_sources
from rag.retrieve import Hit
from rag.verify import Verifier

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
    verifier = Verifier(remembering(embedder.encode_queries))

    data = json.loads(args.squad.read_text(encoding="utf-8"))["data"]
    questions = [
        (qa["question"], qa["answers"][0]["text"], paragraph["context"].strip())
        for article in data
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]
    random.Random(1).shuffle(questions)
    supported = rejected = with_gold = with_others = 0
    golds = []  # (hits, the gold paragraph's number) for the negation rates
    for question, answer, context in questions[: args.questions]:
        claim = f"{question.rstrip('?')} {answer}."
        hits = pipeline.search(question, k=5)
        gold = [n for n, h in enumerate(hits, 1) if h.passage.text.strip() == context]
        others = [h for h in hits if h.passage.text.strip() != context]
        if gold:
            with_gold += 1
            golds.append((hits, gold[0]))
            verdict = verifier.check(f"{claim} [{gold[0]}]", hits).verdicts[0]
            supported += verdict.status == Status.SUPPORTED
        if others:
            with_others += 1
            verdict = verifier.check(f"{claim} [1]", others).verdicts[0]
            rejected += verdict.status not in (Status.SUPPORTED, Status.RECITED)
    negation_rates(verifier, golds)
    print(f"questions: {min(args.questions, len(questions))}")
    print(
        f"true claim cited to its paragraph, supported:   {supported / with_gold:.3f} "
        f"({supported}/{with_gold})"
    )
    print(
        f"claim checked against other paragraphs, rejected: {rejected / with_others:.3f} "
        f"({rejected}/{with_others})"
    )


def remembering(encode):
    """encode, keeping each text's vector: the same passages are checked against many claims."""
    known: dict[str, np.ndarray] = {}

    def cached(texts: list[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in known]
        if new:
            known.update(zip(new, encode(new), strict=True))
        return np.stack([known[t] for t in texts])

    return cached


AUXILIARY = re.compile(r"\b(is|was|were|are|has|had|have|will|can|could|would|did|does|should)\b")
NOT = re.compile(r"\s+not\b")
NEGATED = re.compile(r"\b(?:not|no|never|nothing|none|nobody|neither|nor|without)\b|n[’']t\b")
# "not only", "if not", "or not" and the like: taking out "not" there flips nothing.
NOT_FLIPPING = re.compile(r"\bnot\s+(?:only|just|merely|simply)\b|\b(?:if|or)\s+not\b")
AS_WRITTEN, NEGATED_KIND, NOT_REMOVED = "as written", "negated", "not removed"


def negation_rates(verifier: Verifier, golds: list[tuple[list[Hit], int]]) -> None:
    """Check sentences of the gold paragraphs as they are, negated, and with "not" removed."""
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()

    def count(kind: str, claim: str, hits: list[Hit], gold: int, *, holds: bool) -> None:
        total[kind] += 1
        right[kind] += _holds(verifier, f"{claim} [{gold}].", hits) == holds

    for hits, gold in golds:
        passage = hits[gold - 1].passage
        for span in passage.sentences[:3]:
            sentence = passage.text[span.start : span.end].rstrip(".")
            if len(sentence.split()) < 6:
                continue
            count(AS_WRITTEN, sentence, hits, gold, holds=True)
            if NOT_FLIPPING.search(sentence):
                continue
            if NOT.search(sentence):
                count(NOT_REMOVED, NOT.sub("", sentence, 1), hits, gold, holds=False)
            elif AUXILIARY.search(sentence) and not NEGATED.search(sentence):
                count(NEGATED_KIND, AUXILIARY.sub(r"\1 not", sentence, 1), hits, gold, holds=False)
    for kind, label in [
        (AS_WRITTEN, "source sentence as written, supported:"),
        (NEGATED_KIND, "same sentence negated, rejected:"),
        (NOT_REMOVED, "same sentence with its 'not' removed, rejected:"),
    ]:
        print(f"{label:50} {right[kind] / max(total[kind], 1):.3f} ({right[kind]}/{total[kind]})")


def _holds(verifier: Verifier, claim: str, hits: list[Hit]) -> bool:
    return verifier.check(claim, hits).verdicts[0].status in (Status.SUPPORTED, Status.RECITED)


if __name__ == "__main__":
    main()
