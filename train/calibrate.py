"""After the weights: temperature, decision thresholds and the out-of-catalogue rule.

Everything here is chosen on the validation split (and, for the choice of the
out-of-catalogue score only, on a tuning half of the out-of-catalogue photos);
the test split and the other half of the out-of-catalogue photos only report.

The vectorised decision rule mirrors `serve.identify.decisions.decide` (a test checks
they agree): UNKNOWN if the out-of-catalogue score exceeds its threshold, else
IDENTIFIED if the top probability passes `identify`, else GROUP if the most
probable group (of 2+ classes) passes `group`, else UNKNOWN.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import ood
from .bundle import Thresholds
from .head import fit_temperature, softmax
from .metrics import choose_threshold

TARGET_PRECISION = 0.95  # identified answers on validation must be this often right
UNKNOWN_BUDGET = 0.05  # at most this share of in-catalogue validation photos may end UNKNOWN


@dataclass(frozen=True)
class Split3:
    """Network outputs for one split of photos."""

    logits: np.ndarray
    features: np.ndarray
    imagenet_logits: np.ndarray
    y: np.ndarray | None = None  # class index, None for out-of-catalogue photos


def group_matrix(labels: Sequence[str], groups: dict[str, str]) -> tuple[list[str], np.ndarray]:
    """(group ids with 2+ member classes, membership matrix classes x groups)."""
    members: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        members.setdefault(groups.get(label, label), []).append(i)
    names = sorted(g for g, idx in members.items() if len(idx) >= 2)
    m = np.zeros((len(labels), len(names)), np.float64)
    for j, g in enumerate(names):
        m[members[g], j] = 1.0
    return names, m


def decide_many(probs: np.ndarray, ood_scores: np.ndarray, thresholds: Thresholds,
                membership: np.ndarray) -> np.ndarray:
    """Decision per row: 0 = IDENTIFIED, 1 = GROUP, 2 = UNKNOWN."""
    identified = probs.max(1) >= thresholds.identify
    group_mass = probs @ membership if membership.shape[1] else np.zeros((len(probs), 1))
    grouped = group_mass.max(1) >= thresholds.group
    out = np.where(identified, 0, np.where(grouped, 1, 2))
    out[ood_scores > thresholds.ood] = 2
    return out


def _group_threshold(probs: np.ndarray, y: np.ndarray, membership: np.ndarray) -> float:
    if membership.shape[1] == 0:
        return 1.01
    mass = probs @ membership
    true_group = membership[y]  # one-hot-ish row of the true class's group (zeros if singleton)
    has_group = true_group.sum(1) > 0
    if not has_group.any():
        return 1.01
    return choose_threshold(mass[has_group], true_group[has_group].argmax(1), TARGET_PRECISION)


@dataclass(frozen=True)
class Calibration:
    temperature: float
    thresholds: Thresholds
    ood_method: str
    ood_report: dict  # per method: AUROC on tuning photos; chosen method's numbers


def calibrate(val: Split3, labels: Sequence[str], groups: dict[str, str], ref: ood.OodReference,
              ood_tune: Split3 | None, methods: Sequence[str] = ood.METHODS) -> Calibration:
    assert val.y is not None
    temperature = fit_temperature(val.logits, val.y)
    probs = softmax(val.logits, temperature)
    identify = choose_threshold(probs, val.y, TARGET_PRECISION)
    _, membership = group_matrix(labels, groups)
    group = _group_threshold(probs, val.y, membership)

    report: dict = {"auroc_tune": {}}
    if ood_tune is not None and len(ood_tune.logits):
        for method in methods:
            s_in = ood.scores(method, val.logits, val.features, val.imagenet_logits, temperature, ref)
            s_out = ood.scores(method, ood_tune.logits, ood_tune.features, ood_tune.imagenet_logits, temperature, ref)
            report["auroc_tune"][method] = ood.auroc(s_in, s_out)
        method = max(report["auroc_tune"], key=report["auroc_tune"].get)
    else:
        method = "knn"
    s_in = ood.scores(method, val.logits, val.features, val.imagenet_logits, temperature, ref)
    ood_threshold = _ood_threshold_within_budget(probs, s_in, identify, group, membership)
    return Calibration(temperature, Thresholds(identify, group, ood_threshold), method, report)


def _ood_threshold_within_budget(probs, s_in, identify, group, membership, budget: float = UNKNOWN_BUDGET) -> float:
    """Lowest score threshold keeping in-catalogue UNKNOWN at or under the budget."""
    base = decide_many(probs, np.full(len(probs), -np.inf), Thresholds(identify, group, np.inf), membership)
    already = base == 2
    allowed = int(np.floor(budget * len(probs))) - int(already.sum())
    candidates = np.sort(s_in[~already])[::-1]
    if allowed <= 0 or len(candidates) == 0:
        return float(candidates[0]) if len(candidates) else float("inf")
    return float(candidates[min(allowed, len(candidates) - 1)])


def unknown_rates(split: Split3, cal: Calibration, labels: Sequence[str], groups: dict[str, str],
                  ref: ood.OodReference) -> dict[str, float]:
    """Share of photos ending IDENTIFIED / GROUP / UNKNOWN under the calibrated rule."""
    probs = softmax(split.logits, cal.temperature)
    s = ood.scores(cal.ood_method, split.logits, split.features, split.imagenet_logits, cal.temperature, ref)
    _, membership = group_matrix(labels, groups)
    d = decide_many(probs, s, cal.thresholds, membership)
    n = max(len(d), 1)
    return {"identified": float((d == 0).sum() / n), "group": float((d == 1).sum() / n),
            "unknown": float((d == 2).sum() / n), "n": int(len(d))}


def operating_point(inside: Split3, outside: Split3, cal: Calibration, labels: Sequence[str],
                    groups: dict[str, str], ref: ood.OodReference, budget: float = UNKNOWN_BUDGET) -> dict:
    """On held-out photos: the share of out-of-catalogue photos ending UNKNOWN when the
    out-of-catalogue threshold lets at most `budget` of in-catalogue photos end UNKNOWN.
    (The served threshold is chosen on validation; this re-reads the same curve on test.)"""
    _, membership = group_matrix(labels, groups)
    p_in = softmax(inside.logits, cal.temperature)
    p_out = softmax(outside.logits, cal.temperature)
    s_in = ood.scores(cal.ood_method, inside.logits, inside.features, inside.imagenet_logits, cal.temperature, ref)
    s_out = ood.scores(cal.ood_method, outside.logits, outside.features, outside.imagenet_logits, cal.temperature, ref)
    t = cal.thresholds
    tau = _ood_threshold_within_budget(p_in, s_in, t.identify, t.group, membership, budget)
    th = Thresholds(t.identify, t.group, tau)
    d_in = decide_many(p_in, s_in, th, membership)
    d_out = decide_many(p_out, s_out, th, membership)
    return {"in_catalogue_unknown": float((d_in == 2).mean()), "out_of_catalogue_unknown": float((d_out == 2).mean()),
            "budget": budget, "n_in": int(len(d_in)), "n_out": int(len(d_out))}
