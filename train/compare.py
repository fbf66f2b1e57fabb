"""Candidate vs published model, on the same photos, before anyone publishes.

Both models are scored on the candidate's split (default: test) of its manifest:
the split of a photo is fixed by its hash, so old photos are the same photos the
published model was measured on, minus removed ones, plus new ones. With cached
features this takes a fraction of a second (heads are linear maps of features).
When a model's features are not cached (a fine-tuned backbone nobody embedded with
yet) each model's own stored metrics are compared instead, and `same_photos` says so.
A model fitted on every photo has seen the compared photos: it is scored on them by its
out-of-fold logits (`oof.npz`), never in-sample.

`needs_override` is true when an existing class's recall or the top-1 accuracy on
the classes both models know drops by more than `tolerance`: publishing then needs
a trainer's explicit override with a reason (kept in the audit log).

A class with no photo in the compared split was not measured, and one with fewer than
`MIN_TEST_PHOTOS` was measured too thinly to tell: the verdict names both instead of
saying that no class got worse (`Comparison.unmeasured`, `Comparison.thin`). A new
class with few test photos shows its recall by k-fold cross-validation over all its
photos (`train.class_cv`, computed by the quick update).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from species_data.dataset import Split

from .bundle import Bundle
from .class_cv import MIN_TEST_PHOTOS, ClassRecall
from .head import softmax
from .metrics import reliability
from .typed_json import to_json

DEFAULT_TOLERANCE = 0.02


class RegressionKind(str, Enum):
    CLASS_RECALL = "class_recall"  # an existing class is recognised less often
    OVERALL_TOP1 = "overall_top1"  # top-1 on the classes both models know went down
    CLASS_DROPPED = "class_dropped"  # the candidate no longer knows a class


@dataclass(frozen=True)
class Regression:
    kind: RegressionKind
    label: str | None
    before: float | None
    after: float | None


@dataclass(frozen=True)
class ClassChange:
    label: str
    n: int  # photos of the class in the compared split
    before: float | None  # recall of the published model; None: it does not know the class
    after: float | None  # recall of the candidate; None: the candidate dropped the class
    is_new: bool
    worse: bool  # dropped by more than the tolerance
    kfold: ClassRecall | None = None  # a new class's recall by k-fold CV over all its photos

    @property
    def delta(self) -> float | None:
        return None if self.before is None or self.after is None else self.after - self.before

    @property
    def tested_on(self) -> int:
        """Photos that measured the class: its photos of the split, or, for a new class with
        few of them, every photo of the class by k-fold CV."""
        return self.kfold.photos if self.kfold is not None else self.n

    @property
    def measured(self) -> bool:
        return self.tested_on > 0

    @property
    def thin(self) -> bool:
        """Scored on too few photos to tell a change from noise (k-fold photos included)."""
        return 0 < self.tested_on < MIN_TEST_PHOTOS


@dataclass(frozen=True)
class Comparison:
    candidate: str
    published: str
    split: str
    tolerance: float
    same_photos: bool  # True: both scored on the candidate's photos; False: stored metrics
    classes: tuple[ClassChange, ...]
    top1_before: float  # on photos of classes both models know
    top1_after: float
    top1_all_after: float  # the candidate on all its photos, new classes included
    n_common: int
    n_all: int
    ece_before: float
    ece_after: float
    regressions: tuple[Regression, ...]
    labels: tuple[str, ...]  # the candidate's
    confusion: tuple[tuple[int, ...], ...]  # the candidate's, rows = true, cols = predicted
    reliability: dict  # the candidate's reliability bins on test (confidence, accuracy, count, ece)
    plots: tuple[str, ...]  # PNG files in the candidate bundle (confusion, reliability)

    @property
    def needs_override(self) -> bool:
        return bool(self.regressions)

    @property
    def top1_delta(self) -> float:
        return self.top1_after - self.top1_before

    @property
    def new_classes(self) -> tuple[str, ...]:
        return tuple(c.label for c in self.classes if c.is_new)

    @property
    def unmeasured(self) -> tuple[str, ...]:
        """Classes the candidate knows that no photo of the split measured."""
        return tuple(c.label for c in self.classes if not c.measured and c.label in self.labels)

    @property
    def thin(self) -> tuple[str, ...]:
        return tuple(c.label for c in self.classes if c.thin)

    @property
    def min_photos(self) -> int:
        """Below this many photos in the split a class's recall is too thin to compare."""
        return MIN_TEST_PHOTOS

    def to_dict(self) -> dict:
        d = asdict(self)
        d["needs_override"] = self.needs_override
        d["top1_delta"] = self.top1_delta
        d["unmeasured"], d["thin"] = list(self.unmeasured), list(self.thin)
        for r in d["regressions"]:
            r["kind"] = r["kind"].value
        return d


def _head(bundle: Bundle) -> tuple[np.ndarray, np.ndarray]:
    from .weights import load_arrays

    state = load_arrays(bundle.weights_path)
    return state["head.weight"].astype(np.float64), state["head.bias"].astype(np.float64)


def _logits(bundle: Bundle, photos, feats: np.ndarray) -> np.ndarray:
    """The bundle's logits for `photos`: out of fold for the photos a model fitted on every
    photo has seen (`train.every_photo`), its head on their features for the others."""
    from .every_photo import load_oof

    w, b = _head(bundle)
    logits = feats.astype(np.float64) @ w.T + b
    oof = load_oof(bundle.path)
    if oof is not None:
        seen = [i for i, p in enumerate(photos) if p.sha256 in oof]
        logits[seen] = oof.logits[oof.rows([photos[i].sha256 for i in seen])]
    return logits


def _features(bundle: Bundle, photos, data_dir: Path) -> np.ndarray | None:
    from .features import cache_for, cached_features

    return cached_features(photos, cache_for(bundle, data_dir))


def compare(candidate: Bundle, published: Bundle, data_dir: Path = Path("data"), split: str = "test",
            tolerance: float = DEFAULT_TOLERANCE) -> Comparison:
    from .quick_update import photos_from_manifest

    Split(split)  # refuse a typo early
    photos = [p for p in photos_from_manifest(candidate.manifest()) if p.split.value == split]
    f_new = _features(candidate, photos, data_dir) if photos else None
    f_old = _features(published, photos, data_dir) if f_new is not None else None
    if f_new is not None and f_old is not None:
        scores = _scores_on_photos(candidate, published, photos, f_new, f_old)
        same = True
    else:
        scores = _scores_from_metrics(candidate, published, split)
        same = False
    return _build(candidate, published, split, tolerance, same, *scores)


def _scores_on_photos(candidate, published, photos, f_new, f_old):
    """Per class (n, recall before, recall after) and the overall numbers, on the same photos."""
    truth = np.array([p.label for p in photos])
    out = {}
    for name, bundle, feats in (("after", candidate, f_new), ("before", published, f_old)):
        probs = softmax(_logits(bundle, photos, feats), bundle.meta.temperature)
        pred = np.array(bundle.meta.labels)[probs.argmax(1)]
        out[name] = (probs, pred == truth)
    known_before = np.isin(truth, published.meta.labels)
    common = known_before & np.isin(truth, candidate.meta.labels)
    per_class = {}
    for label in sorted(set(truth)):
        rows = truth == label
        before = float(out["before"][1][rows].mean()) if label in published.meta.labels else None
        after = float(out["after"][1][rows].mean()) if label in candidate.meta.labels else None
        per_class[label] = (int(rows.sum()), before, after)
    for label in published.meta.labels:
        per_class.setdefault(label, (0, None, None))

    def ece(probs, bundle) -> float:
        idx = np.array([bundle.meta.labels.index(t) for t in truth[common]])
        return reliability(probs[common], idx)[3] if common.any() else float("nan")

    top1_before = float(out["before"][1][common].mean()) if common.any() else float("nan")
    top1_after = float(out["after"][1][common].mean()) if common.any() else float("nan")
    top1_all = float(out["after"][1].mean()) if len(truth) else float("nan")
    return (per_class, top1_before, top1_after, top1_all, int(common.sum()), len(truth),
            ece(out["before"][0], published), ece(out["after"][0], candidate))


def _scores_from_metrics(candidate, published, split):
    """The same numbers from each bundle's stored metrics (each on its own photos)."""
    m_new, m_old = candidate.meta.metrics.split(split), published.meta.metrics.split(split)
    recall_old = {c.label: c.recall for c in m_old.per_class}
    per_class = {}
    for c in m_new.per_class:
        per_class[c.label] = (c.support, recall_old.get(c.label), c.recall)
    for c in m_old.per_class:
        per_class.setdefault(c.label, (0, c.recall, None))
    common = [l for l in candidate.meta.labels if l in recall_old]

    def top1(metrics, labels) -> tuple[float, int]:
        cm = np.asarray(metrics.confusion)
        idx = [labels.index(l) for l in common]
        total = cm[idx].sum()
        return (float(cm[idx, idx].sum() / total) if total else float("nan")), int(total)

    before, _ = top1(m_old, published.meta.labels)
    after, n_common = top1(m_new, candidate.meta.labels)
    return (per_class, before, after, m_new.top1, n_common, m_new.n, m_old.ece, m_new.ece)


def _build(candidate, published, split, tolerance, same, per_class, top1_before, top1_after, top1_all,
           n_common, n_all, ece_before, ece_after) -> Comparison:
    changes, regressions = [], []
    order = list(candidate.meta.labels) + [l for l in published.meta.labels if l not in candidate.meta.labels]
    kfold = {label: r.kfold for label, r in candidate.meta.metrics.new_classes.items() if r.kfold is not None}
    for label in order:
        n, before, after = per_class.get(label, (0, None, None))
        is_new = label not in published.meta.labels
        worse = False
        if label not in candidate.meta.labels:
            worse = True
            regressions.append(Regression(RegressionKind.CLASS_DROPPED, label, before, None))
        elif before is not None and after is not None and before - after > tolerance + 1e-9:
            worse = True
            regressions.append(Regression(RegressionKind.CLASS_RECALL, label, before, after))
        changes.append(ClassChange(label, n, before, after, is_new, worse, kfold.get(label) if is_new else None))
    if top1_before == top1_before and top1_after == top1_after and top1_before - top1_after > tolerance + 1e-9:
        regressions.insert(0, Regression(RegressionKind.OVERALL_TOP1, None, top1_before, top1_after))
    metrics = candidate.meta.metrics.split(split)
    plots = tuple(str(candidate.path / f) for f in (f"confusion_{split}.png", "reliability_test.png"))
    return Comparison(
        candidate=candidate.meta.version, published=published.meta.version, split=split, tolerance=tolerance,
        same_photos=same, classes=tuple(changes), top1_before=top1_before, top1_after=top1_after,
        top1_all_after=top1_all, n_common=n_common, n_all=n_all, ece_before=float(ece_before),
        ece_after=float(ece_after), regressions=tuple(regressions), labels=tuple(candidate.meta.labels),
        confusion=tuple(tuple(r) for r in metrics.confusion),
        reliability=to_json(candidate.meta.metrics.reliability_test), plots=plots)


def format_table(c: Comparison) -> str:
    """Plain-text table for the command line (the app renders its own, translated)."""
    def pct(x):
        return "   -  " if x is None or x != x else f"{100 * x:5.1f}%"

    lines = [f"{c.candidate} vs {c.published} on {c.split} "
             f"({'same photos' if c.same_photos else 'each on its own photos: stored metrics'})",
             f"{'class':<24} {'photos':>6} {'before':>7} {'after':>7} {'delta':>7}"]
    for ch in c.classes:
        delta = "  new " if ch.is_new else ("   -  " if ch.delta is None else f"{100 * ch.delta:+5.1f}%")
        note = "  WORSE" if ch.worse else "  not measured" if not ch.measured else "  too few photos" if ch.thin else ""
        if ch.kfold is not None:
            note += (f"  k-fold over its {ch.kfold.photos} photos: {pct(ch.kfold.recall).strip()} "
                     f"[{pct(ch.kfold.low).strip()}, {pct(ch.kfold.high).strip()}]")
        lines.append(f"{ch.label:<24} {ch.n:>6} {pct(ch.before):>7} {pct(ch.after):>7} {delta:>7}{note}")
    lines.append(f"top-1 on shared classes ({c.n_common} photos): {pct(c.top1_before)} -> {pct(c.top1_after)} "
                 f"({100 * c.top1_delta:+.1f} points); all {c.n_all} photos: {pct(c.top1_all_after)}")
    lines.append(f"calibration error (ECE): {c.ece_before:.3f} -> {c.ece_after:.3f}")
    lines.append("needs an override to publish: " + ("yes" if c.needs_override else "no"))
    if c.unmeasured:
        lines.append(f"not measured (no {c.split} photo): {', '.join(c.unmeasured)}")
    if c.thin:
        lines.append(f"fewer than {MIN_TEST_PHOTOS} {c.split} photos, too few to tell: {', '.join(c.thin)}")
    return "\n".join(lines)
