"""Classification metrics on probability matrices (numpy only)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class ClassMetrics:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class SplitMetrics:
    """Classification metrics of one split (validation or test) at the identify threshold."""

    n: int
    top1: float
    top5: float
    macro_f1: float
    ece: float
    nll: float
    abstain_rate: float  # share of photos under the identify threshold
    answered_accuracy: float  # top-1 accuracy on the photos that pass it
    threshold: float
    per_class: tuple[ClassMetrics, ...]
    confusion: tuple[tuple[int, ...], ...]  # rows = true, cols = predicted

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SplitMetrics":
        d = dict(d)
        d["per_class"] = tuple(ClassMetrics(**c) for c in d["per_class"])
        d["confusion"] = tuple(tuple(r) for r in d["confusion"])
        return cls(**d)

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.per_class]

    def subset_accuracy(self, labels: Sequence[str]) -> float:
        """Recall averaged over photos of these classes (their share of correct top-1)."""
        names = [c.label for c in self.per_class]
        idx = [names.index(l) for l in labels if l in names]
        cm = np.asarray(self.confusion)
        total = cm[idx].sum()
        return float(cm[idx, idx].sum() / total) if total else float("nan")


def topk_accuracy(probs: np.ndarray, y: np.ndarray, k: int) -> float:
    if len(y) == 0:
        return float("nan")
    k = min(k, probs.shape[1])
    top = np.argpartition(-probs, k - 1, axis=1)[:, :k]
    return float(np.mean([y[i] in top[i] for i in range(len(y))]))


def confusion_matrix(y: np.ndarray, pred: np.ndarray, classes: int) -> np.ndarray:
    cm = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    return cm


def reliability(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(bin confidence, bin accuracy, bin count, expected calibration error)."""
    conf = probs.max(1)
    correct = (probs.argmax(1) == y).astype(np.float64)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    count = np.bincount(which, minlength=bins).astype(np.float64)
    mean_conf = np.bincount(which, conf, bins) / np.maximum(count, 1)
    mean_acc = np.bincount(which, correct, bins) / np.maximum(count, 1)
    ece = float((np.abs(mean_conf - mean_acc) * count).sum() / max(len(y), 1))
    return mean_conf, mean_acc, count, ece


@dataclass(frozen=True)
class Reliability:
    """Reliability diagram bins (mean confidence, accuracy, photos) and the calibration error."""

    confidence: tuple[float, ...]
    accuracy: tuple[float, ...]
    count: tuple[float, ...]
    ece: float


def reliability_bins(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> Reliability:
    conf, acc, count, ece = reliability(probs, y, bins)
    return Reliability(tuple(conf.tolist()), tuple(acc.tolist()), tuple(count.tolist()), ece)


def choose_threshold(probs: np.ndarray, y: np.ndarray, target_precision: float = 0.95) -> float:
    """Lowest confidence threshold whose answered photos are at least `target_precision` correct."""
    if len(y) == 0:
        return 0.5
    conf = probs.max(1)
    correct = probs.argmax(1) == y
    order = np.argsort(-conf)
    running = np.cumsum(correct[order]) / np.arange(1, len(y) + 1)
    ok = np.nonzero(running >= target_precision)[0]
    if len(ok) == 0:
        return float(conf.max())
    return float(conf[order][ok[-1]])


def evaluate_probs(probs: np.ndarray, y: np.ndarray, labels: Sequence[str], threshold: float) -> SplitMetrics:
    classes = len(labels)
    pred = probs.argmax(1) if len(y) else np.zeros(0, np.int64)
    cm = confusion_matrix(y, pred, classes)
    per_class = []
    for c, label in enumerate(labels):
        tp = cm[c, c]
        p = tp / cm[:, c].sum() if cm[:, c].sum() else 0.0
        r = tp / cm[c].sum() if cm[c].sum() else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        per_class.append(ClassMetrics(label, float(p), float(r), float(f), int(cm[c].sum())))
    present = [c for c in per_class if c.support > 0]
    _, _, _, ece = reliability(probs, y) if len(y) else (None, None, None, float("nan"))
    answered = probs.max(1) >= threshold if len(y) else np.zeros(0, bool)
    nll = float(-np.mean(np.log(probs[np.arange(len(y)), y] + 1e-12))) if len(y) else float("nan")
    return SplitMetrics(
        n=int(len(y)),
        top1=float(np.mean(pred == y)) if len(y) else float("nan"),
        top5=topk_accuracy(probs, y, 5),
        macro_f1=float(np.mean([c.f1 for c in present])) if present else float("nan"),
        ece=ece,
        nll=nll,
        abstain_rate=float(1 - answered.mean()) if len(y) else float("nan"),
        answered_accuracy=float(np.mean(pred[answered] == y[answered])) if answered.any() else float("nan"),
        threshold=float(threshold),
        per_class=tuple(per_class),
        confusion=tuple(tuple(int(v) for v in row) for row in cm),
    )


def most_confused(metrics: SplitMetrics, top: int = 5) -> list[tuple[str, str, int]]:
    """(true, predicted, count) for the largest off-diagonal cells."""
    cm = np.asarray(metrics.confusion)
    names = [c.label for c in metrics.per_class]
    pairs = [(names[i], names[j], int(cm[i, j])) for i in range(len(names)) for j in range(len(names))
             if i != j and cm[i, j] > 0]
    return sorted(pairs, key=lambda t: -t[2])[:top]
