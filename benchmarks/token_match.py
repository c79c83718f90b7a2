"""How many dimensions the stored token vectors need (rag/tokens.py): the best five paragraphs of
the first N SQuAD v1.1 fit and check questions, put in order by the shipped key
(rag.sentences.reorder, whose sentence model already reads the stored 128-dimension match) plus w
times the paragraph's word-by-word match once more, with the token vectors kept whole (384
dimensions), projected by the shipped random matrix (rag.tokens.project, 128), or by PCA fitted on
the paragraphs' own tokens (128 and 64). Recall@1 and MRR within the five, per weight, on the fit
and check halves: w 0 is the shipped order, and what a wider vector adds shows above it. The
paragraphs' token vectors are computed here from the model, not read from the index, so every
width is measured on the same tokens.

    python benchmarks/token_match.py [--limit 1500]
"""

from __future__ import annotations

import sys

import numpy as np
from reorder import arguments, eval_pipeline  # benchmarks/reorder.py, beside this script
from tqdm import tqdm

from rag import sentences
from rag.embed import load_embedder
from rag.evaluate import DEPTH, asked_when, load_dataset
from rag.retrieve import retrieve
from rag.tokens import project, word_tokens

WEIGHTS = (0, 2, 4, 8, 16, 24)


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    limit = args.limit or 1500
    embedder = load_embedder("all-MiniLM-L6-v2", True)
    dataset = load_dataset(args.data / "squad" / "dev-v1.1.json")
    pipeline = eval_pipeline(args.index_root, dataset, embedder)
    model = sentences.model()
    asked, texts = [], {}
    for half in ("fit", "check"):
        questions = [q for q in dataset.questions if q.part == half][:limit]
        for q in tqdm(questions, unit="q", file=sys.stderr, mininterval=10.0):
            tokens, mask, offsets = embedder._forward([q.text], bf16=False)
            chosen = word_tokens(q.text, offsets[0], content=True) & mask[0].astype(bool)
            words = tokens[0][chosen] if chosen.any() else tokens[0][mask[0].astype(bool)]
            vector, projected = embedder.encode_question(q.text)
            when = asked_when(q, pipeline)
            hits = retrieve(pipeline.index, q.text, vector, DEPTH, when=when, tokens=projected)
            top = hits[: sentences.PARAGRAPHS]
            if len(top) < 2:
                continue
            found, rows = sentences.candidates(q.text, top)
            best = np.full(len(top), -np.inf)
            np.maximum.at(best, np.array([r for r, _, _ in found]), model.score(rows))
            key = (
                best
                + sentences.REORDER_WEIGHT * np.array([h.score for h in top])
                - sentences.REORDER_PRIOR * np.array([h.prior for h in top])
            )
            gold = np.array([dataset.unit(h) in q.relevance for h in top], dtype=float)
            asked.append((half, words, [h.passage.id for h in top], key, gold))
            texts.update((h.passage.id, h.passage.text) for h in top)
    paragraphs = {}
    ids = list(texts)
    for start in range(0, len(ids), 16):
        batch = ids[start : start + 16]
        tokens, mask, offsets = embedder._forward([texts[i] for i in batch], bf16=False)
        for row, pid in enumerate(batch):
            keep = word_tokens(texts[pid], offsets[row]) & mask[row].astype(bool)
            paragraphs[pid] = tokens[row][keep]
    sample = np.concatenate(list(paragraphs.values())[::3])
    centre = sample.mean(0)
    components = np.linalg.svd(sample - centre, full_matrices=False)[2]
    widths = {
        "384, whole": lambda v: unit(v),
        "128, shipped projection": project,
        "128, PCA": lambda v: unit((v - centre) @ components[:128].T),
        "64, PCA": lambda v: unit((v - centre) @ components[:64].T),
    }
    print("| token vectors | half | " + " | ".join(f"w {w} R@1 / MRR" for w in WEIGHTS) + " |")
    print("|---|---|" + "---|" * len(WEIGHTS))
    for name, reduce in widths.items():
        reduced = {pid: reduce(v) for pid, v in paragraphs.items()}
        for half in ("fit", "check"):
            cells = []
            for w in WEIGHTS:
                first, reciprocal = [], []
                for part, words, pids, key, gold in asked:
                    if part != half:
                        continue
                    q = reduce(words)
                    match = np.array([(q @ reduced[p].T).max(1).mean() for p in pids])
                    ordered = gold[np.argsort(-(key + w * match), kind="stable")]
                    hits = np.flatnonzero(ordered)
                    first.append(ordered[0])
                    reciprocal.append(1.0 / (hits[0] + 1) if len(hits) else 0.0)
                cells.append(f"{np.mean(first):.3f} / {np.mean(reciprocal):.3f}")
            print(f"| {name} | {half} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
