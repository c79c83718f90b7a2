"""The learned parts of retrieval and answering, each a small model kept as a JSON text file beside
this module: the ranker that orders the candidate paragraphs (linear), the answerability model that
says how likely the best of them answer the question, and the sentence model that ranks their
sentences for the answer (both gradient-boosted trees). `python -m rag.fit` refits them."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from rag.errors import ConfigError

MODELS = Path(__file__).resolve().parent
RANKER = "ranker.json"
ANSWERABILITY = "answerability.json"
SENTENCES = "sentences.json"
PHRASES = "phrases.json"
_FIX = "reinstall the package or refit with: python -m rag.fit"


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
        model = _parse(
            path,
            lambda data, version: cls(
                name=str(data["name"]),
                features=tuple(data["features"]),
                mean=np.asarray(data["mean"], dtype=np.float32),
                scale=np.asarray(data["scale"], dtype=np.float32),
                weights=np.asarray(data["weights"], dtype=np.float32),
                intercept=float(data["intercept"]),
                threshold=_threshold(data),
                version=version,
                notes=dict(data.get("notes", {})),
            ),
        )
        _check_features(path, model.features, features)
        shapes = {len(features)} == {len(model.mean), len(model.scale), len(model.weights)}
        numbers = np.concatenate([model.mean, model.scale, model.weights, [model.intercept]])
        if not shapes or not np.isfinite(numbers).all() or (model.scale <= 0).any():
            raise ConfigError(f"{path} holds malformed numbers; {_FIX}.")
        _check_threshold(path, model.threshold)
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


@dataclass(frozen=True)
class TreeModel:
    """Gradient-boosted regression trees: the sum of one leaf value per tree (and, for
    probabilities, its logistic). Kept as JSON: per tree, each split node's feature, threshold
    (a row goes left when its value is at most the threshold) and children, where a child below
    zero is leaf -1 - child of that tree."""

    name: str
    features: tuple[str, ...]
    trees: tuple[dict, ...]
    threshold: float | None
    version: str
    notes: dict
    # For a ranking model: how far below the best score a candidate may score and still be chosen.
    margin: float | None = None
    _paths: tuple = ()  # (split features, split thresholds, path matrix, path lengths, leaf values)

    @classmethod
    def load(cls, path: Path, features: tuple[str, ...]) -> TreeModel:
        """Read and check a model file; any problem is one line naming the file and the fix."""

        def build(data: dict, version: str) -> TreeModel:
            if data.get("kind") != "trees":
                raise ValueError("not a tree model")
            return cls(
                name=str(data["name"]),
                features=tuple(data["features"]),
                trees=tuple(_tree(t) for t in data["trees"]),
                threshold=_threshold(data),
                version=version,
                notes=dict(data.get("notes", {})),
                margin=None if data.get("margin") is None else float(data["margin"]),
            )

        model = _parse(path, build)
        _check_features(path, model.features, features)
        if not model.trees or not all(_well_formed(t, len(features)) for t in model.trees):
            raise ConfigError(f"{path} holds malformed trees; {_FIX}.")
        _check_threshold(path, model.threshold)
        if model.margin is not None and not 0.0 <= model.margin < math.inf:
            raise ConfigError(f"{path} has a margin that is negative or not finite; {_FIX}.")
        return model.compiled()

    def compiled(self) -> TreeModel:
        """The same model with its trees laid out for scoring many rows at once: every split is
        decided for every row in one comparison, and a leaf is reached when all the decisions on
        its path agree with it (one sparse product)."""
        features, thresholds, entries, lengths, values = [], [], [], [], []
        node_base = leaf_base = 0
        for tree in self.trees:
            leaves = len(tree["value"])
            features += tree["feature"]
            thresholds += tree["threshold"]
            values += tree["value"]
            stack = [(0, ())] if tree["feature"] else [(-1, ())]
            while stack:
                node, path = stack.pop()
                if node < 0:
                    leaf = leaf_base + (-1 - node)
                    entries += [(node_base + n, leaf, sign) for n, sign in path]
                    lengths.append((leaf, len(path)))
                    continue
                stack.append((tree["left"][node], (*path, (node, 1.0))))
                stack.append((tree["right"][node], (*path, (node, -1.0))))
            node_base += len(tree["feature"])
            leaf_base += leaves
        rows, columns, signs = zip(*entries, strict=True) if entries else ((), (), ())
        matrix = sp.csr_matrix((signs, (rows, columns)), shape=(node_base, leaf_base))
        need = np.zeros(leaf_base, dtype=np.float64)
        for leaf, length in lengths:
            need[leaf] = length
        paths = (
            np.asarray(features, dtype=np.int64),
            np.asarray(thresholds, dtype=np.float64),
            matrix.T.tocsr(),
            need,
            np.asarray(values, dtype=np.float64),
        )
        return TreeModel(**(self.__dict__ | {"_paths": paths}))

    def score(self, rows: np.ndarray) -> np.ndarray:
        """The summed leaf values of each row (higher is better)."""
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, len(self.features))
        features, thresholds, paths, need, values = self._paths or self.compiled()._paths
        # +1 where a row goes left at a split, -1 where it goes right; a leaf is reached when the
        # sum over its path equals the path's length.
        decisions = np.where(rows[:, features] <= thresholds, 1.0, -1.0)
        agreed = (paths @ decisions.T).T if len(features) else np.zeros((len(rows), len(need)))
        return (np.abs(agreed - need) < 0.5) @ values

    def probability(self, row: np.ndarray) -> float:
        """The logistic of one row's score: a probability, for the answerability model."""
        value = float(self.score(row)[0])
        return 1.0 / (1.0 + math.exp(-value)) if value > -700 else 0.0

    def to_json(self) -> str:
        """The file this model is kept in (version is derived from it, so not stored)."""
        data = {
            "name": self.name,
            "kind": "trees",
            "features": list(self.features),
            "threshold": None if self.threshold is None else round(self.threshold, 4),
            **({} if self.margin is None else {"margin": round(self.margin, 4)}),
            "notes": self.notes,
            "trees": [
                {key: tree[key] for key in ("feature", "threshold", "left", "right", "value")}
                for tree in self.trees
            ],
        }
        return json.dumps(data, separators=(",", ":")).replace('{"feature"', '\n{"feature"') + "\n"

    @classmethod
    def from_lightgbm(cls, booster, name: str, features: tuple[str, ...], **fields) -> TreeModel:
        """A fitted LightGBM booster's trees (numeric splits, no missing values) as a TreeModel."""
        trees = tuple(
            _from_lightgbm(info["tree_structure"]) for info in booster.dump_model()["tree_info"]
        )
        return cls(name=name, features=features, trees=trees, version="", **fields).compiled()


def _from_lightgbm(root: dict) -> dict:
    """One tree of LightGBM's dump as the arrays TreeModel keeps."""
    tree: dict[str, list] = {"feature": [], "threshold": [], "left": [], "right": [], "value": []}

    def walk(node: dict) -> int:
        if "split_index" not in node:
            tree["value"].append(float(node.get("leaf_value", 0.0)))
            return -len(tree["value"])
        if node.get("decision_type", "<=") != "<=":
            raise ValueError("only numeric splits (<=) can be kept")
        at = len(tree["feature"])
        tree["feature"].append(int(node["split_feature"]))
        tree["threshold"].append(float(node["threshold"]))
        tree["left"].append(0)
        tree["right"].append(0)
        tree["left"][at] = walk(node["left_child"])
        tree["right"][at] = walk(node["right_child"])
        return at

    walk(root)
    return tree


def _parse(path: Path, build):
    """build(data, version) from a model file's JSON; a file that cannot be read or built is one
    line naming it and the fix."""
    try:
        raw = path.read_bytes()
        return build(json.loads(raw), _version(path, raw))
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise ConfigError(
            f"{path} is missing or not a valid model file ({error.__class__.__name__}); {_FIX}."
        ) from None


def _threshold(data: dict) -> float | None:
    return None if data.get("threshold") is None else float(data["threshold"])


def _check_features(path: Path, found: tuple[str, ...], features: tuple[str, ...]) -> None:
    if found != features:
        raise ConfigError(
            f"{path} was fitted on other features ({', '.join(found)}) than this version "
            f"computes; {_FIX}."
        )


def _check_threshold(path: Path, threshold: float | None) -> None:
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"{path} has a threshold outside 0..1; {_FIX}.")


def _tree(data: dict) -> dict:
    tree = {
        "feature": [int(v) for v in data["feature"]],
        "threshold": [float(v) for v in data["threshold"]],
        "left": [int(v) for v in data["left"]],
        "right": [int(v) for v in data["right"]],
        "value": [float(v) for v in data["value"]],
    }
    return tree


def _well_formed(tree: dict, width: int) -> bool:
    """Every split names a feature and has two children that exist; every value is finite; a walk
    from the root meets every split once and every leaf once (so no loops, nothing left over)."""
    splits, leaves = len(tree["feature"]), len(tree["value"])
    if not leaves or {len(tree[k]) for k in ("threshold", "left", "right")} != {splits}:
        return False
    if not all(0 <= f < width for f in tree["feature"]):
        return False
    numbers = np.asarray(tree["threshold"] + tree["value"], dtype=np.float64)
    if not np.isfinite(numbers).all() or leaves != splits + 1:
        return False
    met, ends, stack = set(), set(), [0] if splits else [-1]
    while stack:
        node = stack.pop()
        if node < 0:
            if -1 - node in ends or -1 - node >= leaves:
                return False
            ends.add(-1 - node)
        elif node in met or node >= splits:
            return False
        else:
            met.add(node)
            stack += [tree["left"][node], tree["right"][node]]
    return len(met) == splits and len(ends) == leaves


def read_model(path: Path, features: tuple[str, ...]) -> LinearModel | TreeModel:
    """A model file of either kind, read and checked."""
    try:
        kind = json.loads(path.read_bytes()).get("kind", "linear")
    except (OSError, ValueError, AttributeError):
        kind = "linear"  # LinearModel.load reports the problem
    return TreeModel.load(path, features) if kind == "trees" else LinearModel.load(path, features)


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
def load_model(filename: str, features: tuple[str, ...]) -> LinearModel | TreeModel:
    """A packaged model, read once per process."""
    return read_model(MODELS / filename, features)
