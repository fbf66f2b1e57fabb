"""train.decision_rule: one rule for calibration, evaluation, batch and app.

The vectorised core is checked against an independent plain-Python reading of the rule
(written from its docstring) at the thresholds stored in real bundles and with the real
catalogue's groups and look-alike families; the per-photo wrappers go through the core."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from train.decision_rule import (KINDS, ClassGroups, DecisionKind, DecisionRule, Thresholds, decide,
                                 lookalike_families)

ROOT = Path(__file__).resolve().parents[1]
LEGACY_V1 = ROOT / "tests" / "fixtures" / "bundle_v1_format1.json"


def oracle(labels, probs, groups, th: Thresholds, families, score=None) -> DecisionKind:
    """The rule as its docstring states it, one photo, no numpy tricks."""
    if th.ood is not None and score > th.ood:
        return DecisionKind.UNKNOWN
    top = max(range(len(labels)), key=lambda i: (probs[i], -i))
    if probs[top] >= th.identify:
        for fam in families:
            if labels[top] in fam.harmless:
                mass = sum(probs[labels.index(p)] for p in fam.protected)
                limit = th.release.get(fam.id)
                return DecisionKind.IDENTIFIED if limit is not None and mass < limit else DecisionKind.CANNOT_RULE_OUT
        return DecisionKind.IDENTIFIED
    mass: dict[str, float] = {}
    size: dict[str, int] = {}
    for label, p in zip(labels, probs):
        g = groups.get(label) or label
        mass[g] = mass.get(g, 0.0) + p
        size[g] = size.get(g, 0) + 1
    best = min(mass, key=lambda g: (-mass[g], g))
    if th.group is not None and size[best] >= 2 and mass[best] >= th.group:
        return DecisionKind.GROUP
    return DecisionKind.UNKNOWN


def test_the_issue_example_single_class_group_is_unknown_everywhere():
    # (.06, .05, .01, .88): a three-class group and a one-class group, at v1's group threshold.
    labels = ["a", "b", "c", "d"]
    groups = {"a": "trio", "b": "trio", "c": "trio", "d": "solo"}
    th = Thresholds(identify=0.95, group=0.098)
    probs = [0.06, 0.05, 0.01, 0.88]
    assert decide(labels, probs, groups, th).kind is DecisionKind.UNKNOWN
    core = DecisionRule.build(labels, groups, th).decide_many(np.array([probs]))
    assert KINDS[core.kind[0]] is DecisionKind.UNKNOWN
    # the three-class group alone still answers GROUP when it is the heaviest
    assert decide(labels, [0.5, 0.3, 0.1, 0.1], groups, th).kind is DecisionKind.GROUP


def _real_rules():
    """(name, labels, groups, thresholds, protected, lookalikes) of the bundles on disk."""
    from train.bundle import Bundle, BundleMeta

    rules = [("v1 format 1 (fixture)", BundleMeta.from_dict(json.loads(LEGACY_V1.read_text())))]
    current = ROOT / "data" / "models" / "current"
    if (current / "bundle.json").exists():
        rules.append(("data/models/current", Bundle.load(current).meta))
    return rules


@pytest.mark.parametrize("name, meta", _real_rules(), ids=lambda x: x if isinstance(x, str) else "")
def test_core_agrees_with_the_oracle_at_real_thresholds_with_real_groups(name, meta):
    rule = meta.decision_rule()
    families = rule.classes.families
    assert any("ivory_carving" in f.protected for f in families), families
    rng = np.random.default_rng(0)
    n, c = 3000, len(meta.labels)
    # mix flat and peaked vectors so every branch is reached at these thresholds
    probs = np.concatenate([rng.dirichlet(np.full(c, a), size=n // 3) for a in (0.05, 0.2, 1.0)])
    # scores on both sides of the threshold (an energy score's threshold is negative)
    scores = rng.uniform(*sorted((0.0, 2 * (meta.thresholds.ood or 1.0))), len(probs))
    release_cases = [dict(meta.thresholds.release), {f.id: 0.05 for f in families}]
    for release in release_cases:
        th = meta.thresholds.replace(release=release)
        out = rule.with_thresholds(th).decide_many(probs, scores if th.ood is not None else None)
        want = [oracle(meta.labels, p.tolist(), meta.groups, th, families, s) for p, s in zip(probs, scores)]
        assert [KINDS[k] for k in out.kind] == want
    # the per-photo wrappers return the same kinds (they run the same core)
    th = meta.thresholds.replace(release=release_cases[1])
    one = [decide(meta.labels, p.tolist(), meta.groups, th, s if th.ood is not None else None,
                  protected=meta.protected, lookalikes=meta.lookalikes).kind for p, s in zip(probs[:300], scores)]
    assert one == want[:300]
    assert set(want) == set(DecisionKind), f"{name}: some branch never reached"


def test_families_join_groups_and_catalogue_lookalikes():
    labels = ["ivory", "walrus", "bone", "ceramic", "porcelain", "cat", "wildcat", "tiger"]
    groups = {"ivory": "ivory_like", "walrus": "ivory_like", "bone": "ivory_like", "ceramic": "ceramics",
              "porcelain": "ceramics", "cat": "domestic", "wildcat": "small_cats", "tiger": "big_cats"}
    protected = {"ivory", "walrus", "wildcat", "tiger"}
    lookalikes = {"ivory": ["ceramic", "porcelain"], "cat": ["wildcat"]}
    fams = lookalike_families(labels, groups, protected, lookalikes)
    assert [(f.id, f.protected, f.harmless) for f in fams] == [
        ("ivory+walrus", ("ivory", "walrus"), ("bone", "ceramic", "porcelain")),
        ("wildcat", ("wildcat",), ("cat",))]
    classes = ClassGroups.build(labels, groups, protected, lookalikes)
    assert classes.protected.tolist() == [True, True, False, False, False, False, True, True]
    assert classes.harmless_family.tolist() == [-1, -1, 0, 0, 0, 1, -1, -1]


@pytest.mark.parametrize("kwargs, match", [
    ({"identify": 0.0}, "identify"), ({"identify": 1.2}, "identify"), ({"identify": 0.7, "group": 1.01}, "group"),
    ({"identify": 0.7, "ood": math.inf}, "ood"), ({"identify": 0.7, "release": {"f": 0.0}}, "release"),
    ({"identify": 0.7, "release": {"f": True}}, "release")])
def test_thresholds_have_no_placeholders(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Thresholds(**kwargs)


def test_thresholds_round_trip():
    from train.typed_json import from_json, to_json

    th = Thresholds(0.6, None, 0.5, {"ivory+walrus": None, "wildcat": 0.02})
    assert from_json(Thresholds, json.loads(json.dumps(to_json(th)))) == th
    with pytest.raises(ValueError, match="unknown field"):
        from_json(Thresholds, {"identify": 0.6, "idnetify": 0.5})


def test_no_group_threshold_means_no_group_answer():
    th = Thresholds(identify=0.9, group=None)
    assert decide(["a", "b", "c"], [0.45, 0.45, 0.1], {"a": "g", "b": "g"}, th).kind is DecisionKind.UNKNOWN


def test_batch_decisions_equal_one_photo_at_a_time():
    labels = ["ivory", "bone", "tiger", "lion"]
    groups = {"ivory": "ivory_like", "bone": "ivory_like", "tiger": "cats", "lion": "cats"}
    rule = DecisionRule.build(labels, groups, Thresholds(0.6, 0.7, 0.9, {"ivory": 0.1}), {"ivory", "tiger", "lion"})
    probs = np.random.default_rng(3).dirichlet(np.full(4, 0.3), size=200)
    scores = np.random.default_rng(4).uniform(0, 1, 200)
    many = rule.decisions(probs, scores)
    assert many == [rule.decide(p.tolist(), float(s)) for p, s in zip(probs, scores)]
    assert {d.kind for d in many} == set(DecisionKind)
