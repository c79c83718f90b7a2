"""The learned parts of retrieval, each a small linear model kept as a JSON text file beside this
module: the ranker that orders the candidate paragraphs and the answerability model that says how
likely the best of them answer the question. `python -m rag.fit` refits both."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from rag.errors import ConfigError

MODELS = Path(__file__).resolve().parent
RANKER = "ranker.json"
ANSWERABILITY = "answerability.json"


@dataclass(frozen=True)
class LinearModel:
    """Standardize the named features, then a weighted sum (and, for probabilities, a logistic)."""

    name: str
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    intercept: float
    threshold: float | None  # the default operating point, for a probability model
    version: str  # a hash of the file's content: what the manifest and eval results record
    notes: dict

    @classmethod
    def load(cls, path: Path, features: tuple[str, ...]) -> LinearModel:
        """Read and check a model file; any problem is one line naming the file and the fix."""
        fix = "reinstall the package or refit with: python -m rag.fit"
        try:
            raw = path.read_bytes()
            data = json.loads(raw)
            model = cls(
                name=str(data["name"]),
                features=tuple(data["features"]),
                mean=np.asarray(data["mean"], dtype=np.float32),
                scale=np.asarray(data["scale"], dtype=np.float32),
                weights=np.asarray(data["weights"], dtype=np.float32),
                intercept=float(data["intercept"]),
                threshold=None if data.get("threshold") is None else float(data["threshold"]),
                version=_version(path, raw),
                notes=dict(data.get("notes", {})),
            )
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise ConfigError(
                f"{path} is missing or not a valid model file ({error.__class__.__name__}); {fix}."
            ) from None
        if model.features != features:
            raise ConfigError(
                f"{path} was fitted on other features ({', '.join(model.features)}) than this "
                f"version computes; {fix}."
            )
        shapes = {len(features)} == {len(model.mean), len(model.scale), len(model.weights)}
        numbers = np.concatenate([model.mean, model.scale, model.weights, [model.intercept]])
        if not shapes or not np.isfinite(numbers).all() or (model.scale <= 0).any():
            raise ConfigError(f"{path} holds malformed numbers; {fix}.")
        if model.threshold is not None and not 0.0 <= model.threshold <= 1.0:
            raise ConfigError(f"{path} has a threshold outside 0..1; {fix}.")
        return model

    def score(self, rows: np.ndarray) -> np.ndarray:
        """The linear score of each row (higher is better)."""
        rows = np.asarray(rows, dtype=np.float32).reshape(-1, len(self.features))
        return ((rows - self.mean) / self.scale) @ self.weights + self.intercept

    def probability(self, row: np.ndarray) -> float:
        """The logistic of one row's score: a probability, for the answerability model."""
        value = float(self.score(row)[0])
        return 1.0 / (1.0 + math.exp(-value)) if value > -700 else 0.0

    def to_json(self) -> str:
        """The file this model is kept in (version is derived from it, so not stored)."""
        data = {
            "name": self.name,
            "features": list(self.features),
            "mean": [round(float(v), 6) for v in self.mean],
            "scale": [round(float(v), 6) for v in self.scale],
            "weights": [round(float(v), 6) for v in self.weights],
            "intercept": round(self.intercept, 6),
            "threshold": None if self.threshold is None else round(self.threshold, 4),
            "notes": self.notes,
        }
        return json.dumps(data, indent=1) + "\n"


def _version(path: Path, raw: bytes) -> str:
    return f"{path.stem}-{hashlib.sha256(raw).hexdigest()[:12]}"


def file_version(filename: str) -> str:
    """A packaged model's version from its file alone, without loading it (so an index can be
    written, and a model refitted, while the file in place is one this code cannot use)."""
    path = MODELS / filename
    try:
        return _version(path, path.read_bytes())
    except OSError:
        return f"{path.stem}-missing"


@cache
def load_model(filename: str, features: tuple[str, ...]) -> LinearModel:
    """A packaged model, read once per process."""
    return LinearModel.load(MODELS / filename, features)
