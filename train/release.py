"""When may a harmless look-alike of a protected class be confirmed from a photo?

Why: the one error that lets contraband through is a protected item (elephant ivory)
answered IDENTIFIED as a harmless look-alike (bone, ceramic). Most of these errors are
confident, so the identify threshold alone barely helps. Instead each look-alike family
(`train.decision_rule.lookalike_families`) gets a release threshold: a harmless member
is IDENTIFIED only while the family's protected classes hold less probability than it.

What: `choose_release(probs, y, rule)` picks, per family, the most permissive threshold
under which at most `max_release_rate` of the family's protected photos are released,
and gives it up (None: the family never confirms its harmless members) when that would
cost more than `max_cost` of the harmless photos that were IDENTIFIED. It is a function
of (probabilities, labels) only, so calibration can call it on validation photos or on
out-of-fold predictions over all photos. `release_report` measures the policy on any
photos: releases avoided beside the cost, per family and over every protected class.
numpy only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .decision_rule import IDENTIFIED, DecisionRule, Outcomes

MAX_RELEASE_RATE = 0.005  # at most this share of a family's protected photos confidently released
MAX_COST = 0.5  # give the threshold up when it takes IDENTIFIED from more than this share of harmless photos


@dataclass(frozen=True)
class FamilyRelease:
    """One family's release policy on a set of photos: what it avoids and what it costs."""

    family: str
    threshold: float | None  # None: the family never confirms its harmless members
    protected_photos: int
    released_without: int  # protected photos IDENTIFIED as a harmless member, with no release rule
    released_with: int  # ... under the threshold
    harmless_photos: int
    identified_without: int  # harmless photos IDENTIFIED as a harmless member, with no release rule
    identified_with: int  # ... under the threshold

    @property
    def cost(self) -> float:
        """Share of the harmless photos' identifications the policy takes away."""
        lost = self.identified_without - self.identified_with
        return lost / self.identified_without if self.identified_without else 0.0

    def to_dict(self) -> dict:
        return {"family": self.family, "threshold": self.threshold, "protected_photos": self.protected_photos,
                "released_without": self.released_without, "released_with": self.released_with,
                "harmless_photos": self.harmless_photos, "identified_without": self.identified_without,
                "identified_with": self.identified_with}

    @classmethod
    def from_dict(cls, d: dict) -> "FamilyRelease":
        return cls(**d)


@dataclass(frozen=True)
class ReleaseReport:
    """Protected photos answered IDENTIFIED as a non-protected class, without and with the policy."""

    protected_photos: int
    released_without: int
    released_with: int
    families: tuple[FamilyRelease, ...]

    @property
    def rate_without(self) -> float:
        return self.released_without / self.protected_photos if self.protected_photos else float("nan")

    @property
    def rate_with(self) -> float:
        return self.released_with / self.protected_photos if self.protected_photos else float("nan")

    def to_dict(self) -> dict:
        return {"protected_photos": self.protected_photos, "released_without": self.released_without,
                "released_with": self.released_with, "families": [f.to_dict() for f in self.families]}

    @classmethod
    def from_dict(cls, d: dict) -> "ReleaseReport":
        return cls(d["protected_photos"], d["released_without"], d["released_with"],
                   tuple(FamilyRelease.from_dict(f) for f in d["families"]))


def _without_policy(rule: DecisionRule) -> DecisionRule:
    """The same rule with every family's harmless members released (no release policy)."""
    return rule.with_thresholds(rule.thresholds.replace(release={f.id: 1.0 for f in rule.classes.families}))


def _members(rule: DecisionRule, names) -> np.ndarray:
    return np.array([rule.classes.labels.index(x) for x in names], np.int64)


def _family_numbers(rule: DecisionRule, j: int, y: np.ndarray, free: Outcomes,
                    threshold: float | None) -> FamilyRelease:
    fam = rule.classes.families[j]
    prot, harm = np.isin(y, _members(rule, fam.protected)), np.isin(y, _members(rule, fam.harmless))
    as_harmless = (free.kind == IDENTIFIED) & (free.family == j)  # IDENTIFIED as one of its harmless members
    kept = as_harmless & (free.protected_mass < threshold) if threshold is not None else np.zeros_like(as_harmless)
    return FamilyRelease(fam.id, threshold, int(prot.sum()), int((prot & as_harmless).sum()),
                         int((prot & kept).sum()), int(harm.sum()), int((harm & as_harmless).sum()),
                         int((harm & kept).sum()))


def choose_release(probs: np.ndarray, y: np.ndarray, rule: DecisionRule, max_release_rate: float = MAX_RELEASE_RATE,
                   max_cost: float = MAX_COST) -> dict[str, FamilyRelease]:
    """Per look-alike family: the release threshold and what it does on these photos.

    probs: (photos, classes) calibrated probabilities; y: true class indices; rule: the
    decision rule with its identify threshold (its release thresholds are ignored).
    The threshold is the largest under which at most floor(max_release_rate x protected
    photos) of the family's protected photos are IDENTIFIED as a harmless member; a family
    with no protected photo here, or whose threshold would cost more than `max_cost`,
    gets None (never confirm its harmless members)."""
    y = np.asarray(y)
    free = _without_policy(rule).decide_many(probs)
    choices = {}
    for j, fam in enumerate(rule.classes.families):
        prot = np.isin(y, _members(rule, fam.protected))
        released = np.sort(free.protected_mass[prot & (free.kind == IDENTIFIED) & (free.family == j)])
        allowed = int(np.floor(max_release_rate * prot.sum()))
        if not prot.any():
            threshold = None
        elif len(released) <= allowed:
            threshold = 1.0  # no protected photo here needs holding back
        else:
            threshold = float(released[allowed]) or None  # under it: at most `allowed` released
        numbers = _family_numbers(rule, j, y, free, threshold)
        if threshold is not None and numbers.cost > max_cost:
            numbers = _family_numbers(rule, j, y, free, None)
        choices[fam.id] = numbers
    return choices


def release_report(probs: np.ndarray, y: np.ndarray, rule: DecisionRule,
                   ood_scores: np.ndarray | None = None) -> ReleaseReport:
    """The release policy of `rule` on these photos, next to the same rule without it."""
    y = np.asarray(y)
    protected = rule.classes.protected
    free = _without_policy(rule).decide_many(probs, ood_scores)
    served = rule.decide_many(probs, ood_scores)
    prot_photo = protected[y] if len(y) else np.zeros(0, bool)

    def released(out: Outcomes) -> int:
        return int((prot_photo & (out.kind == IDENTIFIED) & ~protected[out.top]).sum())

    families = tuple(_family_numbers(rule, j, y, free, rule.thresholds.release.get(fam.id))
                     for j, fam in enumerate(rule.classes.families))
    return ReleaseReport(int(prot_photo.sum()), released(free), released(served), families)
