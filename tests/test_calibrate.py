"""Threshold choices of calibration, each made under the one decision rule."""
import numpy as np
import pytest

from train.calibrate import group_threshold, ood_threshold_within_budget
from train.decision_rule import ClassGroups, DecisionKind, DecisionRule, Thresholds
from train.metrics import choose_threshold, evaluate_probs
from train.ood import auroc, threshold_at_rate

LABELS = ["tiger", "lion", "leopard", "ivory", "bone", "panda"]
GROUPS = {"tiger": "big_cats", "lion": "big_cats", "leopard": "big_cats", "ivory": "ivory", "bone": "ivory",
          "panda": "bears"}


def test_group_threshold_needs_a_group_of_two_or_more():
    classes = ClassGroups.build(LABELS, GROUPS)
    rng = np.random.default_rng(0)
    y = rng.integers(0, len(LABELS), 300)
    probs = rng.dirichlet(np.full(len(LABELS), 0.3), size=300)
    probs[np.arange(300), y] += 1.0
    probs /= probs.sum(1, keepdims=True)
    assert 0 < group_threshold(probs, y, classes) <= 1
    alone = ClassGroups.build(LABELS, {label: label for label in LABELS})
    assert group_threshold(probs, y, alone) is None


def test_ood_threshold_keeps_in_catalogue_unknown_within_the_budget():
    classes = ClassGroups.build(LABELS, GROUPS)
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.full(len(LABELS), 0.3), size=400)
    scores = rng.uniform(0, 1, 400)
    rule = DecisionRule(classes, Thresholds(identify=0.5, group=0.6))
    tau = ood_threshold_within_budget(rule, probs, scores, budget=0.4)
    served = rule.with_thresholds(rule.thresholds.replace(ood=tau)).decide_many(probs, scores)
    base = rule.decide_many(probs)
    assert base.share(DecisionKind.UNKNOWN) < served.share(DecisionKind.UNKNOWN) <= 0.4
    over = ood_threshold_within_budget(rule, probs, scores, budget=0.0)  # no budget left: flag nothing more
    assert rule.with_thresholds(rule.thresholds.replace(ood=over)).decide_many(probs, scores).share(
        DecisionKind.UNKNOWN) == base.share(DecisionKind.UNKNOWN)


def test_threshold_meets_the_target_precision():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 500)
    logits = rng.normal(size=(500, 4))
    logits[np.arange(500), y] += rng.normal(1.5, 1.5, 500)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    t = choose_threshold(probs, y, 0.9)
    answered = probs.max(1) >= t
    assert np.mean(probs.argmax(1)[answered] == y[answered]) >= 0.9
    assert answered.mean() < 1.0
    m = evaluate_probs(probs, y, ["a", "b", "c", "d"], t)
    assert m.answered_accuracy >= 0.9 and m.abstain_rate == pytest.approx(1 - answered.mean())


def test_auroc_and_rate_threshold():
    assert auroc(np.array([0.1, 0.2]), np.array([0.8, 0.9])) == 1.0
    assert auroc(np.array([0.8, 0.9]), np.array([0.1, 0.2])) == 0.0
    scores = np.linspace(0, 1, 101)
    assert (scores > threshold_at_rate(scores, 0.05)).mean() <= 0.05
