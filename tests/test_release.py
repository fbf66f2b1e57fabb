"""train.release: the release threshold of a look-alike family, on hand-made vectors.

Labels: ivory (protected) and bone (harmless) share a group; tiger (protected) and
cat (harmless) are paired by the catalogue's look-alikes; lion stands alone."""
from __future__ import annotations

import numpy as np
import pytest

from train.decision_rule import DecisionKind, DecisionRule, Thresholds
from train.release import FamilyRelease, ReleaseReport, choose_release, release_report

LABELS = ["ivory", "bone", "tiger", "cat", "lion"]
GROUPS = {"ivory": "ivory_like", "bone": "ivory_like", "tiger": "cats", "cat": "domestic", "lion": "cats"}
PROTECTED = {"ivory", "tiger", "lion"}
RULE = DecisionRule.build(LABELS, GROUPS, Thresholds(identify=0.6, group=0.9), PROTECTED, {"cat": ["tiger"]})
IVORY, BONE, TIGER, CAT, LION = range(5)


def photo(top: int, p_top: float, other: int, p_other: float) -> list[float]:
    """A probability vector: `p_top` on `top`, `p_other` on `other`, the rest spread evenly."""
    row = np.full(5, 0.0)
    row[top], row[other] = p_top, p_other
    rest = [i for i in range(5) if i not in (top, other)]
    row[rest] = (1.0 - p_top - p_other) / len(rest)
    return row.tolist()


def rows(*specs):
    probs, y = zip(*[(photo(*s[1:]), s[0]) for s in specs])
    return np.array(probs), np.array(y)


def test_the_threshold_stops_every_release_when_the_budget_allows_none():
    probs, y = rows(
        # protected ivory photos taken for bone, with 3 % and 8 % left on ivory
        (IVORY, BONE, 0.95, IVORY, 0.03), (IVORY, BONE, 0.90, IVORY, 0.08),
        # ivory photos the model gets right
        *[(IVORY, IVORY, 0.9, BONE, 0.05)] * 8,
        # bone photos: most hold under 3 % on ivory
        (BONE, BONE, 0.98, IVORY, 0.005), (BONE, BONE, 0.97, IVORY, 0.01), (BONE, BONE, 0.96, IVORY, 0.02),
        (BONE, BONE, 0.90, IVORY, 0.05))
    choice = choose_release(probs, y, RULE)["ivory"]
    assert choice.threshold == pytest.approx(0.03)  # the lowest released mass: under it nothing is released
    assert (choice.protected_photos, choice.released_without, choice.released_with) == (10, 2, 0)
    assert (choice.harmless_photos, choice.identified_without, choice.identified_with) == (4, 4, 3)
    assert choice.cost == pytest.approx(0.25)
    rule = RULE.with_thresholds(RULE.thresholds.replace(release={"ivory": choice.threshold}))
    kinds = [d.kind for d in rule.decisions(probs)]
    assert kinds[:2] == [DecisionKind.CANNOT_RULE_OUT] * 2 and kinds[-1] is DecisionKind.CANNOT_RULE_OUT
    assert kinds[-4:-1] == [DecisionKind.IDENTIFIED] * 3


def test_a_family_where_no_threshold_works_never_confirms_its_harmless_member():
    # the released ivory photo holds almost nothing on ivory, so only a threshold under
    # 0.1 % avoids it; every bone photo holds more than that: the cost is all of them
    probs, y = rows((IVORY, BONE, 0.99, IVORY, 0.0005), *[(IVORY, IVORY, 0.9, BONE, 0.05)] * 5,
                    *[(BONE, BONE, 0.95, IVORY, 0.01)] * 6)
    choice = choose_release(probs, y, RULE)["ivory"]
    assert choice.threshold is None
    assert (choice.released_without, choice.released_with, choice.identified_without, choice.identified_with) == \
        (1, 0, 6, 0)
    assert choice.cost == 1.0
    rule = RULE.with_thresholds(RULE.thresholds.replace(release={"ivory": None}))
    assert {d.kind for d in rule.decisions(probs[6:])} == {DecisionKind.CANNOT_RULE_OUT}


def test_a_budget_over_one_photo_allows_that_many_releases():
    releases = [(IVORY, BONE, 0.9, IVORY, m) for m in (0.02, 0.04, 0.06)]
    probs, y = rows(*releases, *[(IVORY, IVORY, 0.9, BONE, 0.05)] * 197, *[(BONE, BONE, 0.95, IVORY, 0.01)] * 4)
    choice = choose_release(probs, y, RULE, max_release_rate=0.005)["ivory"]  # 200 photos: 1 may be released
    assert choice.threshold == pytest.approx(0.04) and choice.released_with == 1


def test_no_release_seen_needs_no_restriction_and_no_protected_photo_gives_none():
    probs, y = rows(*[(TIGER, TIGER, 0.9, CAT, 0.05)] * 4, *[(CAT, CAT, 0.9, TIGER, 0.05)] * 4)
    choices = choose_release(probs, y, RULE)
    assert choices["tiger"].threshold == 1.0 and choices["tiger"].cost == 0.0
    assert choices["ivory"].threshold is None and choices["ivory"].protected_photos == 0


def test_the_cost_limit_gives_a_threshold_up():
    probs, y = rows((IVORY, BONE, 0.95, IVORY, 0.03), *[(IVORY, IVORY, 0.9, BONE, 0.05)] * 9,
                    (BONE, BONE, 0.98, IVORY, 0.01), *[(BONE, BONE, 0.9, IVORY, 0.05)] * 3)
    given_up = choose_release(probs, y, RULE)["ivory"]  # 0.03 would cost 3 of the 4 bone identifications
    assert given_up.threshold is None and given_up.cost == 1.0
    kept = choose_release(probs, y, RULE, max_cost=0.8)["ivory"]
    assert kept.threshold == pytest.approx(0.03) and kept.cost == pytest.approx(0.75)


def test_release_report_counts_every_protected_class_and_round_trips():
    probs, y = rows((IVORY, BONE, 0.95, IVORY, 0.03), (TIGER, CAT, 0.95, TIGER, 0.02),
                    (LION, CAT, 0.95, LION, 0.02), (BONE, BONE, 0.95, IVORY, 0.01))
    rule = RULE.with_thresholds(RULE.thresholds.replace(release={"ivory": 0.02, "tiger": None}))
    report = release_report(probs, y, rule)
    # lion -> cat is held back too: cat's family (with tiger) never confirms a cat here
    assert (report.protected_photos, report.released_without, report.released_with) == (3, 3, 0)
    assert report.rate_without == pytest.approx(1.0) and report.rate_with == 0.0
    by = {f.family: f for f in report.families}
    assert (by["ivory"].released_with, by["ivory"].identified_with) == (0, 1)
    assert ReleaseReport.from_dict(report.to_dict()) == report
    assert FamilyRelease.from_dict(by["tiger"].to_dict()) == by["tiger"]
