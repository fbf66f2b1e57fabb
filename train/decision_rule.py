"""The one decision rule: calibrated class probabilities -> what the officer is told.

Why here, and why numpy only: calibration chooses the thresholds under this rule,
evaluation and the model card report under it, the batch command and the app answer
officers with it. A rule written twice drifts (the served copy and calibration's once
disagreed on single-class groups), so there is one vectorised core over probability
matrices (`DecisionRule.decide_many`) and a thin per-photo wrapper over the same core
(`DecisionRule.decide`, `decide`) returning a frozen `Decision`. `train` may not import
`serve`, so the rule lives here and `serve.identify.decisions` adds only the wording.

The rule, in order, for one photo:
    out-of-catalogue score > thresholds.ood                      -> UNKNOWN (out of catalogue)
    top-1 probability >= thresholds.identify
        and the top class is a harmless look-alike of a protected
        class whose summed probability is not under its family's
        release threshold (or the family has none)               -> CANNOT_RULE_OUT
        otherwise                                                -> IDENTIFIED
    the heaviest group (a class without a group is a group of
    one) has 2+ member classes and mass >= thresholds.group      -> GROUP
    otherwise                                                    -> UNKNOWN

"Protected" means CITES-listed (the catalogue's appendix is I, II or III), everywhere.
A *look-alike family* joins each harmless (not listed) class with the protected classes
it is mistaken for: those in its catalogue group and those named as look-alikes either
way (bone carving, ceramic and porcelain with elephant and walrus ivory). A harmless
member is IDENTIFIED only while the family's protected probability stays under
`thresholds.release[family id]`; a family without a release threshold never confirms
its harmless members from a photo (the officer is told it cannot rule out the protected
classes). `train.release` chooses the thresholds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Collection, Mapping, Sequence

import numpy as np

PROB_SUM_TOLERANCE = 1e-3


class DecisionKind(Enum):
    IDENTIFIED = "identified"
    GROUP = "group"
    CANNOT_RULE_OUT = "cannot_rule_out"  # a harmless look-alike, but a protected class is not ruled out
    UNKNOWN = "unknown"


KINDS: tuple[DecisionKind, ...] = tuple(DecisionKind)  # index = the code `decide_many` returns
IDENTIFIED, GROUP, CANNOT_RULE_OUT, UNKNOWN = range(len(KINDS))


def _fraction(name: str, value: object, optional: bool = True) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0.0 < value <= 1.0:
        allowed = "a probability in (0, 1]" + (" or None" if optional else "")
        raise ValueError(f"Thresholds.{name} = {value!r} must be {allowed}")
    return float(value)


@dataclass(frozen=True)
class Thresholds:
    """Cut-offs chosen in calibration (the model card lists the values in use).

    identify: minimum calibrated top-1 probability to name one class.
    group:    minimum summed probability of a group of 2+ classes to name the group;
              None: the model never answers GROUP (it has no such group).
    ood:      out-of-catalogue score above which a photo is UNKNOWN whatever the
              probabilities say; None: no out-of-catalogue check.
    release:  look-alike family id -> the summed probability of the family's protected
              classes under which a harmless member may be IDENTIFIED; None or a missing
              family: its harmless members are never confirmed from a photo.
    """

    identify: float
    group: float | None = None
    ood: float | None = None
    release: Mapping[str, float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "identify", _fraction("identify", self.identify, optional=False))
        object.__setattr__(self, "group", _fraction("group", self.group))
        if self.ood is not None:
            if isinstance(self.ood, bool) or not isinstance(self.ood, (int, float, np.floating)) \
                    or not math.isfinite(self.ood):
                raise ValueError(f"Thresholds.ood = {self.ood!r} must be a finite number or None")
            object.__setattr__(self, "ood", float(self.ood))
        if not isinstance(self.release, Mapping):
            raise ValueError(f"Thresholds.release = {self.release!r} must map family ids to thresholds")
        release = {str(k): _fraction(f"release[{k!r}]", v) for k, v in self.release.items()}
        object.__setattr__(self, "release", MappingProxyType(release))

    def replace(self, **changes) -> "Thresholds":
        values = {"identify": self.identify, "group": self.group, "ood": self.ood, "release": dict(self.release)}
        values.update(changes)
        return Thresholds(**values)


@dataclass(frozen=True)
class LookalikeFamily:
    """Protected classes and the harmless classes a photo of them may be taken for."""

    id: str  # the protected members' ids joined by "+", e.g. "ivory_carving+walrus_ivory_carving"
    protected: tuple[str, ...]
    harmless: tuple[str, ...]


def lookalike_families(labels: Sequence[str], groups: Mapping[str, str], protected: Collection[str],
                       lookalikes: Mapping[str, Collection[str]] | None = None) -> tuple[LookalikeFamily, ...]:
    """The look-alike families among `labels` (connected harmless <-> protected pairs).

    A harmless class and a protected one are paired when they share a group or either
    names the other among its catalogue look-alikes; families are the connected parts."""
    lookalikes = lookalikes or {}
    listed = set(protected)
    parent = {label: label for label in labels}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    paired = set()
    for h in labels:
        if h in listed:
            continue
        for p in labels:
            if p not in listed:
                continue
            same_group = groups.get(h) is not None and groups.get(h) == groups.get(p)
            if same_group or p in lookalikes.get(h, ()) or h in lookalikes.get(p, ()):
                parent[root(h)] = root(p)
                paired.update((h, p))
    members: dict[str, list[str]] = {}
    for label in labels:
        if label in paired:
            members.setdefault(root(label), []).append(label)
    families = []
    for part in members.values():
        prot = tuple(sorted(x for x in part if x in listed))
        families.append(LookalikeFamily("+".join(prot), prot, tuple(sorted(x for x in part if x not in listed))))
    return tuple(sorted(families, key=lambda f: f.id))


@dataclass(frozen=True)
class ClassGroups:
    """What the rule knows about the classes, as matrices: groups and look-alike families."""

    labels: tuple[str, ...]
    groups: Mapping[str, str]
    protected: np.ndarray  # (classes,) bool: CITES-listed
    group_ids: tuple[str, ...]  # every group, sorted; a class without a group is a group of one
    membership: np.ndarray  # (classes, groups) 0/1
    group_sizes: np.ndarray  # (groups,)
    families: tuple[LookalikeFamily, ...]
    harmless_family: np.ndarray  # (classes,) family index of a harmless member, else -1
    family_protected: np.ndarray  # (classes, families) 1 where the class is a protected member

    @classmethod
    def build(cls, labels: Sequence[str], groups: Mapping[str, str], protected: Collection[str] = (),
              lookalikes: Mapping[str, Collection[str]] | None = None) -> "ClassGroups":
        labels = tuple(labels)
        if not labels:
            raise ValueError("labels is empty; the model must report at least one class")
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels must be unique; repeated: {sorted({x for x in labels if labels.count(x) > 1})}")
        unknown = sorted(set(protected) - set(labels))
        if unknown:
            raise ValueError(f"protected classes {unknown} are not among the labels")
        of = [groups.get(label) or label for label in labels]
        group_ids = tuple(sorted(set(of)))
        membership = np.zeros((len(labels), len(group_ids)))
        membership[np.arange(len(labels)), [group_ids.index(g) for g in of]] = 1.0
        families = lookalike_families(labels, groups, protected, lookalikes)
        harmless = np.full(len(labels), -1)
        family_protected = np.zeros((len(labels), len(families)))
        for j, fam in enumerate(families):
            harmless[[labels.index(x) for x in fam.harmless]] = j
            family_protected[[labels.index(x) for x in fam.protected], j] = 1.0
        listed = np.array([label in set(protected) for label in labels])
        return cls(labels, MappingProxyType(dict(groups)), listed, group_ids, membership, membership.sum(0), families,
                   harmless, family_protected)


@dataclass(frozen=True)
class Decision:
    """The outcome for one photo.

    label:      the identified class; set only when kind is IDENTIFIED.
    group:      the chosen group for GROUP; the top class's group for IDENTIFIED; the
                likeliest suspected class's group for CANNOT_RULE_OUT; None for UNKNOWN.
    confidence: top-1 probability (IDENTIFIED, CANNOT_RULE_OUT, UNKNOWN) or group mass (GROUP).
    top:        the top-k (class id, probability) pairs, most probable first, for the
                expert view. Not for the headline: UNKNOWN never names a class.
    out_of_distribution: True when UNKNOWN was forced by the out-of-catalogue score.
    family:     the look-alike family of a harmless top class (IDENTIFIED, CANNOT_RULE_OUT).
    suspected:  the protected classes not ruled out (CANNOT_RULE_OUT).
    protected_mass: the family's summed protected probability, when `family` is set.
    """

    kind: DecisionKind
    label: str | None
    group: str | None
    confidence: float
    top: tuple[tuple[str, float], ...]
    ood_score: float | None = None
    out_of_distribution: bool = False
    family: str | None = None
    suspected: tuple[str, ...] = ()
    protected_mass: float | None = None

    @property
    def lookalike(self) -> str | None:
        """The harmless class a CANNOT_RULE_OUT photo most resembles."""
        return self.top[0][0] if self.kind is DecisionKind.CANNOT_RULE_OUT and self.top else None


@dataclass(frozen=True)
class Outcomes:
    """`decide_many`'s answer: one row per photo (codes index `KINDS`)."""

    kind: np.ndarray  # (n,) int codes
    top: np.ndarray  # (n,) top class index
    confidence: np.ndarray  # (n,) top-1 probability
    group: np.ndarray  # (n,) index of the heaviest group in ClassGroups.group_ids
    group_mass: np.ndarray  # (n,)
    family: np.ndarray  # (n,) family index when the top class is a harmless member, else -1
    protected_mass: np.ndarray  # (n,) that family's protected probability (0 without a family)
    out_of_distribution: np.ndarray  # (n,) bool

    def share(self, kind: DecisionKind) -> float:
        return float(np.mean(self.kind == KINDS.index(kind))) if len(self.kind) else float("nan")


@dataclass(frozen=True)
class DecisionRule:
    classes: ClassGroups
    thresholds: Thresholds

    @classmethod
    def build(cls, labels: Sequence[str], groups: Mapping[str, str], thresholds: Thresholds,
              protected: Collection[str] = (), lookalikes: Mapping[str, Collection[str]] | None = None
              ) -> "DecisionRule":
        return cls(ClassGroups.build(labels, groups, protected, lookalikes), thresholds)

    def with_thresholds(self, thresholds: Thresholds) -> "DecisionRule":
        return DecisionRule(self.classes, thresholds)

    def decide_many(self, probs: np.ndarray, ood_scores: np.ndarray | None = None) -> Outcomes:
        """The rule on a (photos, classes) probability matrix; see the module docstring."""
        c, th = self.classes, self.thresholds
        p = np.asarray(probs, np.float64)
        if p.ndim != 2 or p.shape[1] != len(c.labels):
            raise ValueError(f"probabilities have shape {p.shape}; expected (photos, {len(c.labels)})")
        n, rows = len(p), np.arange(len(p))
        top = p.argmax(1) if n else np.zeros(0, np.int64)
        conf = p[rows, top]
        mass = p @ c.membership
        group = mass.argmax(1) if n else np.zeros(0, np.int64)  # ties: the group id that sorts first
        group_mass = mass[rows, group]
        family = c.harmless_family[top]
        protected_mass = np.zeros(n)
        limit = np.full(n, np.nan)  # NaN: no release threshold, so never released
        if c.families:
            on = family >= 0
            protected_mass[on] = (p[on] @ c.family_protected)[np.arange(on.sum()), family[on]]
            limits = np.array([np.nan if th.release.get(f.id) is None else th.release[f.id] for f in c.families])
            limit[on] = limits[family[on]]
        released = (family < 0) | (protected_mass < limit)
        grouped = (c.group_sizes[group] >= 2) & (th.group is not None) & \
            (group_mass >= (th.group if th.group is not None else np.inf))
        kind = np.where(conf >= th.identify, np.where(released, IDENTIFIED, CANNOT_RULE_OUT),
                        np.where(grouped, GROUP, UNKNOWN))
        ood = np.zeros(n, bool)
        if th.ood is not None:
            if ood_scores is None:
                raise ValueError("thresholds.ood is set but no out-of-catalogue scores were given; pass the "
                                 "detector's scores or use thresholds without ood")
            ood = np.asarray(ood_scores, np.float64).reshape(n) > th.ood
            kind[ood] = UNKNOWN
        return Outcomes(kind.astype(np.int8), top, conf, group, group_mass, family, protected_mass, ood)

    def decide(self, probs: Sequence[float], ood_score: float | None = None, top_k: int = 5) -> Decision:
        """The rule for one photo (checked probabilities, one per label in order)."""
        values = _validate(self.classes.labels, probs)
        if self.thresholds.ood is not None and ood_score is None:
            raise ValueError("thresholds.ood is set but no ood_score was given; "
                             "pass the detector's score or use Thresholds(ood=None)")
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
            raise ValueError(f"top_k = {top_k!r} must be a positive integer")
        if ood_score is not None:
            ood_score = _as_float("ood_score", ood_score)
            if not math.isfinite(ood_score):
                raise ValueError(f"ood_score = {ood_score!r} must be a finite number or None")
        out = self.decide_many(values[None], None if ood_score is None else np.array([ood_score]))
        return self._decision(values, out, 0, ood_score, top_k)

    def decisions(self, probs: np.ndarray, ood_scores: np.ndarray | None = None, top_k: int = 5) -> list[Decision]:
        """One `Decision` per row of a probability matrix (the core runs once for all rows)."""
        p = np.asarray(probs, np.float64)
        out = self.decide_many(p, ood_scores)
        scores = [None] * len(p) if ood_scores is None else [float(s) for s in np.asarray(ood_scores).reshape(-1)]
        return [self._decision(p[i], out, i, scores[i], top_k) for i in range(len(p))]

    def _decision(self, values: np.ndarray, out: Outcomes, i: int, ood_score: float | None, top_k: int) -> Decision:
        c = self.classes
        order = np.argsort(-values, kind="stable")[:top_k]  # ties keep input order
        top = tuple((c.labels[j], float(values[j])) for j in order)
        kind = KINDS[int(out.kind[i])]
        top_label, conf = c.labels[int(out.top[i])], float(out.confidence[i])
        fam = c.families[int(out.family[i])] if out.family[i] >= 0 else None
        family = dict(family=fam.id, protected_mass=float(out.protected_mass[i])) if fam else {}
        if kind is DecisionKind.IDENTIFIED:
            return Decision(kind, top_label, c.groups.get(top_label), conf, top, ood_score, **family)
        if kind is DecisionKind.CANNOT_RULE_OUT:  # named by the group of the likeliest suspected class
            likeliest = max(fam.protected, key=lambda x: values[c.labels.index(x)])
            return Decision(kind, None, c.groups.get(likeliest), conf, top, ood_score, suspected=fam.protected,
                            **family)
        if kind is DecisionKind.GROUP:
            return Decision(kind, None, c.group_ids[int(out.group[i])], float(out.group_mass[i]), top, ood_score)
        return Decision(kind, None, None, conf, top, ood_score, bool(out.out_of_distribution[i]))


def decide(labels: Sequence[str], probs: Sequence[float], groups: Mapping[str, str], thresholds: Thresholds,
           ood_score: float | None = None, top_k: int = 5, protected: Collection[str] = (),
           lookalikes: Mapping[str, Collection[str]] | None = None) -> Decision:
    """The rule for one photo, from plain labels and groups (builds the matrices each call:
    code deciding many photos builds one `DecisionRule` and keeps it).

    groups maps class id -> group id (a class missing from it is a group of one);
    protected: the CITES-listed classes; lookalikes: class id -> catalogue look-alike ids.
    When `thresholds.ood` is set an `ood_score` is required (a silent skip would let an
    unfamiliar photo be named as a species)."""
    return DecisionRule.build(labels, groups, thresholds, protected, lookalikes).decide(probs, ood_score, top_k)


def _as_float(name: str, value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} is {value!r}, not a number") from None


def _validate(labels: Sequence[str], probs: Sequence[float]) -> np.ndarray:
    """The probabilities as a float array, or ValueError naming what is wrong."""
    if len(labels) != len(probs):
        raise ValueError(f"got {len(labels)} labels but {len(probs)} probabilities; "
                         "pass one probability per label, in the same order")
    values = np.array([_as_float(f"probability of {label!r}", p) for label, p in zip(labels, probs)], np.float64)
    for label, p in zip(labels, values):
        if math.isnan(p):
            raise ValueError(f"probability of {label!r} is NaN; check the model output")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"probability of {label!r} is {p!r}; probabilities must be in [0, 1]")
    total = math.fsum(values.tolist())
    if abs(total - 1.0) > PROB_SUM_TOLERANCE:
        raise ValueError(f"probabilities sum to {total:.6f}, not 1 (tolerance {PROB_SUM_TOLERANCE}); "
                         "pass softmax/calibrated probabilities, not logits")
    return values
