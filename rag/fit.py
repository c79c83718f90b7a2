"""`python -m rag.fit [DATA]`: refit the ranker, the answerability model and the sentence model
from the public evaluation data, on the fixed "fit" halves only (SQuAD by article, SciFact by odd
id, news by date), and write them as JSON beside rag/retrieve/. Needs scikit-learn and LightGBM
(pip install '.[fit]').

1. Ranker: a pairwise logistic regression (each gold paragraph against the candidates ranked
   near it) over the features of rag/retrieve/features.py, each dataset weighted equally.
2. Answerability: gradient-boosted trees (LightGBM) over the features of the top paragraphs, on
   SQuAD v2.0's unanswerable questions and on questions whose paragraph was left out of the
   index (a seeded half of the SQuAD v1.1 and news corpora), each dataset weighted equally. Its
   default threshold is the highest that still answers 95% of the answerable questions (datasets
   weighted equally), read from out-of-fold probabilities.
3. Sentence model: LambdaRank trees (LightGBM) over the features of rag/sentences.py, ranking
   the sentences of each question's five paragraphs by whether they hold its gold answer (the
   SQuAD v1.1 and news fit halves, the news asked as of its dates). Its margin is the one at which
   answers cite CITED sentences on average over the SQuAD questions, read from out-of-fold scores.
4. Phrase model: a logistic regression over the features of rag/sentences.py's PHRASE_FEATURES,
   on the phrase each answer would mark (the SQuAD v1.1, SQuAD v2.0 and news fit halves, each
   weighted equally): whether it is the gold answer (F1 at least 0.5; none is, for an
   unanswerable question). Its threshold is the highest that still marks 95% of the right phrases
   of SQuAD v1.1 and the news set (weighted equally).
5. Recency prior: its strength and scale, by grid search for the best MRR@10 on the earlier half
   (by date) of the news questions, each asked as of its own date over the whole corpus.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from rag import sentences
from rag.answer import MAX_SENTENCES, extract
from rag.config import DEFAULT_MODEL, Config
from rag.embed import load_embedder
from rag.evaluate import Dataset, asked_when, holdout, holds_answer, load_dataset, phrase_f1
from rag.pipeline import Pipeline, index_sources
from rag.retrieve import Hit, candidates, ranker, retrieve
from rag.retrieve.answerable import FEATURES, answerability, answerability_features
from rag.retrieve.features import NAMES
from rag.retrieve.model import (
    ANSWERABILITY,
    MODELS,
    PHRASES,
    RANKER,
    SENTENCES,
    LinearModel,
    TreeModel,
    load_model,
)
from rag.retrieve.recency import PRIOR, Prior, When, penalty
from rag.store import Passage

NEWS = "news/realtimeqa-cnn-2020-2022"
RANKER_SETS = ("squad/dev-v1.1.json", "scifact", NEWS)
# The recency prior's grid: strength (z-score units of the hybrid score) and scale (days).
STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
SCALES = (3.0, 7.0, 14.0, 30.0, 60.0, 120.0, 365.0)
ANSWER_RATE = 0.95
# The share of the right answer phrases that stay marked (the phrase model's threshold).
MARK_RATE = 0.95
HOLDOUT, SEED = 0.5, 0
FOLDS = 5  # the answerability threshold is read from out-of-fold probabilities
# The answerability trees: small and many, each leaf backed by at least 50 questions.
TREES = {
    "n_estimators": 300,
    "num_leaves": 15,
    "learning_rate": 0.03,
    "min_child_samples": 50,
    "subsample": 0.8,
    "subsample_freq": 1,
    # More of any measure of the match, or a longer lead, never makes a question less likely to
    # be answerable, and naming more things (the share of them found held) or a best paragraph
    # further from the dates asked about (the recency prior's penalty) never makes it more
    # likely; only the number of terms may count either way. Without this, trees gave a third of
    # a chance to "What is the capital of France?" over the sample article, whose best sentence
    # names a provincial capital, and refused "What did Roggio say the Biden administration
    # should do?" for its two names.
    "monotone_constraints": [
        {"query_terms": 0, "query_names": -1, "top_prior": -1}.get(feature, 1)
        for feature in FEATURES
    ],
    "monotone_constraints_method": "advanced",
    "random_state": SEED,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}


# The sentence model: LambdaRank over each question's candidate sentences.
SENTENCE_TREES = {
    "objective": "lambdarank",
    "n_estimators": 300,
    "num_leaves": 15,
    "learning_rate": 0.05,
    "min_child_samples": 20,
    "random_state": SEED,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
# Sentences an answer cites on average over the SQuAD fit questions: as many as the hand-set
# scoring the model replaced cited there (1.60). A wider margin cites more and holds the answer
# more often, in longer answers (README "Answer types").
CITED = 1.6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.fit", description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, nargs="?", default=Path("../shared/data"))
    parser.add_argument("--index", type=Path, default=Path("index/eval"), help="eval indexes")
    parser.add_argument("--limit", type=int, help="at most N fit questions per dataset")
    parser.add_argument("--output", type=Path, default=MODELS, help="where the JSON files go")
    parser.add_argument(
        "--only",
        choices=("ranker", "answerability", "sentences", "phrases", "recency"),
        help="refit only this part",
    )
    args = parser.parse_args(argv)
    fitter = Fitter(args.data, args.index, args.limit)
    if args.only == "recency":
        fitted_prior = fitter.fit_recency()
        path = args.output / PRIOR.name
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(fitted_prior.to_json(), encoding="utf-8")
        temporary.replace(path)
        print(f"wrote {path}", file=sys.stderr)
        return 0
    if args.only in (None, "ranker"):
        fitted = fitter.fit_ranker()
        if fitted is not ranker():
            write(fitted, args.output / RANKER)
            # The other models' features use the new ranker's scores.
            load_model.cache_clear()
    if args.only in (None, "answerability"):
        answerability = fitter.fit_answerability()
        write(answerability, args.output / ANSWERABILITY)
        load_model.cache_clear()
    if args.only in (None, "sentences"):
        write(sentence_trees(*fitter.sentence_tables()), args.output / SENTENCES)
        load_model.cache_clear()
    if args.only in (None, "phrases"):
        # After the sentence model: the phrase features hold its scores.
        write(phrase_regression(*fitter.phrase_tables()), args.output / PHRASES)
        load_model.cache_clear()
    return 0


def write(model: LinearModel | TreeModel, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(model.to_json(), encoding="utf-8")
    temporary.replace(path)
    print(f"wrote {path}", file=sys.stderr)


class Fitter:
    """Indexes each dataset once (the same folders `rag eval` uses) and collects features."""

    def __init__(self, data: Path, index_root: Path, limit: int | None):
        self.data = data
        self.index_root = index_root
        self.limit = limit
        self.embedder = load_embedder(DEFAULT_MODEL, True)
        self._vectors: dict[str, np.ndarray] = {}
        self._tokens: dict[str, np.ndarray] = {}

    def pipeline(self, dataset: Dataset) -> Pipeline:
        config = Config(index_dir=self.index_root / dataset.name)
        index_sources(config, dataset.inputs, embedder=self.embedder)
        return Pipeline(config, embedder=self.embedder)

    def questions(self, dataset: Dataset):
        chosen = [q for q in dataset.questions if q.part == "fit"]
        if self.limit:
            rng = np.random.default_rng(SEED)
            chosen = [chosen[i] for i in sorted(rng.permutation(len(chosen))[: self.limit])]
        return chosen

    def vector(self, text: str) -> np.ndarray:
        return self._vectors[text]

    def tokens(self, text: str) -> np.ndarray:
        """The question's word vectors (Embedder.encode_question), computed once."""
        if text not in self._tokens:
            self._tokens[text] = self.embedder.encode_question(text)[1]
        return self._tokens[text]

    def embed(self, questions) -> None:
        """Embed the questions not yet seen, in batches (one at a time is several times slower)."""
        texts = list(dict.fromkeys(q.text for q in questions if q.text not in self._vectors))
        for start in range(0, len(texts), 256):
            batch = texts[start : start + 256]
            self._vectors.update(zip(batch, self.embedder.encode_queries(batch), strict=True))

    def fit_ranker(self) -> LinearModel:
        """A pairwise fit, kept only if it ranks the fit halves better (mean MRR@10 over the
        datasets) than the ranker in use; else the ranker in use is returned unchanged."""
        differences, labels, weights, rows = [], [], [], []
        judged: list[list[tuple[np.ndarray, np.ndarray]]] = []
        for name in RANKER_SETS:
            dataset = load_dataset(self.data / name)
            pipeline = self.pipeline(dataset)
            unit = _units(pipeline, dataset)
            questions = self.questions(dataset)
            self.embed(questions)
            pairs, judged_here = [], []
            for q in questions:
                ranked, features = candidates(pipeline.index, q.text, self.vector(q.text))
                gold = np.array([unit.get(pid) in q.relevance for pid in ranked])
                if not gold.any() or gold.all():
                    continue
                rows.append(features)
                judged_here.append((features, gold))
                # Every other candidate: pairs with the hard ones alone leave the model free to
                # lift weak candidates it never saw above the gold paragraph.
                negatives = np.flatnonzero(~gold)
                for positive in np.flatnonzero(gold):
                    pairs.append(features[positive] - features[negatives])
            judged.append(judged_here)
            pairs_all = np.concatenate(pairs)
            print(f"ranker: {dataset.name}: {len(pairs_all)} pairs", file=sys.stderr)
            differences += [pairs_all, -pairs_all]
            labels += [np.ones(len(pairs_all)), np.zeros(len(pairs_all))]
            weights += [np.full(2 * len(pairs_all), 1.0 / (2 * len(pairs_all)))]
        table = np.concatenate(rows)
        mean, scale = table.mean(axis=0), table.std(axis=0) + 1e-6
        x = np.concatenate(differences) / scale  # a difference of standardized rows
        fitted = _logistic(x, np.concatenate(labels), np.concatenate(weights), intercept=False)
        candidate = LinearModel(
            name="ranker",
            features=NAMES,
            mean=mean,
            scale=scale,
            weights=fitted.coef_[0],
            intercept=0.0,
            threshold=None,
            version="",
            notes={"fitted on": "fit halves of " + ", ".join(RANKER_SETS), "pairs": "pairwise"},
        )
        current = ranker()
        scores = {m.version or "fitted": _mrr(m, judged) for m in (current, candidate)}
        print(f"ranker: mean MRR@10 on the fit halves: {scores}", file=sys.stderr)
        return candidate if scores["fitted"] > scores[current.version] else current

    def fit_recency(self) -> Prior:
        """The weakest recency prior (strength, then the longest scale) whose MRR@10 on the news
        fit half is within one standard error of the best, each question asked as of its date
        over the whole corpus."""
        dataset = load_dataset(self.data / NEWS)
        pipeline = self.pipeline(dataset)
        index = pipeline.index
        unit = _units(pipeline, dataset)
        questions = [q for q in self.questions(dataset) if q.date is not None]
        self.embed(questions)
        judged = []
        for q in questions:
            when = When(q.date)
            ranked, rows = candidates(index, q.text, self.vector(q.text), when)
            days = index.days()[index.keywords.paragraph_rows(ranked)]
            gold = np.array([unit.get(pid) in q.relevance for pid in ranked])
            judged.append((ranker().score(rows), days, when.centre(q.text), gold))
        results, spread = {}, {}
        for strength in STRENGTHS:
            for scale in SCALES:
                using = Prior(strength, scale, {})
                reciprocal = []
                for base, days, centre, gold in judged:
                    order = np.argsort(-(base - penalty(days, centre, using)), kind="stable")
                    found = np.flatnonzero(gold[order[:10]])
                    reciprocal.append(1.0 / (found[0] + 1) if len(found) else 0.0)
                results[strength, scale] = float(np.mean(reciprocal))
                spread[strength, scale] = float(np.std(reciprocal) / np.sqrt(len(reciprocal)))
        top = max(results, key=results.get)
        # The weakest prior within one standard error of the best: a library that is not a
        # week-by-week news feed should lose as little as the news set allows.
        best = min(
            (key for key in results if results[key] >= results[top] - spread[top]),
            key=lambda key: (key[0], -key[1]),
        )
        for strength in STRENGTHS:
            row = " ".join(f"{results[strength, scale]:.4f}" for scale in SCALES)
            print(f"recency: strength {strength:4}: {row}  (scales {SCALES})", file=sys.stderr)
        print(
            f"recency: MRR@10 on {len(judged)} fit questions: none {results[0.0, SCALES[0]]:.4f}, "
            f"highest {results[top]:.4f} at strength {top[0]}, scale {top[1]} days; chosen "
            f"{results[best]:.4f} at strength {best[0]}, scale {best[1]} days (the weakest "
            f"within one standard error, {spread[top]:.4f}, of the highest)",
            file=sys.stderr,
        )
        return Prior(
            strength=best[0],
            scale_days=best[1],
            notes={
                "fitted on": f"the earlier half (by date) of {NEWS}: {len(judged)} questions, "
                "each asked as of its date over the whole corpus",
                "fit half MRR@10": f"{results[best]:.4f} (no prior: {results[0.0, SCALES[0]]:.4f}; "
                f"highest: {results[top]:.4f} at strength {top[0]}, scale {top[1]} days)",
                "rule": "the weakest prior within one standard error of the highest MRR@10",
            },
        )

    def asked(self, pipeline: Pipeline, questions, dates: bool = True):
        """Each question with the k paragraphs retrieved for it, asked as rag eval asks it (as of
        its date, or with dates=False ignoring them)."""
        self.embed(questions)
        for q in questions:
            when = asked_when(q, pipeline, dates)
            vector, tokens = self.vector(q.text), self.tokens(q.text)
            yield (
                q,
                retrieve(
                    pipeline.index, q.text, vector, pipeline.config.k, when=when, tokens=tokens
                ),
            )

    def fit_answerability(self) -> TreeModel:
        return answerability_trees(*self.answerability_tables())

    def answerability_tables(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Each dataset's rows of answerability features and whether each question is
        answerable."""
        # (data, half its corpus left out, dated questions asked as of their dates). The news
        # set is asked both ways: as of each question's week, where the best paragraph's lead
        # over the rest and its distance from the week are most telling, and without dates, as
        # over an archive, where a week's story competes with other weeks' stories on the same
        # subject.
        sets = [
            ("squad/dev-v2.0.json", False, True),
            ("squad/dev-v1.1.json", True, True),
            (NEWS, True, True),
            (NEWS, True, False),
        ]
        tables, labels = [], []
        for name, held_out, dated in sets:
            dataset = load_dataset(self.data / name)
            if held_out:
                folder = self.index_root / f"{dataset.name}-holdout{HOLDOUT:g}-seed{SEED}"
                dataset = holdout(dataset, HOLDOUT, SEED, folder / "corpus")
            pipeline = self.pipeline(dataset)
            rows, answerable = [], []
            for q, hits in self.asked(pipeline, self.questions(dataset), dated):
                rows.append(answerability_features(q.text, hits))
                answerable.append(q.answerable)
            table, y = np.array(rows), np.array(answerable, dtype=float)
            print(
                f"answerability: {dataset.name}{'' if dated else ' (no dates)'}: "
                f"{int(y.sum())} answerable, {int(len(y) - y.sum())} not",
                file=sys.stderr,
            )
            tables.append(table)
            labels.append(y)
        return tables, labels

    def sentence_tables(self) -> tuple[list[list[np.ndarray]], list[list[np.ndarray]]]:
        """Per dataset (SQuAD v1.1, then news), per question with a gold answer: the rows of
        sentence features of its candidate sentences, and whether each holds the answer."""
        tables, labels = [], []
        for name in ("squad/dev-v1.1.json", NEWS):
            dataset = load_dataset(self.data / name)
            pipeline = self.pipeline(dataset)
            questions = [q for q in self.questions(dataset) if q.answers]
            rows, held = [], []
            for q, hits in self.asked(pipeline, questions):
                found, table = sentences.candidates(q.text, hits)
                rows.append(table)
                held.append(
                    np.array([_holds(hits[r].passage, i, q.answers) for r, i, _ in found], float)
                )
            print(
                f"sentences: {dataset.name}: {len(rows)} questions, "
                f"{sum(len(r) for r in rows)} sentences, "
                f"{sum(bool(h.any()) for h in held)} with the answer in one",
                file=sys.stderr,
            )
            tables.append(rows)
            labels.append(held)
        return tables, labels

    def phrase_tables(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per dataset (SQuAD v1.1, news as of its dates, SQuAD v2.0): the row of phrase
        features of each answer's would-be marked phrase, and whether that phrase is the gold
        answer."""
        tables, labels = [], []
        for name in ("squad/dev-v1.1.json", NEWS, "squad/dev-v2.0.json"):
            dataset = load_dataset(self.data / name)
            pipeline = self.pipeline(dataset)
            rows, right = [], []
            for q, hits in self.asked(pipeline, self.questions(dataset)):
                hits = sentences.reorder(q.text, hits)
                seen: list[np.ndarray] = []

                def recorded(row: np.ndarray, seen=seen) -> bool:
                    seen.append(row)
                    return True

                score = answerability(q.text, hits)
                answer = extract(q.text, hits, score, pipeline.threshold, mark=recorded)
                phrase = next((c.answer_phrase for c in answer.citations if c.answer_phrase), None)
                if answer.abstained or not seen or phrase is None:
                    continue
                golds = [g for g in q.answers if g.strip()] if q.answerable else []
                rows.append(seen[0])
                right.append(max((phrase_f1(phrase, g) for g in golds), default=0.0) >= 0.5)
            y = np.array(right, dtype=float)
            print(
                f"phrases: {dataset.name}: {len(y)} marked, {int(y.sum())} the answer",
                file=sys.stderr,
            )
            tables.append(
                np.array(rows, dtype=np.float32).reshape(-1, len(sentences.PHRASE_FEATURES))
            )
            labels.append(y)
        return tables, labels


def answerability_trees(tables: list[np.ndarray], labels: list[np.ndarray]) -> TreeModel:
    """Trees over every dataset's rows (each dataset weighted equally), and the highest threshold
    that still answers 95% of the answerable questions (each dataset weighted equally), read from
    out-of-fold probabilities: the trees fit their own rows more closely than new ones (the news
    set's fit half most: it is the smallest and weighs most per question), so in-sample
    probabilities would set the threshold too high for questions they have not seen."""
    try:
        import lightgbm
    except ImportError:
        raise SystemExit("refitting needs LightGBM: pip install lightgbm") from None
    weights = [np.full(len(y), 1.0 / len(y)) for y in labels]
    x, y, w = np.concatenate(tables), np.concatenate(labels), np.concatenate(weights)
    dataset = np.concatenate([np.full(len(t), i) for i, t in enumerate(tables)])

    def trees(rows: np.ndarray):
        fitted = lightgbm.LGBMClassifier(**TREES)
        return fitted.fit(x[rows], y[rows], sample_weight=w[rows] / w[rows].mean())

    folds = np.random.default_rng(SEED).integers(0, FOLDS, len(y))
    unseen = np.zeros(len(y))
    for fold in range(FOLDS):
        unseen[folds == fold] = trees(folds != fold).predict_proba(x[folds == fold])[:, 1]
    threshold = operating_point(
        [unseen[(dataset == i) & (y == 1)] for i in range(len(tables))], ANSWER_RATE
    )
    notes = {
        "fitted on": "fit halves: SQuAD v2.0 unanswerables; a seeded half of the SQuAD "
        "v1.1 and news corpora left out; the news questions asked as of their dates and without",
        "trees": ", ".join(f"{k} {v}" for k, v in TREES.items() if k != "verbose"),
        "threshold": f"answers {ANSWER_RATE:.0%} of the answerable questions, each dataset "
        f"weighted equally ({FOLDS}-fold out-of-fold probabilities)",
    }
    everything = np.ones(len(y), dtype=bool)
    return TreeModel.from_lightgbm(
        trees(everything).booster_, "answerability", FEATURES, threshold=threshold, notes=notes
    )


def sentence_trees(tables: list[list[np.ndarray]], labels: list[list[np.ndarray]]) -> TreeModel:
    """LambdaRank trees over every question's candidate sentences (the first dataset's questions
    set the margin: the one at which they cite CITED sentences on average, by out-of-fold
    scores, since the trees rank their own questions' sentences further apart than new ones)."""
    try:
        import lightgbm
    except ImportError:
        raise SystemExit("refitting needs LightGBM: pip install lightgbm") from None
    rows = [table for dataset in tables for table in dataset]
    held = [y for dataset in labels for y in dataset]
    first = np.arange(len(rows)) < len(tables[0])

    def trees(chosen: np.ndarray):
        picked = np.flatnonzero(chosen)
        fitted = lightgbm.LGBMRanker(**SENTENCE_TREES)
        return fitted.fit(
            np.concatenate([rows[i] for i in picked]),
            np.concatenate([held[i] for i in picked]).astype(int),
            group=[len(rows[i]) for i in picked],
        )

    folds = np.random.default_rng(SEED).integers(0, FOLDS, len(rows))
    unseen: list[np.ndarray] = [np.empty(0)] * len(rows)
    for fold in range(FOLDS):
        fitted = trees(folds != fold)
        for i in np.flatnonzero((folds == fold) & first):
            unseen[i] = fitted.predict(rows[i])
    margin = cited_margin([unseen[i] for i in np.flatnonzero(first)], CITED)
    notes = {
        "fitted on": "fit halves of SQuAD v1.1 and the news set (asked as of their dates): "
        "which of the sentences of each question's five paragraphs hold its gold answer",
        "trees": ", ".join(f"{k} {v}" for k, v in SENTENCE_TREES.items() if k != "verbose"),
        "margin": f"answers cite {CITED} sentences on average over the SQuAD fit questions "
        f"({FOLDS}-fold out-of-fold scores)",
    }
    return TreeModel.from_lightgbm(
        trees(np.ones(len(rows), dtype=bool)).booster_,
        "sentences",
        sentences.FEATURES,
        threshold=None,
        notes=notes,
        margin=margin,
    )


def phrase_regression(tables: list[np.ndarray], labels: list[np.ndarray]) -> LinearModel:
    """A logistic regression over every dataset's rows (standardized; each dataset weighted
    equally), and the highest threshold that still marks MARK_RATE of the right phrases of the
    datasets with no unanswerable questions (the first two; weighted equally)."""
    weights = [np.full(len(y), 1.0 / len(y)) for y in labels]
    x, y, w = np.concatenate(tables), np.concatenate(labels), np.concatenate(weights)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    fitted = _logistic((x - mean) / scale, y, w, intercept=True)
    model = LinearModel(
        name="phrases",
        features=sentences.PHRASE_FEATURES,
        mean=mean,
        scale=scale,
        weights=fitted.coef_[0].astype(np.float32),
        intercept=float(fitted.intercept_[0]),
        threshold=None,
        version="",
        notes={},
    )
    right = [
        np.array([model.probability(row) for row in table[y_ == 1]])
        for table, y_ in zip(tables[:2], labels[:2], strict=True)
    ]
    notes = {
        "fitted on": "fit halves of SQuAD v1.1, the news set (asked as of their dates) and "
        "SQuAD v2.0: whether the phrase an answer marks is the gold answer (F1 at least 0.5)",
        "threshold": f"marks {MARK_RATE:.0%} of the right phrases of SQuAD v1.1 and the news set, "
        "weighted equally",
    }
    return replace(model, threshold=operating_point(right, MARK_RATE), notes=notes)


def cited_margin(scores: list[np.ndarray], cited: float) -> float:
    """The margin below each question's best sentence score within which at most MAX_SENTENCES
    sentences are chosen and cited `cited` sentences on average (bisection: more margin, more
    sentences)."""

    def mean_cited(margin: float) -> float:
        return float(
            np.mean([min(MAX_SENTENCES, int((s >= s.max() - margin).sum())) for s in scores])
        )

    low, high = 0.0, 1.0
    while mean_cited(high) < cited and high < 1e6:
        high *= 2
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if mean_cited(middle) < cited else (low, middle)
    return high


def operating_point(answerable: list[np.ndarray], rate: float) -> float:
    """The highest threshold at which the mean over datasets of the share of answerable
    questions scoring at least the threshold is still `rate`."""
    values = np.unique(np.concatenate(answerable))[::-1]  # highest first
    shares = np.mean([[np.mean(a >= v) for v in values] for a in answerable], axis=0)
    return float(values[np.argmax(shares >= rate)])


def _holds(passage: Passage, sentence: int, answers: Sequence[str]) -> bool:
    span = passage.sentences[sentence]
    return holds_answer(passage.text[span.start : span.end], answers)


def _mrr(model: LinearModel, judged: list[list[tuple[np.ndarray, np.ndarray]]]) -> float:
    """Mean over datasets of the MRR@10 the model gives their questions' candidates."""
    means = []
    for questions in judged:
        reciprocal = []
        for features, gold in questions:
            order = np.argsort(-model.score(features), kind="stable")[:10]
            hits = np.flatnonzero(gold[order])
            reciprocal.append(1.0 / (hits[0] + 1) if len(hits) else 0.0)
        means.append(float(np.mean(reciprocal)))
    return float(np.mean(means))


def _units(pipeline: Pipeline, dataset: Dataset) -> dict[int, str]:
    """Each paragraph id of the index mapped to the unit the dataset judges."""
    index = pipeline.index
    passages = index.passages(index.keywords.paragraph_ids.tolist(), tokens=False)
    return {pid: dataset.unit(Hit(p, 0.0, 0.0, ())) for pid, p in passages.items()}


def _logistic(x: np.ndarray, y: np.ndarray, weights: np.ndarray, *, intercept: bool):
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise SystemExit("refitting needs scikit-learn: pip install scikit-learn") from None
    model = LogisticRegression(C=1.0, fit_intercept=intercept, max_iter=1000)
    return model.fit(x, y, sample_weight=weights / weights.mean())


if __name__ == "__main__":
    raise SystemExit(main())
