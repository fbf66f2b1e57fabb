"""Recall of one class by k-fold cross-validation over its own photos.

Why: a trainer's new class often has a dozen photos, so the test split (15 % of them,
by hash) holds one or two, or none: a recall measured there says nothing, and "no class
got worse" would be said about a class nobody measured (issue 16 item 6). Every photo of
the class is tested once instead: the head is fitted on the other classes' training
photos plus the class's photos outside one fold, and tested on that fold.

What: `kfold_class_recall` -> `ClassRecall` (hits, photos, recall with its Wilson
interval). `MIN_TEST_PHOTOS`: below this many test photos a class is measured this way.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from .crossval import HeadRecipe, fold_of
from .selection import wilson

MIN_TEST_PHOTOS = 10
FOLDS = 5


@dataclass(frozen=True)
class ClassRecall:
    label: str
    photos: int
    hits: int
    folds: int
    recall: float
    low: float  # 95 % Wilson interval
    high: float

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ClassRecall":
        return cls(**d)


def kfold_class_recall(feats: np.ndarray, y: np.ndarray, shas: Sequence[str], train_mask: np.ndarray, label: str,
                       labels: Sequence[str], recipe: HeadRecipe = HeadRecipe(), folds: int = FOLDS) -> ClassRecall:
    """Recall of `label` with each of its photos tested once: k folds over its photos (by
    content hash), the other classes trained on their `train_mask` photos."""
    c = list(labels).index(label)
    own = np.nonzero(y == c)[0]
    if len(own) < 2:
        raise ValueError(f"class {label!r} has {len(own)} photo(s); k-fold recall needs at least 2")
    k = min(folds, len(own))
    fold = np.array([fold_of(shas[i], 0, k) for i in own])
    if len(set(fold)) < 2:  # a handful of photos may all hash to one fold: spread them
        fold = np.arange(len(own)) % k
    others = np.nonzero(train_mask & (y != c))[0]
    hits = 0
    for j in sorted(set(fold)):
        rows = np.r_[others, own[fold != j]]
        head = recipe.fit(feats[rows], y[rows], len(labels))
        test = own[fold == j]
        hits += int(np.sum((feats[test] @ head.weight.T + head.bias).argmax(1) == c))
    low, high = wilson(hits, len(own))
    return ClassRecall(label, int(len(own)), hits, int(len(set(fold))), hits / len(own), low, high)
