"""Threshold choice and the vectorised decision rule used in training agree with serving's."""
import numpy as np
import pytest

from serve.identify.decisions import DecisionKind, Thresholds as ServeThresholds, decide
from train.bundle import Thresholds
from train.calibrate import decide_many, group_matrix
from train.metrics import choose_threshold, evaluate_probs
from train.ood import auroc, threshold_at_rate

LABELS = ["tiger", "lion", "leopard", "ivory", "bone", "panda"]
GROUPS = {"tiger": "big_cats", "lion": "big_cats", "leopard": "big_cats", "ivory": "ivory", "bone": "ivory",
          "panda": "bears"}


def test_vectorised_rule_matches_serve_decide_on_random_vectors():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(len(LABELS), 0.4), size=400)
    ood = rng.uniform(0, 1, 400)
    th = Thresholds(identify=0.6, group=0.7, ood=0.8)
    _, membership = group_matrix(LABELS, GROUPS)
    fast = decide_many(probs, ood, th, membership)
    code = {DecisionKind.IDENTIFIED: 0, DecisionKind.GROUP: 1, DecisionKind.UNKNOWN: 2}
    slow = [code[decide(LABELS, p.tolist(), GROUPS, ServeThresholds(0.6, 0.7, 0.8), float(s)).kind]
            for p, s in zip(probs, ood)]
    assert fast.tolist() == slow
    assert {0, 1, 2} <= set(slow)  # every branch was exercised


def test_singleton_groups_never_count_as_a_group():
    names, membership = group_matrix(LABELS, GROUPS)
    assert names == ["big_cats", "ivory"]
    assert membership[LABELS.index("panda")].sum() == 0


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
