"""Photos whose label looks wrong, for a trainer to review (never removed automatically).

Each photo is judged by a head that never saw it: the photos are cut into K folds
(stratified by class), a linear head is fitted on the cached features of K-1 folds
and predicts the held-out fold (out-of-fold probabilities, as in confident
learning, Northcutt et al. 2021). A photo is flagged when

* `OTHER_CLASS`: another class gets at least `min_other` of the probability and
  its own label at most `max_given` -- a lion filed under tiger; or
* `UNLIKE_CLASS`: its features are far from its class: cosine similarity to the
  class centroid (computed without the photo's fold) under `rel_similarity` times
  the class's median similarity -- tiger lilies, prawns and fabric filed under
  tiger, which are no other class. (The head's probability is no help there: with
  no competing class, a tiger lily can still get 0.9 "tiger".)

Flags come sorted by class, then by how little the photo looks like its label.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Sequence

import numpy as np

from .head import fit_head, softmax


class FlagReason(str, Enum):
    OTHER_CLASS = "other_class"
    UNLIKE_CLASS = "unlike_class"


@dataclass(frozen=True)
class NoiseFlag:
    index: int  # row in the inputs
    label: str  # the label it has
    suggested: str  # the class the out-of-fold head prefers
    p_given: float  # out-of-fold probability of its own label
    p_suggested: float
    similarity: float  # cosine similarity to its class centroid (out of fold)
    reason: FlagReason
    sha256: str = ""
    path: str = ""


@dataclass(frozen=True)
class NoiseConfig:
    folds: int = 5
    min_other: float = 0.6
    max_given: float = 0.15
    rel_similarity: float = 0.55
    l2: float = 1e-2
    max_iter: int = 50
    seed: int = 0


def stratified_folds(y: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """Fold number per row; each class spread evenly over the folds (random order within a class)."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), np.int64)
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        rng.shuffle(rows)
        fold[rows] = np.arange(len(rows)) % folds
    return fold


def _unit(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)


def out_of_fold(features: np.ndarray, y: np.ndarray, classes: int,
                cfg: NoiseConfig = NoiseConfig()) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, similarity to own-class centroid), each from a model that did not see the row."""
    fold = stratified_folds(y, cfg.folds, cfg.seed)
    probs = np.zeros((len(y), classes))
    sim = np.zeros(len(y))
    unit = _unit(features.astype(np.float64))
    empty = features[:0]
    for k in range(cfg.folds):
        held, train = fold == k, fold != k
        if not held.any():
            continue
        head = fit_head(features[train], y[train], empty, y[:0], classes, l2_grid=(cfg.l2,), max_iter=cfg.max_iter)
        probs[held] = softmax(features[held] @ head.weight.T + head.bias)
        centroids = np.zeros((classes, features.shape[1]))
        for c in range(classes):
            rows = train & (y == c)
            if rows.any():
                centroids[c] = unit[rows].mean(0)
        centroids = _unit(centroids)
        sim[held] = np.einsum("ij,ij->i", unit[held], centroids[y[held]])
    return probs, sim


def find_label_noise(features: np.ndarray, labels: Sequence[str], y: np.ndarray,
                     cfg: NoiseConfig = NoiseConfig(), only: Sequence[str] | None = None,
                     shas: Sequence[str] | None = None, paths: Sequence[str] | None = None) -> list[NoiseFlag]:
    """Flags for the rows of `features` (labels[y[i]] is row i's label); `only`: report these classes."""
    if len(features) != len(y):
        raise ValueError(f"{len(features)} feature rows but {len(y)} labels")
    probs, sim = out_of_fold(features, y, len(labels), cfg)
    flags = []
    for c, label in enumerate(labels):
        if only is not None and label not in only:
            continue
        rows = np.flatnonzero(y == c)
        if len(rows) == 0:
            continue
        cutoff = cfg.rel_similarity * float(np.median(sim[rows]))
        for i in rows:
            p = probs[i].copy()
            p_given = float(p[c])
            p[c] = -1
            other = int(p.argmax())
            reason = None
            if p[other] >= cfg.min_other and p_given <= cfg.max_given:
                reason = FlagReason.OTHER_CLASS
            elif sim[i] <= cutoff:
                reason = FlagReason.UNLIKE_CLASS
            if reason is not None:
                flags.append(NoiseFlag(int(i), label, labels[other], p_given, float(p[other]), float(sim[i]), reason,
                                       shas[i] if shas is not None else "", str(paths[i]) if paths is not None else ""))
    return sorted(flags, key=lambda f: (f.label, f.p_given * f.similarity))


def flag_photos(photos, features: np.ndarray, labels: Sequence[str] | None = None,
                cfg: NoiseConfig = NoiseConfig(), only: Sequence[str] | None = None) -> list[NoiseFlag]:
    """Flags for `photos` (species_data Photo records) with their features, e.g. from
    `train.features.features_of`. All photos take part; `only` limits what is reported."""
    labels = list(labels or sorted({p.label for p in photos}))
    y = np.array([labels.index(p.label) for p in photos])
    return find_label_noise(features, labels, y, cfg, only, [p.sha256 for p in photos],
                            [str(p.path) for p in photos])


def flag_bundle_photos(bundle_path: Path, data_dir: Path = Path("data"), add=(), remove=(),
                       only: Sequence[str] | None = None, cfg: NoiseConfig = NoiseConfig()) -> list[NoiseFlag]:
    """Flags for a bundle's photos (its manifest, plus `add`, minus `remove`): what the
    trainer's review grid shows. Photos missing from the embedding cache are embedded."""
    from .bundle import Bundle
    from .features import cache_for, embedder_for, features_of
    from .quick_update import merge_photos, photos_from_manifest

    bundle = Bundle.load(bundle_path)
    photos = list(merge_photos(photos_from_manifest(bundle.manifest()), add, remove).photos)
    feats, photos, _, _ = features_of(photos, lambda: embedder_for(bundle), bundle.meta.preprocessing,
                                      cache_for(bundle, data_dir))
    return flag_photos(photos, feats, None, cfg, only)
