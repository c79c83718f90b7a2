"""A million paragraphs on one box: the size-chosen FAISS index built, opened, asked and checked.

Writes a synthetic index (1M paragraphs, 3M sentences by default) through the real index writer,
then, in a fresh process, measures what the app would: resident and private memory, answer
latency (p50/p95 of full cited answers), and the recall of the approximate paragraph search
against exact search of the same vectors on the same queries, with the time of each.

The vectors are not uniform noise (on which no approximate index works, and which no text
embeds to): each paragraph is a real paragraph or sentence embedding of SQuAD (embedded once
with the packaged model and cached beside the index) plus Gaussian noise, normalized, so the
collection has the clustered shape of real text; its sentences are their paragraph plus more
noise. Recall is measured with real SQuAD questions embedded by the same model.

    python benchmarks/scale.py [--paragraphs 1000000] [--index index/bench-scale]
    python benchmarks/scale.py --sizes   # exact vs approximate search by size: the threshold
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from memory import DIMENSION, SENTENCES, build, rss_mb, sentence, vocabulary  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT.parent / "shared" / "data" / "squad" / "dev-v1.1.json"
NOISE = 0.5  # norm of the noise added to a base vector (cosine to it about 0.89)


def squad_texts() -> tuple[list[str], list[str]]:
    """SQuAD v1.1 dev's paragraphs and sentences, and its questions."""
    from rag.text import split_sentences

    data = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    texts, questions = [], []
    for article in data:
        for paragraph in article["paragraphs"]:
            texts.append(paragraph["context"])
            texts.extend(
                paragraph["context"][s.start : s.end] for s in split_sentences(paragraph["context"])
            )
            questions.extend(qa["question"] for qa in paragraph["qas"])
    return texts, questions


def eval_vectors(index_dir: Path) -> np.ndarray | None:
    """The paragraph and sentence vectors of an index `rag eval` built of SQuAD v1.1 dev (the
    same texts, embedded the same way), when there is one: it saves embedding them again."""
    from rag.errors import RagError
    from rag.store import Index

    try:
        index = Index.open(index_dir)
    except RagError:
        return None
    store = index.vector_store
    return np.concatenate(
        [store.lookup(kind, store_ids(store, kind)) for kind in ("paragraphs", "sentences")]
    ).astype(np.float32)


def store_ids(store, kind: str) -> np.ndarray:
    import faiss

    return faiss.vector_to_array(
        (store.paragraphs if kind == "paragraphs" else store.sentences).id_map
    )


def embedded(cache: Path, name: str, texts: list[str]) -> np.ndarray:
    """The model's embeddings of texts, cached in cache/name.npy."""
    path = cache / f"{name}.npy"
    if path.exists():
        return np.load(path, allow_pickle=False)
    from rag.config import DEFAULT_MODEL
    from rag.embed import load_embedder

    embedder = load_embedder(DEFAULT_MODEL, False)
    # In batches: encode_queries runs one forward pass over everything it is given.
    vectors = np.concatenate(
        [embedder.encode_queries(texts[i : i + 64]) for i in range(0, len(texts), 64)]
    ).astype(np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors, allow_pickle=False)
    return vectors


class Clustered:
    """Unit vectors around real embeddings: paragraphs near a base, sentences near their
    paragraph (the layout memory.build asks for: an article's paragraphs, then its sentences)."""

    def __init__(self, bases: np.ndarray):
        self.bases = bases

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        paragraphs = n // (1 + SENTENCES)
        base = self.bases[rng.integers(0, len(self.bases), paragraphs)]
        para = _unit(base + _noise(rng, paragraphs, NOISE))
        sents = _unit(
            np.repeat(para, SENTENCES, axis=0) + _noise(rng, paragraphs * SENTENCES, NOISE)
        )
        return np.concatenate([para, sents]).astype(np.float32)


def _noise(rng: np.random.Generator, n: int, norm: float) -> np.ndarray:
    return rng.standard_normal((n, DIMENSION)).astype(np.float32) * (norm / np.sqrt(DIMENSION))


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def measure(index_dir: Path, questions: int, queries: Path, threads: int) -> dict:
    """In a fresh process: memory, answer latency, and approximate vs exact search."""
    import faiss
    import torch

    from rag.config import DEFAULT_MODEL, Config
    from rag.embed import load_embedder
    from rag.pipeline import Pipeline

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    embedder = load_embedder(DEFAULT_MODEL, True)
    embedder.encode_queries(["warm up the model"])
    model_mb = rss_mb()
    started = time.perf_counter()
    pipeline = Pipeline(Config(index_dir=index_dir), embedder=embedder)
    open_s = time.perf_counter() - started
    open_mb = rss_mb()
    rng = np.random.default_rng(1)
    words = vocabulary(np.random.default_rng(0))
    # Ten questions first, not timed: the first ones fault in the mapped pages they touch, which
    # a serving app has long since done (opening is timed above).
    for _ in range(10):
        pipeline.ask(f"What about {sentence(rng, words)}")
    latencies = []
    for _ in range(questions):
        question = f"What about {sentence(rng, words)}"
        started = time.perf_counter()
        pipeline.ask(question)
        latencies.append(time.perf_counter() - started)
    store = pipeline.index.vector_store
    q = np.load(queries, allow_pickle=False)
    approximate, exact = [], []
    graph_s = exact_s = 0.0
    for vector in q:
        started = time.perf_counter()
        approximate.append([pid for pid, _ in store.search(vector, 100)])
        graph_s += time.perf_counter() - started
        started = time.perf_counter()
        _, ids = store.paragraphs.search(vector[None], 100)  # the flat vectors: exact
        exact_s += time.perf_counter() - started
        exact.append(ids[0].tolist())
    recall = {
        k: float(
            np.mean(
                [len(set(a[:k]) & set(e[:k])) / k for a, e in zip(approximate, exact, strict=True)]
            )
        )
        for k in (10, 100)
    }
    generation = pipeline.index.generation
    return {
        "paragraphs": pipeline.index.manifest.paragraphs,
        "sentences": pipeline.index.manifest.sentences,
        "vectors": pipeline.index.manifest.vectors,
        "model_mb": model_mb,
        "open_mb": open_mb,
        "answered_mb": rss_mb(),
        "private_mb": rss_mb("RssAnon"),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "open_s": open_s,
        "p50_ms": float(np.percentile(latencies, 50) * 1000),
        "p95_ms": float(np.percentile(latencies, 95) * 1000),
        "recall": recall,
        "search_ms": 1000 * graph_s / len(q),
        "exact_ms": 1000 * exact_s / len(q),
        "queries": len(q),
        "disk": {p.name: p.stat().st_size for p in generation.iterdir()},
    }


def refresh(index_dir: Path) -> bool:
    """Rewrite one article through the index writer when the index's approximate search was
    built otherwise than this version builds it, so that the commit rebuilds it; True if so."""
    from rag.chunk import Paragraph
    from rag.embed import ParagraphVectors
    from rag.ingest import Article, Block
    from rag.store import Index, Writer
    from rag.text import Span

    index = Index.open(index_dir)
    if index.manifest.vectors.get("paragraphs", {}).get("index") in ("ivf", "flat"):
        return False
    info = index.articles()[0]
    passages = index.article_paragraphs(info.id)
    article = Article(info.source, info.title, tuple(Block(p.text, None) for p in passages))
    records = [
        Paragraph(p.id, info.id, p.index, None, p.text, p.sentences, (Span(0, len(p.text)),))
        for p in passages
    ]
    vectors = [
        ParagraphVectors(
            index.vectors("paragraphs", [p.id])[0], index.vectors("sentences", p.sentence_ids)
        )
        for p in passages
    ]
    manifest = index.manifest
    del index
    started = time.perf_counter()
    with Writer(
        index_dir, model=manifest.model, dimension=manifest.dimension, ranker=manifest.ranker
    ) as writer:
        writer.add(article, records, vectors, info.id)
        writer.commit([])
    print(
        f"rewrote one article and rebuilt the approximate index in "
        f"{time.perf_counter() - started:.0f} s"
    )
    return True


def sizes() -> None:
    """Time of one exact search and one approximate search (with re-ranking) by index size."""
    import faiss

    from rag.store.vectors import PROBES, build_ann

    texts, questions = squad_texts()
    cache = ROOT / "index" / "bench-scale"
    bases = eval_vectors(ROOT / "index" / "eval" / "dev-v1.1")
    draw = Clustered(bases if bases is not None else embedded(cache, "bases", texts))
    q = embedded(cache, "questions", questions)[:200]
    rng = np.random.default_rng(0)
    print(f"{'paragraphs':>10} {'exact':>9} {'IVF':>9} {'recall@10':>9}")
    for n in (10_000, 25_000, 50_000, 100_000, 200_000):
        vectors = draw(rng, n * (1 + SENTENCES))[:n]
        flat = faiss.IndexIDMap2(faiss.IndexFlatIP(DIMENSION))
        flat.add_with_ids(vectors, np.arange(n, dtype=np.int64))
        ann, _ = build_ann(flat)
        params = faiss.SearchParametersIVF(nprobe=PROBES)
        started = time.perf_counter()
        exact = [flat.search(v[None], 100)[1][0] for v in q]
        exact_ms = (time.perf_counter() - started) * 1000 / len(q)
        started = time.perf_counter()
        found = []
        for v in q:
            candidates = ann.search(v[None], 200, params=params)[1][0]
            candidates = candidates[candidates >= 0]
            found.append(candidates[np.argsort(-(vectors[candidates] @ v))][:100])
        ann_ms = (time.perf_counter() - started) * 1000 / len(q)
        recall = np.mean(
            [len(set(f[:10]) & set(e[:10])) / 10 for f, e in zip(found, exact, strict=True)]
        )
        print(f"{n:>10,} {exact_ms:>7.2f}ms {ann_ms:>7.2f}ms {recall:>9.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paragraphs", type=int, default=1_000_000)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--index", type=Path, default=Path("index/bench-scale"))
    parser.add_argument("--sizes", action="store_true", help="exact vs approximate search by size")
    # One thread per question by default: on a busy 2-core machine, two threads that wait on
    # each other made one query embedding 16x slower (490 ms against 30 ms); a server gets its
    # parallelism from concurrent sessions.
    parser.add_argument("--threads", type=int, default=1, help="threads per question (1)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--queries", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sizes:
        sizes()
        return
    if args.measure:
        print(json.dumps(measure(args.measure, args.questions, args.queries, args.threads)))
        return

    texts, questions = squad_texts()
    bases = eval_vectors(ROOT / "index" / "eval" / "dev-v1.1")
    if bases is None:
        bases = embedded(args.index, "bases", texts)
    embedded(args.index, "questions", questions[:: max(1, len(questions) // 200)][:200])
    index_dir = args.index / f"{args.paragraphs}"
    timing_path = index_dir / "build.json"
    from rag.errors import RagError
    from rag.store import Index

    try:
        current = Index.open(index_dir).manifest.paragraphs == args.paragraphs
    except RagError:
        current = False
    if not current:
        timing = build(index_dir, args.paragraphs, draw=Clustered(bases))
        timing_path.write_text(json.dumps(timing))
    elif refresh(index_dir):
        print("the approximate index was rebuilt by the next commit", flush=True)
    timing = json.loads(timing_path.read_text())
    child = subprocess.run(
        [
            sys.executable,
            __file__,
            "--measure",
            str(index_dir),
            "--questions",
            str(args.questions),
            "--queries",
            str(args.index / "questions.npy"),
            "--threads",
            str(args.threads),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    row = json.loads(child.stdout.strip().splitlines()[-1])
    n = row["paragraphs"]
    print(f"index: {n:,} paragraphs, {row['sentences']:,} sentences; {json.dumps(row['vectors'])}")
    print(
        f"build: {timing['add_s']:.0f} s adding articles, {timing['commit_s']:.0f} s committing "
        "(keywords, files, approximate index)"
    )
    parts = {
        "paragraph vectors (exact)": ["paragraphs.faiss"],
        "paragraph inverted file (IVF)": ["paragraphs.ivf.faiss", "paragraphs.ivf.ids.npy"],
        "sentence vectors": ["sentences.faiss"],
        "text, offsets, entities (SQLite)": ["index.sqlite"],
    }
    disk = dict(row["disk"])
    for label, names in parts.items():
        size = sum(disk.pop(name, 0) for name in names)
        print(f"  {label:<34} {size / 2**20:>8,.0f} MB  {size / n:>7,.0f} bytes/paragraph")
    rest = sum(disk.values())
    print(
        f"  {'keywords, ids, manifest':<34} {rest / 2**20:>8,.0f} MB  "
        f"{rest / n:>7,.0f} bytes/paragraph"
    )
    print(
        f"memory: model {row['model_mb']:,.0f} MB, "
        f"+index {row['open_mb'] - row['model_mb']:,.0f} MB "
        f"(opened in {row['open_s']:.1f} s), after {args.questions} answers "
        f"{row['answered_mb']:,.0f} MB resident, {row['private_mb']:,.0f} MB private, "
        f"peak {row['peak_mb']:,.0f} MB"
    )
    print(f"answers: p50 {row['p50_ms']:.1f} ms, p95 {row['p95_ms']:.1f} ms")
    print(
        f"search of {row['queries']} SQuAD questions: approximate {row['search_ms']:.2f} ms, exact "
        f"{row['exact_ms']:.2f} ms ({row['exact_ms'] / row['search_ms']:.0f}x); recall against "
        f"exact @10 {row['recall']['10']:.3f}, @100 {row['recall']['100']:.3f}"
    )


if __name__ == "__main__":
    main()
