"""The selection protocol's statistics (train.selection): intervals, paired tests, the rule."""
from __future__ import annotations

import numpy as np
import pytest

from train.selection import Scorecard, adopt, compare, estimate, mcnemar, wilson


def test_wilson_matches_the_textbook_values():
    low, high = wilson(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson(5, 10)
    assert (low, high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))


def test_bootstrap_interval_covers_the_mean_and_widens_with_clusters():
    rng = np.random.default_rng(0)
    values = (rng.random(400) < 0.8).astype(float)
    e = estimate(values)
    assert e.low < e.value < e.high and e.value == pytest.approx(values.mean())
    # the same photos as 40 groups of ten identical twins: far less information
    twins = np.repeat(values[:40], 10)
    wide = estimate(twins, clusters=np.repeat(np.arange(40), 10))
    narrow = estimate(twins)
    assert wide.high - wide.low > 2 * (narrow.high - narrow.low)


def test_weighted_estimate_is_a_ratio_of_sums():
    values = np.array([1.0, 0.0, 0.5, 1.0])
    weights = np.array([1.0, 1.0, 2.0, 0.0])  # the last photo does not count
    assert estimate(values, weights).value == pytest.approx((1 + 0 + 1) / 4)
    assert estimate(values, weights).n == 4


def test_mcnemar_counts_fixes_and_breaks_per_photo():
    default = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], float)
    candidate = np.array([1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], float)
    t = mcnemar(candidate, default)
    assert (t.fixes, t.breaks) == (10, 1)
    assert t.p_value == pytest.approx(0.01172, abs=1e-4)  # two-sided binomial, 1 of 11
    assert t.better and not t.worse
    # fewer releases is better: the direction flips
    t = mcnemar(default, candidate, lower_is_better=True)
    assert t.better


def _card(name, top1, released, protected):
    return Scorecard(name, {"top1": top1, "released": released}, {"released": protected}, np.arange(len(top1)))


def test_adoption_needs_a_significant_gain_and_no_significant_loss():
    n = 200
    protected = np.r_[np.ones(100), np.zeros(100)]
    base = _card("v1", np.r_[np.ones(150), np.zeros(50)], np.zeros(n), protected)
    better = _card("c", np.r_[np.ones(170), np.zeros(30)], np.zeros(n), protected)
    comparison = compare(better, base)
    assert comparison.tests["top1"].better and comparison.adopted
    # the same gain, but it now releases 15 protected photos: not adopted
    unsafe = _card("u", better.per_photo["top1"], np.r_[np.ones(15), np.zeros(185)], protected)
    comparison = compare(unsafe, base)
    assert comparison.tests["released"].worse and not comparison.adopted
    assert "released" in comparison.reason
    # a gain of two photos is noise
    noise = _card("n", np.r_[np.ones(152), np.zeros(48)], np.zeros(n), protected)
    assert not compare(noise, base).adopted
    assert not adopt({})


def test_measures_on_different_photos_get_no_paired_test():
    a = Scorecard("a", {"group_precision": np.ones(4)}, {"group_precision": np.array([1, 1, 0, 0.])}, np.arange(4))
    b = Scorecard("b", {"group_precision": np.ones(4)}, {"group_precision": np.array([0, 1, 1, 0.])}, np.arange(4))
    assert "group_precision" not in compare(a, b).tests


def test_holm_adjusts_every_lever_together():
    from train.selection import Comparison, PairedTest, holm

    def test(p):
        return PairedTest(10, 1, p, estimate(np.ones(3)))

    runs = [Comparison("a", "v1", {"top1": test(0.01), "released": test(0.5)}),
            Comparison("b", "v1", {"top1": test(0.02), "group_precision": test(0.001)})]
    adjusted = holm(runs)
    # three tests in the family (group precision is reported, not tested for adoption)
    assert adjusted[0].tests["top1"].p_value == pytest.approx(0.03)
    assert adjusted[1].tests["top1"].p_value == pytest.approx(0.04)
    assert adjusted[0].tests["released"].p_value == pytest.approx(0.5)
    assert adjusted[1].tests["group_precision"].p_value == 0.001 and adjusted[0].tests["top1"].raw_p == 0.01
    assert adjusted[0].adopted and adjusted[1].adopted
    assert not holm(runs * 3)[0].adopted  # the same gain among six levers: 6 x 0.01 > 0.05 after Holm's steps
