"""Cross-validation over every photo: folds that cannot leak, and out-of-fold predictions.

Why: the fixed 15 % test split holds 25 elephant-ivory photos, so one photo moves the
ivory score by 4 points and any choice made on it chases noise. Choices are made on
repeated k-fold cross-validation over all photos instead (`train.selection` adds the
intervals and tests), and the published model's temperature and thresholds are fitted
on out-of-fold predictions, so it can learn from every photo (`train.fit`).

What:
* `duplicate_groups`: near-duplicates (the same picture mirrored, re-cropped or
  re-encoded: different bytes, almost the same features) share a group. Caltech's
  leopards, for example, hold mirrored pairs at cosine 0.95 and re-cropped ones at 0.86.
* `assign_folds`: a group's fold is a function of its first content hash and the repeat
  number, so twins never straddle folds, adding photos never moves an old one, and each
  repeat cuts differently.
* `HeadRecipe` + `oof_logits`: the linear head (`train.head.fit_head`) fitted on k-1
  folds and applied to the k-th, for every fold; extra training rows (augmented views of
  a photo) follow their photo's fold. `default_recipe(labels)`: the recipe the protocol
  chose for the published head (`bench/accuracy_cv.py`, bench/RESULTS.md item 20).
* `cross_fitted`: a per-fold choice (temperature, thresholds) made on the other folds'
  out-of-fold predictions and applied to this fold, so the reported rates are not
  measured on the photos that chose them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

import numpy as np

from .head import fit_head

FOLDS = 5
# Cosine similarity of pooled features above which two photos count as near-duplicates.
# Measured on ../shared/photos (bench/accuracy_cv.py --duplicates): mirrored Caltech
# leopards 0.95-0.98, re-cropped cougars 0.86-0.92; at 0.85 the largest group is 23
# photos of one class and one source, at 0.80 groups start to chain across classes.
NEAR_DUPLICATE_COSINE = 0.85

T = TypeVar("T")


def duplicate_groups(features: np.ndarray, threshold: float = NEAR_DUPLICATE_COSINE) -> np.ndarray:
    """Group id per row: rows linked by a chain of cosine similarities >= `threshold` share
    one (the id is the index of the group's first row)."""
    n = len(features)
    if n == 0:
        return np.zeros(0, np.int64)
    unit = features.astype(np.float32)
    unit = unit / (np.linalg.norm(unit, axis=1, keepdims=True) + 1e-12)
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for start in range(0, n, 1024):  # blocks keep the similarity matrix small
        sims = unit[start:start + 1024] @ unit.T
        rows, cols = np.nonzero(sims >= threshold)
        for i, j in zip(rows + start, cols):
            if i < j:
                a, b = root(i), root(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return np.array([root(i) for i in range(n)])


def fold_of(key: str, repeat: int, folds: int = FOLDS) -> int:
    """The fold of a content hash in one repeat (uniform, stable, independent across repeats)."""
    digest = hashlib.sha256(f"{repeat}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % folds


def assign_folds(shas: Sequence[str], groups: np.ndarray | None = None, repeat: int = 0,
                 folds: int = FOLDS) -> np.ndarray:
    """Fold per photo; photos of one duplicate group take the fold of its first member's hash."""
    if groups is None:
        groups = np.arange(len(shas))
    return np.array([fold_of(shas[g], repeat, folds) for g in groups], dtype=np.int64)


@dataclass(frozen=True)
class HeadRecipe:
    """How the linear head is fitted: L2 strength, class balancing (weights ~ count^-balance;
    0.5 is `fit_head`'s square-root balancing, 0 none, 1 full) and per-class cost factors
    (`class_scale`, one per class, or empty for none)."""

    l2: float = 1e-2
    balance: float = 0.5
    class_scale: tuple[float, ...] = ()
    max_iter: int = 150

    def fit(self, x: np.ndarray, y: np.ndarray, classes: int, init=None):
        return fit_head(x, y, x[:0], y[:0], classes, l2_grid=(self.l2,), max_iter=self.max_iter, init=init,
                        balance=self.balance, class_scale=np.array(self.class_scale) if self.class_scale else None)


ELEPHANT_IVORY_COST = 2.0  # errors on elephant ivory cost twice: recall 0.711 -> 0.747, nothing significantly worse


def default_recipe(labels: Sequence[str]) -> HeadRecipe:
    """The published head's recipe: L2 0.01, square-root class balancing, and elephant-ivory
    errors costing `ELEPHANT_IVORY_COST` times as much (the one lever that won under the
    protocol at no cost per photo; bench/RESULTS.md item 20)."""
    from .card import ELEPHANT_IVORY_CLASSES

    scale = tuple(ELEPHANT_IVORY_COST if label in ELEPHANT_IVORY_CLASSES else 1.0 for label in labels)
    return HeadRecipe(class_scale=scale if any(s != 1.0 for s in scale) else ())


def oof_logits(feats: np.ndarray, y: np.ndarray, folds: np.ndarray, classes: int,
               recipe: HeadRecipe = HeadRecipe(), extra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
               apply_to: Sequence[np.ndarray] = ()) -> tuple[np.ndarray, list[np.ndarray]]:
    """Out-of-fold logits of every photo, and of each array in `apply_to` under every fold's head.

    `extra`: (features, labels, owner photo index) of additional training rows, e.g.
    augmented views; a row trains the heads of the folds its owner is not in.
    Returns (logits (n, classes), [ (folds, m, classes) per `apply_to` array ])."""
    out = np.zeros((len(y), classes), np.float32)
    applied = [np.zeros((folds.max() + 1, len(a), classes), np.float32) for a in apply_to]
    for k in range(int(folds.max()) + 1):
        test = folds == k
        x_train, y_train = feats[~test], y[~test]
        if extra is not None:
            keep = ~test[extra[2]]
            x_train = np.concatenate([x_train, extra[0][keep]])
            y_train = np.concatenate([y_train, extra[1][keep]])
        head = recipe.fit(x_train, y_train, classes)
        out[test] = feats[test] @ head.weight.T + head.bias
        for a, target in zip(apply_to, applied):
            target[k] = a @ head.weight.T + head.bias
    return out, applied


def cross_fitted(folds: np.ndarray, choose: Callable[[np.ndarray], T]) -> list[T]:
    """`choose(mask of the other folds' photos)` for every fold: a choice (a temperature,
    thresholds) that fold k's own photos did not influence, to be applied to fold k."""
    return [choose(folds != k) for k in range(int(folds.max()) + 1)]
