"""`rag eval`: retrieval and answer quality on SQuAD-format files and BEIR folders, measured
through the same search and answer code the app uses."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import string
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from rag.answer import Answer
from rag.config import Config
from rag.errors import ConfigError
from rag.pipeline import Pipeline, index_sources
from rag.retrieve import Hit
from rag.retrieve.answerable import model_versions
from rag.retrieve.recency import When

DEPTH = 20  # paragraphs retrieved per question: enough for recall@20


@dataclass(frozen=True)
class Question:
    """One evaluation question with the units (paragraphs or documents) that answer it."""

    id: str
    text: str
    relevance: dict[str, int]  # unit key → graded relevance (> 0)
    answers: tuple[str, ...] = ()
    answerable: bool = True
    # Which fixed half the question belongs to: "fit" (learned parts are fitted on it) or "check".
    part: str = "fit"
    date: dt.date | None = None  # the day it was asked (news); it is asked as of that day


@dataclass(frozen=True)
class Dataset:
    """A corpus to index and the questions to ask it."""

    name: str
    inputs: tuple[str, ...]
    questions: tuple[Question, ...]
    # How a retrieved paragraph maps to a judged unit: SQuAD judges paragraphs, BEIR documents.
    unit: Callable[[Hit], str] = field(repr=False)
    # Writes a copy of the corpus keeping only some units; returns the copy's path and the map
    # from each kept unit's key to its key in the copy (see holdout()).
    subset: Callable[[Callable[[str], bool], Path], tuple[Path, dict[str, str]]] = field(
        repr=False, default=None
    )


def paragraph_unit(hit: Hit) -> str:
    """SQuAD's judged unit: one paragraph of one article."""
    return f"{hit.passage.source}¶{hit.passage.index}"


def document_unit(hit: Hit) -> str:
    """BEIR's judged unit: the whole document (article)."""
    return hit.passage.source


def load_dataset(path: Path) -> Dataset:
    """Read a SQuAD v1.1/v2.0 file or a BEIR folder (corpus.jsonl, queries.jsonl, qrels/)."""
    path = Path(path)
    if path.is_dir():
        return _load_beir(path)
    if path.is_file():
        return _load_squad(path)
    raise ConfigError(f"No evaluation data at {path}; give a SQuAD .json file or a BEIR folder.")


def _load_squad(path: Path) -> Dataset:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"{path} is not a SQuAD-format JSON file (no data[] list).") from None
    source = str(path.resolve())
    questions = []
    # The fixed halves: the first half of the articles (they are sorted by title) fits.
    fitting = {entry["title"] for entry in data[: (len(data) + 1) // 2]}
    for entry in data:
        # The same article key and paragraph numbering as ingestion gives them.
        article = f"{source}#{entry['title']}"
        for position, paragraph in enumerate(entry["paragraphs"], start=1):
            for qa in paragraph["qas"]:
                answerable = not qa.get("is_impossible", False)
                questions.append(
                    Question(
                        id=qa["id"],
                        text=qa["question"],
                        relevance={f"{article}¶{position}": 1},
                        answers=tuple(a["text"] for a in qa.get("answers", [])),
                        answerable=answerable,
                        part="fit" if entry["title"] in fitting else "check",
                    )
                )

    def subset(keep: Callable[[str], bool], folder: Path) -> tuple[Path, dict[str, str]]:
        copy = folder / path.name
        renamed, articles = {}, []
        for entry in data:
            article = f"{source}#{entry['title']}"
            kept = [
                (position, paragraph)
                for position, paragraph in enumerate(entry["paragraphs"], start=1)
                if keep(f"{article}¶{position}")
            ]
            if kept:
                articles.append(entry | {"paragraphs": [p for _, p in kept]})
            for new, (old, _) in enumerate(kept, start=1):
                renamed[f"{article}¶{old}"] = f"{copy.resolve()}#{entry['title']}¶{new}"
        _write_if_changed(copy, json.dumps({"data": articles}, ensure_ascii=False))
        return copy, renamed

    return Dataset(path.stem, (source,), tuple(questions), paragraph_unit, subset)


def _load_beir(folder: Path) -> Dataset:
    corpus, queries, qrels = (
        folder / "corpus.jsonl",
        folder / "queries.jsonl",
        folder / "qrels" / "test.tsv",
    )
    for required in (corpus, queries, qrels):
        if not required.is_file():
            raise ConfigError(f"{folder} is not a BEIR folder: {required.name} is missing.")
    source = str(corpus.resolve())
    relevance: dict[str, dict[str, int]] = {}
    for line in qrels.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) != 3 or not parts[2].strip().lstrip("-").isdigit():
            continue  # the header line
        if int(parts[2]) > 0:
            relevance.setdefault(parts[0], {})[f"{source}#{parts[1]}"] = int(parts[2])
    texts, dates = {}, {}
    for line in queries.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            texts[str(record["_id"])] = record["text"]
            dates[str(record["_id"])] = str(record.get("date") or "")
    answers: dict[str, tuple[str, ...]] = {}
    if (folder / "answers.jsonl").is_file():  # the gold answer strings, where the set has them
        for line in (folder / "answers.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                given = record.get("answers", record.get("answer")) or ()
                answers[str(record["_id"])] = (given,) if isinstance(given, str) else tuple(given)
    asked = [q for q in relevance if q in texts]
    parts = _beir_parts(asked, dates)
    questions = tuple(
        Question(
            id=q,
            text=texts[q],
            relevance=relevance[q],
            part=parts[q],
            date=_day(dates[q]),
            answers=answers.get(q, ()),
        )
        for q in asked
    )
    lines = corpus.read_text(encoding="utf-8").splitlines()

    def subset(keep: Callable[[str], bool], target: Path) -> tuple[Path, dict[str, str]]:
        copy = target / corpus.name
        renamed, kept = {}, []
        for line in lines:
            if line.strip():
                key = str(json.loads(line)["_id"])
                if keep(f"{source}#{key}"):
                    kept.append(line)
                    renamed[f"{source}#{key}"] = f"{copy.resolve()}#{key}"
        _write_if_changed(copy, "\n".join(kept) + "\n")
        return copy, renamed

    return Dataset(folder.name, (source,), questions, document_unit, subset)


def _day(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


def _beir_parts(ids: Sequence[str], dates: dict[str, str]) -> dict[str, str]:
    """The fixed halves of BEIR questions: dated questions (news) by date, the earlier half
    fitting; undated ones by odd (fit) and even (check) numeric id, else by position."""
    if ids and all(dates.get(q) for q in ids):
        order = sorted(ids, key=lambda q: (dates[q], q))
        early = set(order[: (len(order) + 1) // 2])
        return {q: "fit" if q in early else "check" for q in ids}
    if all(q.isdigit() for q in ids):
        return {q: "fit" if int(q) % 2 else "check" for q in ids}
    return {q: "fit" if i % 2 == 0 else "check" for i, q in enumerate(ids)}


def _write_if_changed(path: Path, text: str) -> None:
    """Write text to path unless it already holds it (so a reused index stays unchanged)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)


def holdout(dataset: Dataset, fraction: float, seed: int, folder: Path) -> Dataset:
    """The dataset with a seeded random `fraction` of its corpus units (SQuAD paragraphs, BEIR
    documents) left out of a copy written under folder; a question none of whose gold units is
    kept becomes unanswerable, as if its article had never been added."""
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"--holdout must be a fraction between 0 and 1, got {fraction}.")
    rng = np.random.default_rng(seed)
    draws: dict[str, bool] = {}

    def keep(key: str) -> bool:  # units are visited in corpus order, so the draw is repeatable
        if key not in draws:
            draws[key] = bool(rng.random() >= fraction)
        return draws[key]

    copy, renamed = dataset.subset(keep, folder)
    questions = []
    for q in dataset.questions:
        relevance = {renamed[u]: g for u, g in q.relevance.items() if u in renamed}
        answerable = q.answerable and bool(relevance)
        questions.append(
            replace(q, relevance=relevance)
            if answerable
            else replace(q, relevance={}, answerable=False)
        )
    name = f"{dataset.name}-holdout{fraction:g}-seed{seed}"
    return Dataset(name, (str(copy.resolve()),), tuple(questions), dataset.unit, dataset.subset)


@dataclass
class Outcome:
    """Per-question results kept for the metrics."""

    ranks: list[list[str]] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def run(
    dataset: Dataset,
    pipeline: Pipeline,
    *,
    retriever: str = "hybrid",
    limit: int | None = None,
    progress: bool = True,
    dates: bool = True,
    as_of: dt.date | None = None,
) -> dict[str, object]:
    """Ask every question (or the first `limit`) and compute the metrics: each as of its own
    date when it has one (else as of today), every one as of the day as_of, or with dates=False
    ignoring publication dates."""
    from tqdm import tqdm

    questions = dataset.questions[:limit] if limit else dataset.questions
    outcome = Outcome()
    k = pipeline.config.k
    for question in tqdm(
        questions,
        desc=f"eval {dataset.name}",
        unit="q",
        file=sys.stderr,
        disable=not progress,
        mininterval=1.0,
    ):
        started = time.perf_counter()
        when = asked_when(question, pipeline, dates, as_of)
        hits = pipeline.search(question.text, k=max(DEPTH, k), retriever=retriever, when=when)
        answer = pipeline.answer(question.text, hits[:k])
        outcome.seconds.append(time.perf_counter() - started)
        outcome.ranks.append(list(dict.fromkeys(dataset.unit(hit) for hit in hits)))
        outcome.answers.append(answer)
    return metrics(questions, outcome, pipeline.threshold) | {
        "dataset": dataset.name,
        "retriever": retriever,
        "questions": len(questions),
        "paragraphs": pipeline.index.manifest.paragraphs,
        "model": pipeline.index.manifest.model,
        "ranker": model_versions(),
        "k": k,
        "dates": dates,
        "as_of": as_of.isoformat() if as_of is not None and dates else None,
    }


def asked_when(
    question: Question, pipeline: Pipeline, dates: bool = True, as_of: dt.date | None = None
) -> When:
    """When a question is asked: as of the day as_of when given, else as of its own date when it
    has one (else as of today), or with publication dates ignored (dates=False)."""
    if not dates:
        return When()
    if as_of is not None:
        return When(as_of)
    if question.date is not None:
        return When(question.date)
    return pipeline.when()


def metrics(questions: Sequence[Question], outcome: Outcome, threshold: float) -> dict[str, object]:
    """Recall@1/5/20, MRR@10, nDCG@10, answer-in-citation, abstention quality and latency."""
    judged = [
        (q, ranked, answer)
        for q, ranked, answer in zip(questions, outcome.ranks, outcome.answers, strict=True)
        if q.answerable
    ]
    result: dict[str, object] = {}
    for k in (1, 5, 20):
        result[f"recall@{k}"] = _mean(recall(q.relevance, r, k) for q, r, _ in judged)
    result["mrr@10"] = _mean(reciprocal_rank(q.relevance, r, 10) for q, r, _ in judged)
    result["ndcg@10"] = _mean(ndcg(q.relevance, r, 10) for q, r, _ in judged)
    with_answers = [(q, a) for q, _, a in judged if q.answers]
    if with_answers:
        result["answer_in_citation"] = _mean(answer_in_citation(q, a) for q, a in with_answers)
        result |= phrase_scores(with_answers)
    result["abstained"] = _mean(a.abstained for a in outcome.answers)
    if any(not q.answerable for q in questions):
        labels = np.array([q.answerable for q in questions])
        scores = np.array([a.confidence for a in outcome.answers])
        best_threshold, best_accuracy = fit_threshold(scores, labels)
        result["abstention"] = {
            "auroc": auroc(scores, labels),
            "accuracy": _mean(
                a.abstained != q.answerable for q, a in zip(questions, outcome.answers, strict=True)
            ),
            "threshold": threshold,
            "answered": _mean(
                not a.abstained
                for q, a in zip(questions, outcome.answers, strict=True)
                if q.answerable
            ),
            "refused": _mean(
                a.abstained
                for q, a in zip(questions, outcome.answers, strict=True)
                if not q.answerable
            ),
            "best_threshold": best_threshold,
            "best_accuracy": best_accuracy,
            # The product's default: answer at least 95% of answerable questions.
            "threshold_answering_95pct": round(float(np.quantile(scores[labels], 0.05)), 4)
            if labels.any()
            else 0.0,
        }
    seconds = np.array(outcome.seconds) * 1000
    result["latency_ms"] = {
        "p50": float(np.percentile(seconds, 50)) if len(seconds) else 0.0,
        "p95": float(np.percentile(seconds, 95)) if len(seconds) else 0.0,
    }
    result["questions_per_s"] = len(seconds) / (seconds.sum() / 1000) if seconds.sum() else 0.0
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items()}


def _mean(values) -> float:
    values = [float(v) for v in values]
    return sum(values) / len(values) if values else 0.0


def recall(relevance: dict[str, int], ranked: Sequence[str], k: int) -> float:
    """Share of the relevant units found in the top k.

    >>> recall({"a": 1, "b": 1}, ["c", "a", "d"], 2)
    0.5
    """
    return len(set(ranked[:k]) & set(relevance)) / len(relevance) if relevance else 0.0


def reciprocal_rank(relevance: dict[str, int], ranked: Sequence[str], k: int) -> float:
    """1 / rank of the first relevant unit within the top k, else 0.

    >>> reciprocal_rank({"a": 1}, ["c", "d", "a"], 10)
    0.3333333333333333
    """
    for rank, unit in enumerate(ranked[:k], start=1):
        if relevance.get(unit, 0) > 0:
            return 1.0 / rank
    return 0.0


def ndcg(relevance: dict[str, int], ranked: Sequence[str], k: int) -> float:
    """Normalized discounted cumulative gain at k with graded relevance (BEIR's definition).

    >>> round(ndcg({"a": 1}, ["b", "a"], 10), 4)
    0.6309
    """
    gain = sum(relevance.get(u, 0) / math.log2(i + 2) for i, u in enumerate(ranked[:k]))
    ideal = sum(
        r / math.log2(i + 2) for i, r in enumerate(sorted(relevance.values(), reverse=True)[:k])
    )
    return gain / ideal if ideal else 0.0


_SPACES = re.compile(r"\s+")


def _normal(text: str) -> str:
    return _SPACES.sub(" ", text.lower()).strip()


def answer_in_citation(question: Question, answer: Answer) -> bool:
    """True when a gold answer string appears in the sentences the answer cites."""
    if answer.abstained:
        return False
    return holds_answer(" ".join(c.sentence for c in answer.citations), question.answers)


def holds_answer(text: str, answers: Sequence[str]) -> bool:
    """True when one of the gold answer strings appears in text (case and spacing aside)."""
    held = _normal(text)
    return any(_normal(gold) in held for gold in answers if gold.strip())


def squad_normal(text: str) -> str:
    """SQuAD's official answer normalisation: lower case, no punctuation, articles or extra space.

    >>> squad_normal("The  Norman-French, ")
    'normanfrench'
    """
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


_PUNCTUATION = frozenset(string.punctuation)


def phrase_f1(prediction: str, gold: str) -> float:
    """SQuAD's token F1 of a predicted answer against one gold answer.

    >>> phrase_f1("in 1066 AD", "1066")
    0.5
    """
    predicted, expected = squad_normal(prediction).split(), squad_normal(gold).split()
    common = sum((Counter(predicted) & Counter(expected)).values())
    if not common:
        return 0.0
    precision, recall_ = common / len(predicted), common / len(expected)
    return 2 * precision * recall_ / (precision + recall_)


def phrase_scores(with_answers: Sequence[tuple[Question, Answer]]) -> dict[str, float]:
    """How often an answer phrase is marked (share of questions with gold answers), and the
    exact match and F1 of the marked phrase against the best gold answer where one is marked."""
    marked = [
        (q, phrase)
        for q, a in with_answers
        if not a.abstained
        for phrase in [next((c.answer_phrase for c in a.citations if c.answer_phrase), None)]
        if phrase is not None
    ]
    golds = [(phrase, [g for g in q.answers if g.strip()]) for q, phrase in marked]
    return {
        "phrase_marked": len(marked) / len(with_answers) if with_answers else 0.0,
        "phrase_exact": _mean(
            max((squad_normal(p) == squad_normal(g) for g in gold), default=False)
            for p, gold in golds
        ),
        "phrase_f1": _mean(max((phrase_f1(p, g) for g in gold), default=0.0) for p, gold in golds),
    }


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of scores for telling positive (True) from negative labels.

    >>> auroc(np.array([0.9, 0.8, 0.3, 0.1]), np.array([True, False, True, False]))
    0.75
    """
    positives, negatives = scores[labels], scores[~labels]
    if not len(positives) or not len(negatives):
        return 0.0
    ranks = _average_ranks(np.concatenate([positives, negatives]))
    u = ranks[: len(positives)].sum() - len(positives) * (len(positives) + 1) / 2
    return float(u / (len(positives) * len(negatives)))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def fit_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The threshold (answer when score >= it) with the best accuracy, and that accuracy."""
    if not len(scores):
        return 0.0, 0.0
    candidates = np.unique(scores)
    best = (float(candidates[0]), float(np.mean(labels)))
    for threshold in candidates:
        accuracy = float(np.mean((scores >= threshold) == labels))
        if accuracy > best[1]:
            best = (float(threshold), accuracy)
    return round(best[0], 4), round(best[1], 4)


def evaluate(
    config: Config,
    data: Path,
    *,
    retriever: str = "hybrid",
    limit: int | None = None,
    progress: bool = True,
    embedder=None,
    held_out: float | None = None,
    seed: int = 0,
    part: str | None = None,
    dates: bool = True,
    as_of: dt.date | None = None,
) -> dict[str, object]:
    """Index the dataset's corpus into its own folder (reused when unchanged), then run it.

    held_out: leave this share of the corpus out (a seeded random choice) so the questions it
    answered become unanswerable; part: ask only the "fit" or the "check" half of the questions;
    as_of: ask every question as of this day instead of its own date (an archive asked later).
    """
    dataset = load_dataset(data)
    if held_out is not None:
        dataset = holdout(dataset, held_out, seed, Path(config.index_dir) / "corpus")
    if part is not None:
        dataset = replace(
            dataset,
            name=f"{dataset.name} ({part})",
            questions=tuple(q for q in dataset.questions if q.part == part),
        )
    if not dates:
        dataset = replace(dataset, name=f"{dataset.name} (no dates)")
    elif as_of is not None:
        dataset = replace(dataset, name=f"{dataset.name} (as of {as_of.isoformat()})")
    report = index_sources(config, dataset.inputs, embedder=embedder)
    if report.skipped:
        reasons = "; ".join(f"{s.source}: {s.reason}" for s in report.skipped[:3])
        print(f"warning: {len(report.skipped)} corpus records skipped ({reasons})", file=sys.stderr)
    pipeline = Pipeline(config, embedder=embedder)
    return run(
        dataset,
        pipeline,
        retriever=retriever,
        limit=limit,
        progress=progress,
        dates=dates,
        as_of=as_of,
    )


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def format_table(results: Sequence[dict[str, object]]) -> str:
    """A Markdown table with one row per result."""
    header = (
        "| dataset | retriever | questions | R@1 | R@5 | R@20 | MRR@10 | nDCG@10 | answer in "
        "citation | phrase marked | phrase EM | phrase F1 | p50 ms | p95 ms | q/s |"
    )
    lines = [header, "|" + "---|" * 15]
    for r in results:
        latency = r["latency_ms"]
        lines.append(
            f"| {r['dataset']} | {r['retriever']} | {r['questions']} | {r['recall@1']:.3f} | "
            f"{r['recall@5']:.3f} | {r['recall@20']:.3f} | {r['mrr@10']:.3f} | "
            f"{r['ndcg@10']:.3f} | "
            f"{_cell(r.get('answer_in_citation'))} | {_cell(r.get('phrase_marked'))} | "
            f"{_cell(r.get('phrase_exact'))} | {_cell(r.get('phrase_f1'))} | "
            f"{latency['p50']:.1f} | {latency['p95']:.1f} | {r['questions_per_s']:.1f} |"
        )
    for r in results:
        if "abstention" in r:
            a = r["abstention"]
            lines.append(
                f"\nAbstention on {r['dataset']} ({r['retriever']}): AUROC {a['auroc']:.3f}; at "
                f"threshold {a['threshold']:.3f} {a['answered']:.1%} of answerable questions "
                f"answered, {a['refused']:.1%} of unanswerable refused, accuracy "
                f"{a['accuracy']:.3f}; the most accurate "
                f"threshold is {a['best_threshold']} ({a['best_accuracy']:.3f}); "
                f"{a['threshold_answering_95pct']} still answers 95% of answerable questions"
            )
    return "\n".join(lines)
