"""Whole answers over the sample article pinned as JSON (Answer.to_dict()): a change meant to
alter no output must leave tests/fixtures/pinned_answers.json as it is. Extractive answers, a
refusal, a follow-up, and LLM answers from a scripted reply (checked sentence by sentence).

To record the file again after a change that alters answers on purpose: python -m tests.test_pinned
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from rag.config import Config
from rag.followup import Turn
from rag.pipeline import Pipeline
from tests.conftest import ROOT

PINNED = ROOT / "tests" / "fixtures" / "pinned_answers.json"
PARAGRAPH_ID = "<the paragraph's id>"
# Fixed, so the recency prior does not move the scores as the calendar does.
AS_OF = dt.date(2026, 1, 1)
ENVOY = "Who is the US special envoy for Afghanistan?"
NEUMANN = "Who is Neumann?"
# What a chat model might write: a preamble, a sentence of the sources, one citing no passage,
# and one that no passage says.
REPLY = (
    "Here is what I found:\n"
    "Zalmay Khalilzad is the US special representative for Afghanistan [1]. "
    "He was born on the Moon in 1851 [0]. "
    "Neumann said the Taliban want full control of Afghanistan [2]."
)
NOT_FOUND = "I couldn’t find this in the indexed articles."


class Scripted:
    """Stands in for a chat server: every reply is the given text, streamed a few characters at
    a time (the HTTP client itself is tested against a real server in test_llm)."""

    def __init__(self, reply: str):
        self.reply = reply

    def stream(self, messages: Sequence[dict], *, max_tokens: int | None = None) -> Iterator[str]:
        for at in range(0, len(self.reply), 7):
            yield self.reply[at : at + 7]

    def complete(self, messages: Sequence[dict], *, max_tokens: int | None = None) -> str:
        return self.reply


def answers(pipeline: Pipeline) -> dict[str, dict]:
    """The pinned answers, as JSON data with the checkout's folder written as <root> and the
    paragraph ids, which depend on it, as PARAGRAPH_ID."""
    first = pipeline.ask(NEUMANN)
    found = {
        "envoy": pipeline.ask(ENVOY),
        "neumann": first,
        "off-topic": pipeline.ask("Who won the 2018 World Cup?"),
        "follow-up": pipeline.ask(
            "What did he say about sanctions?", history=[Turn.from_answer(first)]
        ),
        "llm": pipeline.ask(ENVOY, llm=Scripted(REPLY)),
        "llm-not-found": pipeline.ask(ENVOY, llm=Scripted(NOT_FOUND)),
    }
    text = json.dumps({name: a.to_dict() for name, a in found.items()}, ensure_ascii=False)
    data = json.loads(text.replace(json.dumps(str(ROOT))[1:-1], "<root>"))
    for answer in data.values():
        for citation in answer["citations"]:
            # A paragraph id hashes its article's source path, so it differs between checkouts.
            citation["paragraph_id"] = PARAGRAPH_ID
    return data


def same(found: object, pinned: object) -> bool:
    """Whether answer data matches the pinned data: equal, but for numbers, which may differ by
    1% (at least 0.01). The scores come from tree ensembles over float32 features, and another
    CPU or thread count sums those features in another order: a feature a hair from one tree's
    split then falls on its other side and moves a score by that leaf's value (1.5303 on one
    machine, 1.5361 on another). Text, order, offsets and the decision to answer stay exact."""
    if isinstance(found, dict) and isinstance(pinned, dict):
        return found.keys() == pinned.keys() and all(same(found[k], pinned[k]) for k in found)
    if isinstance(found, list) and isinstance(pinned, list):
        return len(found) == len(pinned) and all(map(same, found, pinned))
    if type(found) is not type(pinned):
        return False
    if isinstance(found, float):
        return abs(found - pinned) <= 0.01 * max(1.0, abs(pinned))
    return found == pinned


def differences(found: object, pinned: object, path: str = "") -> list[str]:
    """Where answer data differs from the pinned data, as paths with both values: what a failing
    test prints, so a difference on another machine can be read from its log alone."""
    if isinstance(found, dict) and isinstance(pinned, dict):
        keys = [k for k in pinned if k in found]
        missing = [
            f"{path}.{k}: only one side has it" for k in sorted(found.keys() ^ pinned.keys())
        ]
        return missing + [d for k in keys for d in differences(found[k], pinned[k], f"{path}.{k}")]
    if isinstance(found, list) and isinstance(pinned, list):
        if len(found) != len(pinned):
            return [f"{path}: {len(found)} items, pinned {len(pinned)}"]
        pairs = enumerate(zip(found, pinned, strict=True))
        return [d for i, (f, p) in pairs for d in differences(f, p, f"{path}[{i}]")]
    return [] if same(found, pinned) else [f"{path}: {found!r} (pinned {pinned!r})"]


def comparable(answers: dict[str, dict]) -> dict[str, dict]:
    """The answers as compared: a refusal's closest passages in reading order, unnumbered. The
    sentence model ranks them by how likely each is to answer, and for a question no passage
    answers those keys are near-ties (0.9406 and 0.9399 for the off-topic one) that another CPU's
    arithmetic may swap; which passages they are is still compared exactly."""
    found = {}
    for name, answer in answers.items():
        if answer.get("abstained"):
            cited = [{k: v for k, v in c.items() if k != "n"} for c in answer["citations"]]
            cited.sort(key=lambda c: (c["source"], c["paragraph_index"], c["sentence_start"]))
            answer = {**answer, "citations": cited}
        found[name] = answer
    return found


def test_answers_over_the_sample_article_are_as_pinned(seed_index, embedder):
    pipeline = Pipeline(Config(index_dir=seed_index, as_of=AS_OF), embedder=embedder)
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))
    found = answers(pipeline)
    assert list(found) == list(pinned)
    assert differences(comparable(found), comparable(pinned)) == []


def test_pinned_numbers_may_differ_only_by_a_percent():
    assert same({"score": 1.5303, "n": [1, "a"]}, {"score": 1.5361, "n": [1, "a"]})
    assert same({"confidence": 0.0123}, {"confidence": 0.0173})
    assert not same({"score": 1.5303}, {"score": 1.5503})
    assert not same({"score": 2.09, "n": 1}, {"score": 2.09})
    assert not same([1, 2], [1, 2, 3])
    assert not same({"abstained": True}, {"abstained": 1})
    assert differences({"a": [{"s": "x"}, {"s": 2.0}]}, {"a": [{"s": "y"}, {"s": 2.0}]}) == [
        ".a[0].s: 'x' (pinned 'y')"
    ]
    assert differences({"a": 1}, {"b": 1}) == [
        ".a: only one side has it",
        ".b: only one side has it",
    ]


def test_only_a_refusals_passages_may_come_in_another_order():
    def answer(abstained: bool, *paragraphs: int) -> dict:
        cited = [
            {"n": n, "source": "a.txt", "paragraph_index": p, "sentence_start": 0}
            for n, p in enumerate(paragraphs, start=1)
        ]
        return {"abstained": abstained, "citations": cited}

    assert (
        differences(
            comparable({"q": answer(True, 2, 21, 4)}), comparable({"q": answer(True, 2, 4, 21)})
        )
        == []
    )
    assert differences(
        comparable({"q": answer(True, 2, 21)}), comparable({"q": answer(True, 2, 4)})
    )
    assert differences(
        comparable({"q": answer(False, 2, 21)}), comparable({"q": answer(False, 21, 2)})
    )


if __name__ == "__main__":
    from rag.embed import load_embedder
    from rag.pipeline import index_sources
    from tests.conftest import SAMPLE

    model = load_embedder("all-MiniLM-L6-v2", True)
    with tempfile.TemporaryDirectory() as folder:
        index_dir = Path(folder) / "index"
        index_sources(Config(index_dir=index_dir), [str(SAMPLE)], embedder=model)
        pipeline = Pipeline(Config(index_dir=index_dir, as_of=AS_OF), embedder=model)
        data = answers(pipeline)
    PINNED.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {PINNED}", file=sys.stderr)
