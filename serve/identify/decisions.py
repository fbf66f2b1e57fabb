"""What the officer is told about one photo: turn model probabilities into a decision.

Pure logic (stdlib only). Two steps:

1. `decide()` maps calibrated class probabilities (and, optionally, an
   out-of-distribution score) to a `Decision`: IDENTIFIED (one species),
   GROUP (a species group, species uncertain) or UNKNOWN (refer to an expert).
2. `advice()` turns a Decision into `Message`s for the screen. The wording never
   overstates a model result: it says "very likely"/"likely"/"probably", never
   "confirmed" or "certain", and every result on a CITES-listed class carries the
   tentative-identification warning plus the step for its appendix.

Rules of `decide()`, in order:
    ood_score > thresholds.ood                       -> UNKNOWN (out of distribution)
    top-1 probability >= thresholds.identify         -> IDENTIFIED
    largest group mass >= thresholds.group and the
    group has >= 2 members among the labels          -> GROUP
    otherwise                                        -> UNKNOWN
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Callable, Iterable, Mapping, Sequence

from serve.i18n import Message

PROB_SUM_TOLERANCE = 1e-3
HIGH_CONFIDENCE = 0.9  # at or above: "very likely"; below (but identified): "likely"
APPENDICES = ("I", "II", "III")


class DecisionKind(Enum):
    IDENTIFIED = "identified"
    GROUP = "group"
    UNKNOWN = "unknown"


def _check_fraction(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or not (0.0 < value <= 1.0):
        raise ValueError(f"Thresholds.{name} = {value!r} must be a probability in (0, 1]")


@dataclass(frozen=True)
class Thresholds:
    """Cut-offs tuned on validation data (see the model card for the values in use).

    identify: minimum calibrated top-1 probability to name one species.
    group:    minimum summed probability of one group to name the group.
    ood:      out-of-distribution score above which the photo is UNKNOWN whatever
              the probabilities say; None when no OOD detector is used.
    """

    identify: float
    group: float
    ood: float | None = None

    def __post_init__(self) -> None:
        _check_fraction("identify", self.identify)
        _check_fraction("group", self.group)
        if self.ood is not None and (
            not isinstance(self.ood, (int, float)) or not math.isfinite(self.ood)
        ):
            raise ValueError(f"Thresholds.ood = {self.ood!r} must be a finite number or None")


@dataclass(frozen=True)
class Decision:
    """The outcome for one photo.

    label:      the identified class id; set only when kind is IDENTIFIED.
    group:      the group id (the chosen group for GROUP, the species' group for
                IDENTIFIED when known); None for UNKNOWN.
    confidence: top-1 probability (IDENTIFIED, UNKNOWN) or group mass (GROUP).
    top:        the top-k (class id, probability) pairs, most probable first, for
                the expert view. Not for the headline: UNKNOWN never names a species.
    out_of_distribution: True when UNKNOWN was forced by the OOD score.
    """

    kind: DecisionKind
    label: str | None
    group: str | None
    confidence: float
    top: tuple[tuple[str, float], ...]
    ood_score: float | None = None
    out_of_distribution: bool = False


def _as_float(name: str, value: object) -> float:
    """float(value), accepting numpy scalars without importing numpy."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} is {value!r}, not a number") from None


def _validate(labels: Sequence[str], probs: Sequence[float]) -> list[float]:
    """The probabilities as floats, or ValueError naming what is wrong."""
    if len(labels) != len(probs):
        raise ValueError(
            f"got {len(labels)} labels but {len(probs)} probabilities; "
            "pass one probability per label, in the same order"
        )
    if not labels:
        raise ValueError("labels is empty; the model must report at least one class")
    if len(set(labels)) != len(labels):
        dupes = sorted({x for x in labels if list(labels).count(x) > 1})
        raise ValueError(f"labels must be unique; repeated: {dupes}")
    values = [_as_float(f"probability of {label!r}", p) for label, p in zip(labels, probs)]
    for label, p in zip(labels, values):
        if math.isnan(p):
            raise ValueError(f"probability of {label!r} is NaN; check the model output")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"probability of {label!r} is {p!r}; probabilities must be in [0, 1]")
    total = math.fsum(values)
    if abs(total - 1.0) > PROB_SUM_TOLERANCE:
        raise ValueError(
            f"probabilities sum to {total:.6f}, not 1 (tolerance {PROB_SUM_TOLERANCE}); "
            "pass softmax/calibrated probabilities, not logits"
        )
    return values


def _best_group(
    labels: Sequence[str], probs: Sequence[float], groups: Mapping[str, str]
) -> tuple[str | None, float, int]:
    """(group id, summed probability, members among labels) of the heaviest group.

    Ties on mass go to the group id that sorts first, so the result is deterministic.
    """
    mass: dict[str, float] = {}
    members: dict[str, int] = {}
    for label, p in zip(labels, probs):
        g = groups.get(label)
        if g is None:
            continue
        mass[g] = mass.get(g, 0.0) + p
        members[g] = members.get(g, 0) + 1
    if not mass:
        return None, 0.0, 0
    best = min(mass, key=lambda g: (-mass[g], g))
    return best, mass[best], members[best]


def decide(
    labels: Sequence[str],
    probs: Sequence[float],
    groups: Mapping[str, str],
    thresholds: Thresholds,
    ood_score: float | None = None,
    top_k: int = 5,
) -> Decision:
    """Decide what to tell the officer; see the module docstring for the rules.

    groups maps class id -> group id; classes missing from it belong to no group.
    When `thresholds.ood` is set an `ood_score` is required (a silent skip would
    let an unfamiliar photo be named as a species).
    """
    values = _validate(labels, probs)
    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k = {top_k!r} must be a positive integer")
    if ood_score is not None:
        ood_score = _as_float("ood_score", ood_score)
        if not math.isfinite(ood_score):
            raise ValueError(f"ood_score = {ood_score!r} must be a finite number or None")
    if thresholds.ood is not None and ood_score is None:
        raise ValueError(
            "thresholds.ood is set but no ood_score was given; "
            "pass the detector's score or use Thresholds(ood=None)"
        )

    ranked = sorted(zip(labels, values), key=lambda lp: -lp[1])  # stable: ties keep input order
    top = tuple(ranked[:top_k])
    top_label, top_prob = ranked[0]

    if thresholds.ood is not None and ood_score is not None and ood_score > thresholds.ood:
        return Decision(DecisionKind.UNKNOWN, None, None, top_prob, top, ood_score, True)
    if top_prob >= thresholds.identify:
        return Decision(
            DecisionKind.IDENTIFIED, top_label, groups.get(top_label), top_prob, top, ood_score
        )
    group, mass, members = _best_group(labels, values, groups)
    if group is not None and mass >= thresholds.group and members >= 2:
        return Decision(DecisionKind.GROUP, None, group, mass, top, ood_score)
    return Decision(DecisionKind.UNKNOWN, None, None, top_prob, top, ood_score)


def normalise_appendix(appendix: str | None) -> str | None:
    """'I' / 'II' / 'III' (any case, surrounding spaces ignored), or None for not listed."""
    if appendix is None:
        return None
    value = str(appendix).strip().upper()
    if value in ("", "NONE"):
        return None
    if value not in APPENDICES:
        raise ValueError(
            f"CITES appendix {appendix!r} is not one of 'I', 'II', 'III' or None/'none'"
        )
    return value


def strictest_appendix(appendices: Iterable[str | None]) -> str | None:
    """The most restrictive appendix among several classes (I > II > III > none).

    Use it to pass `advice()` the appendix of a GROUP decision.
    """
    found = {normalise_appendix(a) for a in appendices}
    for level in APPENDICES:
        if level in found:
            return level
    return None


def _identity(value: str) -> str:
    return value


def _cites_messages(appendix: str | None) -> tuple[Message, ...]:
    if appendix is None:
        return ()
    return (
        Message("decision.cites.tentative"),
        Message(f"decision.cites.appendix_{appendix.lower()}", {"appendix": appendix}),
    )


def advice(
    decision: Decision,
    appendix: str | None,
    protected: bool,
    name_of: Callable[[str], str] = _identity,
    high: float = HIGH_CONFIDENCE,
) -> tuple[Message, ...]:
    """The messages to show for a decision, most important first.

    appendix:  CITES appendix of the identified class ('I', 'II', 'III', None or
               'none'); for a GROUP pass the strictest appendix of its members
               (`strictest_appendix`). Ignored for UNKNOWN, which names nothing.
    protected: the class is protected by national law (ignored for UNKNOWN).
    name_of:   renders a class or group id as a display name; params keep the id
               too (`label`/`group`) so the app can re-render in another language.
    high:      confidence at or above which an identification is "very likely".
    """
    level = normalise_appendix(appendix)
    if decision.kind is DecisionKind.UNKNOWN:
        key = (
            "decision.unknown.out_of_scope"
            if decision.out_of_distribution
            else "decision.unknown.not_recognised"
        )
        return (Message(key), Message("decision.unknown.refer"))

    if decision.kind is DecisionKind.IDENTIFIED:
        if decision.label is None:
            raise ValueError("an IDENTIFIED decision must carry a label; build it with decide()")
        band = "very_likely" if decision.confidence >= high else "likely"
        head: tuple[Message, ...] = (
            Message(
                f"decision.identified.{band}",
                {
                    "label": decision.label,
                    "name": name_of(decision.label),
                    "confidence": decision.confidence,
                },
            ),
        )
    else:
        if decision.group is None:
            raise ValueError("a GROUP decision must carry a group id; build it with decide()")
        head = (
            Message(
                "decision.group.probable",
                {
                    "group": decision.group,
                    "group_name": name_of(decision.group),
                    "confidence": decision.confidence,
                },
            ),
            Message("decision.group.refer"),
        )

    tail: tuple[Message, ...] = _cites_messages(level)
    if protected:
        tail += (Message("decision.protected"),)
    if level is None and not protected:
        tail += (Message("decision.not_listed"),)
    return head + tail
