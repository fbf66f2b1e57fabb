"""The published model learns from every photo; what it is calibrated and measured on stays out of fold.

Why (issue 16 item 2): a head fitted on the 70 % train split leaves 30 % of the photos,
a quarter of the ivory ones among them, teaching it nothing. Fitting on every photo
leaves no held-out photo to choose the temperature and thresholds on, or to measure
with. So the photos are cut into k folds (`train.crossval`: by content hash,
near-duplicates together) and, for each fold, a model fitted on the others answers for
it: those out-of-fold answers choose the temperature, the thresholds (the release
policy's included) and the out-of-catalogue rule, and give every reported number. The
published model is then fitted on all photos with the same recipe.

What:
* `Fold`: one fold's model on the photos it never saw (and on the out-of-catalogue photos),
  with the out-of-catalogue reference of the photos it trained on.
* `head_folds`: the folds of the linear head (head mode, quick update); the partial
  fine-tune builds its own (`train.partial_finetune`).
* `calibrate_oof`: `train.calibrate.calibrate` on the out-of-fold outputs, every
  out-of-catalogue score taken against the fold's own reference.
* `oof_outputs`: every photo's out-of-fold outputs and the pooled out-of-catalogue report
  photos, each with its score, ready for `train.fit.measure`.
* `save_oof` / `load_oof`: the out-of-fold logits and scores kept in the bundle (`oof.npz`),
  so an evaluation or a comparison scores this model out of fold too (`train.evaluate`,
  `train.compare`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from . import ood
from .bundle_meta import CrossValidation
from .calibrate import Calibration, Split3, calibrate, decision_shares, group_precision
from .crossval import HeadRecipe
from .decision_rule import ClassGroups
from .head import softmax
from .metrics import evaluate_probs
from .release import release_report

OOF_FILE = "oof.npz"


@dataclass(frozen=True)
class Fold:
    rows: np.ndarray  # indices of the fold's photos
    photos: Split3  # the fold's model on them (labels included)
    ood_tune: Split3 | None  # on the tuning half of the out-of-catalogue photos
    ood_report: Split3 | None  # on the report half
    ref: ood.OodReference  # out-of-catalogue reference of the photos it trained on


def take(split: Split3, rows) -> Split3:
    """The rows `rows` of a split (scores and labels included)."""
    pick = lambda a: None if a is None else a[rows]  # noqa: E731
    return Split3(split.logits[rows], split.features[rows], split.imagenet_logits[rows], pick(split.y),
                  pick(split.scores))


def _stack(parts: Sequence[Split3]) -> Split3:
    cat = lambda name: None if getattr(parts[0], name) is None else np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
    return Split3(cat("logits"), cat("features"), cat("imagenet_logits"), cat("y"), cat("scores"))


def head_folds(feats: np.ndarray, y: np.ndarray, imagenet_logits: np.ndarray, folds: np.ndarray, classes: int,
               recipe: HeadRecipe, ood_tune: tuple[np.ndarray, np.ndarray] | None = None,
               ood_report: tuple[np.ndarray, np.ndarray] | None = None, init=None) -> list[Fold]:
    """The linear head fitted on k-1 folds, for every fold. `ood_tune`/`ood_report`:
    (features, ImageNet logits) of out-of-catalogue photos; `init`: standardised weights
    to warm-start each fold's fit (a quick update's base head)."""
    out = []
    for k in range(int(folds.max()) + 1):
        test = folds == k
        head = recipe.fit(feats[~test], y[~test], classes, init=init)

        def outputs(f, img, truth=None):
            return Split3(f @ head.weight.T + head.bias, f, img, truth)

        out.append(Fold(np.nonzero(test)[0], outputs(feats[test], imagenet_logits[test], y[test]),
                        outputs(*ood_tune) if ood_tune is not None else None,
                        outputs(*ood_report) if ood_report is not None else None,
                        ood.OodReference.fit(feats[~test], y[~test], classes)))
    return out


def _in_photo_order(folds: Sequence[Fold], parts: Sequence[Split3]) -> Split3:
    rows = np.concatenate([f.rows for f in folds])
    order = np.empty_like(rows)
    order[rows] = np.arange(len(rows))
    return take(_stack(parts), order)


def calibrate_oof(folds: Sequence[Fold], classes: ClassGroups, methods=ood.METHODS) -> Calibration:
    """Temperature, thresholds and out-of-catalogue rule chosen on the out-of-fold outputs."""
    photos = _in_photo_order(folds, [f.photos for f in folds])

    def ood_scores(method: str, temperature: float):
        s_in = [ood.scores(method, f.photos.logits, f.photos.features, f.photos.imagenet_logits, temperature, f.ref)
                for f in folds]
        tune = [ood.scores(method, t.logits, t.features, t.imagenet_logits, temperature, f.ref)
                for f in folds if (t := f.ood_tune) is not None and len(t.logits)]
        return np.concatenate(s_in)[np.argsort(np.concatenate([f.rows for f in folds]))], \
            (np.concatenate(tune) if tune else None)

    return calibrate(photos, classes, folds[0].ref, None, methods, ood_scores)


def oof_outputs(folds: Sequence[Fold], cal: Calibration) -> tuple[Split3, Split3 | None]:
    """(every photo's out-of-fold outputs, the report-half out-of-catalogue photos under every
    fold's model, pooled), each with its calibrated out-of-catalogue score."""
    def scored(split: Split3, ref) -> Split3:
        return replace(split, scores=ood.scores(cal.ood_method, split.logits, split.features, split.imagenet_logits,
                                                cal.temperature, ref))

    photos = _in_photo_order(folds, [scored(f.photos, f.ref) for f in folds])
    report = [scored(f.ood_report, f.ref) for f in folds if f.ood_report is not None and len(f.ood_report.logits)]
    return photos, (_stack(report) if report else None)


def cv_report(photos: Split3, cal: Calibration, classes: ClassGroups, folds: int) -> CrossValidation:
    """Every photo, out of fold: accuracy, the served decisions, the release policy and the
    precision of GROUP answers."""
    probs = softmax(photos.logits, cal.temperature)
    return CrossValidation(folds, evaluate_probs(probs, photos.y, list(classes.labels), cal.thresholds.identify),
                           decision_shares(photos, cal, classes, None), group_precision(photos, cal, classes, None),
                           release_report(probs, photos.y, cal.rule(classes), photos.scores))


def save_oof(path: Path, shas: Sequence[str], folds: np.ndarray, photos: Split3) -> Path:
    """Out-of-fold logits and out-of-catalogue scores by content hash, and each photo's fold."""
    arrays = {"shas": np.array(list(shas)), "folds": folds.astype(np.int8), "logits": photos.logits.astype(np.float32)}
    if photos.scores is not None:
        arrays["scores"] = photos.scores.astype(np.float32)
    np.savez(path, **arrays)
    return path


@dataclass(frozen=True)
class OutOfFold:
    """A bundle's out-of-fold answers for the photos it was fitted on."""

    index: dict[str, int]  # content hash -> row
    logits: np.ndarray  # (n, classes)
    scores: np.ndarray | None  # (n,) calibrated out-of-catalogue scores

    def __contains__(self, sha: str) -> bool:
        return sha in self.index

    def rows(self, shas: Sequence[str]) -> np.ndarray:
        return np.array([self.index[s] for s in shas], np.int64)


def load_oof(bundle_dir: Path) -> OutOfFold | None:
    """The out-of-fold answers of a bundle fitted on every photo (None for any other bundle)."""
    path = Path(bundle_dir) / OOF_FILE
    if not path.exists():
        return None
    with np.load(path) as z:
        return OutOfFold({str(s): i for i, s in enumerate(z["shas"])}, z["logits"],
                         z["scores"] if "scores" in z.files else None)
