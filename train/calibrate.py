"""After the weights: temperature, decision thresholds and the out-of-catalogue rule.

Everything here is chosen on the validation split (and, for the choice of the
out-of-catalogue score only, on a tuning half of the out-of-catalogue photos);
the test split and the other half of the out-of-catalogue photos only report.
Every decision counted here is made by the one rule the app serves
(`train.decision_rule.DecisionRule`), so the card's "as served" figures are what
officers get.

Order of the choices: temperature (validation NLL) -> identify threshold (95 % of the
answered photos right) -> group threshold -> release thresholds of the look-alike
families (`train.release`) -> out-of-catalogue score and threshold (at most 5 % of
in-catalogue validation photos may end UNKNOWN; the score flagging the most tuning
out-of-catalogue photos at that threshold is kept).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import ood
from .bundle_meta import DecisionShares, GroupPrecision, OperatingPoint
from .decision_rule import GROUP, UNKNOWN, ClassGroups, DecisionKind, DecisionRule, Thresholds
from .head import fit_temperature, softmax
from .metrics import choose_threshold
from .release import FamilyRelease, choose_release

TARGET_PRECISION = 0.95  # identified answers on validation must be this often right
UNKNOWN_BUDGET = 0.05  # at most this share of in-catalogue validation photos may end UNKNOWN


@dataclass(frozen=True)
class Split3:
    """Network outputs for one split of photos."""

    logits: np.ndarray
    features: np.ndarray
    imagenet_logits: np.ndarray
    y: np.ndarray | None = None  # class index, None for out-of-catalogue photos
    # out-of-catalogue scores under the calibrated model's method, when computed elsewhere:
    # out of fold, against each fold's training photos (`train.every_photo`)
    scores: np.ndarray | None = None


def scores_of(split: Split3, cal: "Calibration", ref: ood.OodReference) -> np.ndarray:
    """The calibrated out-of-catalogue scores of `split`'s photos (its own, or against `ref`)."""
    if split.scores is not None:
        return split.scores
    return ood.scores(cal.ood_method, split.logits, split.features, split.imagenet_logits, cal.temperature, ref)


def group_threshold(probs: np.ndarray, y: np.ndarray, classes: ClassGroups) -> float | None:
    """The group threshold: lowest mass at which the heaviest group of 2+ classes holds the
    true class in `TARGET_PRECISION` of the photos of grouped classes (None: no such group).

    The same heuristic as before the rule was unified, kept so re-fits keep their
    behaviour; it measures precision over every photo of a grouped class, not over the
    photos that reach the GROUP step, which are far less often right (the card reports
    the served shares)."""
    multi = classes.group_sizes >= 2
    if not multi.any():
        return None
    membership = classes.membership[:, multi]
    true_group = membership[y]
    has_group = true_group.sum(1) > 0
    if not has_group.any():
        return None
    mass = probs[has_group] @ membership
    chosen = choose_threshold(mass, true_group[has_group].argmax(1), TARGET_PRECISION)
    return chosen if chosen > 0 else None


@dataclass(frozen=True)
class Calibration:
    temperature: float
    thresholds: Thresholds
    ood_method: str
    ood_report: dict  # per method: AUROC on tuning photos
    release: dict[str, FamilyRelease] = field(default_factory=dict)  # per family, on validation

    def rule(self, classes: ClassGroups) -> DecisionRule:
        return DecisionRule(classes, self.thresholds)


def decision_thresholds(probs: np.ndarray, y: np.ndarray,
                        classes: ClassGroups) -> tuple[Thresholds, dict[str, FamilyRelease]]:
    """The rule's thresholds on calibrated probabilities, in order: identify (95 % of the
    answered photos right), group, then each look-alike family's release threshold
    (`train.release`); and what each release threshold does on these photos."""
    thresholds = Thresholds(choose_threshold(probs, y, TARGET_PRECISION), group_threshold(probs, y, classes))
    release = choose_release(probs, y, DecisionRule(classes, thresholds))
    return thresholds.replace(release={family: r.threshold for family, r in release.items()}), release


OodScores = Callable[[str, float], tuple[np.ndarray, "np.ndarray | None"]]


def calibrate(val: Split3, classes: ClassGroups, ref: ood.OodReference, ood_tune: Split3 | None,
              methods=ood.METHODS, ood_scores: OodScores | None = None) -> Calibration:
    """`ood_scores(method, temperature) -> (scores of the `val` photos, scores of the tuning
    out-of-catalogue photos or None)`: scores computed elsewhere (out of fold, against
    each fold's training photos, when `val` holds out-of-fold predictions of every photo);
    by default they are computed here against `ref`."""
    assert val.y is not None
    temperature = fit_temperature(val.logits, val.y)
    probs = softmax(val.logits, temperature)
    thresholds, release = decision_thresholds(probs, val.y, classes)

    def scores(method: str) -> tuple[np.ndarray, np.ndarray | None]:
        if ood_scores is not None:
            return ood_scores(method, temperature)
        s_out = None
        if ood_tune is not None and len(ood_tune.logits):
            s_out = ood.scores(method, ood_tune.logits, ood_tune.features, ood_tune.imagenet_logits, temperature, ref)
        return ood.scores(method, val.logits, val.features, val.imagenet_logits, temperature, ref), s_out

    # The out-of-catalogue score is chosen for what it is used for: the share of tuning
    # out-of-catalogue photos it flags at the threshold that keeps in-catalogue UNKNOWN within
    # the budget (ties, and scores this cannot tell apart, by AUROC).
    rule = DecisionRule(classes, thresholds)
    report: dict = {"auroc_tune": {}, "flagged_tune": {}}
    for method in methods:
        s_in, s_out = scores(method)
        if s_out is None or not len(s_out):
            break
        report["auroc_tune"][method] = ood.auroc(s_in, s_out)
        tau = ood_threshold_within_budget(rule, probs, s_in)
        report["flagged_tune"][method] = float(np.mean(s_out > tau)) if tau is not None else 0.0
    tried = report["auroc_tune"]
    method = max(tried, key=lambda m: (report["flagged_tune"][m], tried[m])) if tried else "knn"
    ood_threshold = ood_threshold_within_budget(rule, probs, scores(method)[0])
    return Calibration(temperature, thresholds.replace(ood=ood_threshold), method, report, release)


def ood_threshold_within_budget(rule: DecisionRule, probs: np.ndarray, s_in: np.ndarray,
                                budget: float = UNKNOWN_BUDGET) -> float | None:
    """Lowest score threshold keeping in-catalogue UNKNOWN at or under the budget
    (`rule`'s own ood threshold is ignored); None when there are no scores."""
    base = rule.with_thresholds(rule.thresholds.replace(ood=None)).decide_many(probs)
    already = base.kind == UNKNOWN
    allowed = int(np.floor(budget * len(probs))) - int(already.sum())
    candidates = np.sort(s_in[~already])[::-1]
    if len(candidates) == 0:
        return None
    return float(candidates[0] if allowed <= 0 else candidates[min(allowed, len(candidates) - 1)])


def _served(split: Split3, cal: Calibration, classes: ClassGroups, ref: ood.OodReference):
    probs = softmax(split.logits, cal.temperature)
    s = scores_of(split, cal, ref)
    return probs, s, cal.rule(classes).decide_many(probs, s)


def decision_shares(split: Split3, cal: Calibration, classes: ClassGroups, ref: ood.OodReference) -> DecisionShares:
    """Share of photos ending in each decision kind under the served rule."""
    _, _, out = _served(split, cal, classes, ref)
    return DecisionShares(n=int(len(out.kind)), **{kind.value: out.share(kind) for kind in DecisionKind})


def group_precision(split: Split3, cal: Calibration, classes: ClassGroups, ref: ood.OodReference) -> GroupPrecision:
    """Of the photos answered GROUP under the served rule, how many have their true class in
    the group named: a GROUP answer is only useful if it holds the truth."""
    _, _, out = _served(split, cal, classes, ref)
    grouped = out.kind == GROUP
    return GroupPrecision.of(int(np.sum(classes.membership[split.y[grouped], out.group[grouped]] > 0)),
                             int(grouped.sum()))


def operating_point(inside: Split3, outside: Split3, cal: Calibration, classes: ClassGroups,
                    ref: ood.OodReference, budget: float = UNKNOWN_BUDGET) -> OperatingPoint:
    """On held-out photos: the share of out-of-catalogue photos ending UNKNOWN when the
    out-of-catalogue threshold lets at most `budget` of in-catalogue photos end UNKNOWN.
    (The served threshold is chosen on validation; this re-reads the same curve on test.)"""
    p_in, s_in, _ = _served(inside, cal, classes, ref)
    p_out, s_out, _ = _served(outside, cal, classes, ref)
    rule = cal.rule(classes)
    rule = rule.with_thresholds(rule.thresholds.replace(ood=ood_threshold_within_budget(rule, p_in, s_in, budget)))
    d_in, d_out = rule.decide_many(p_in, s_in), rule.decide_many(p_out, s_out)
    return OperatingPoint(d_in.share(DecisionKind.UNKNOWN), d_out.share(DecisionKind.UNKNOWN), budget,
                          int(len(d_in.kind)), int(len(d_out.kind)))
