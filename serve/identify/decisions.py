"""What the officer is told about one photo: the wording of a decision.

The decision itself is made by the one rule in `train.decision_rule` (re-exported here:
`decide`, `Decision`, `DecisionKind`, `Thresholds`), which calibration, evaluation, the
batch command and the app all call. This module turns a `Decision` into `Message`s for
the screen (`advice`). Pure logic: stdlib and the catalogue's `Appendix` only.

The wording never overstates a model result: it says "very likely"/"likely"/"probably",
never "confirmed" or "certain". Every result on a CITES-listed ("protected": the one
meaning of the word here and in the catalogue) class carries the tentative-identification
warning and the step for its appendix. A harmless look-alike whose protected twin cannot
be ruled out (CANNOT_RULE_OUT) is never named as harmless: the officer reads what cannot
be ruled out, the check that tells them apart, and the referral for the strictest appendix.
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

from species_data.catalogue import Appendix
from train.decision_rule import Decision, DecisionKind, DecisionRule, Thresholds, decide

from serve.i18n import Message

__all__ = ["HIGH_CONFIDENCE", "Decision", "DecisionKind", "DecisionRule", "Thresholds", "advice", "decide",
           "strictest_appendix"]

HIGH_CONFIDENCE = 0.9  # at or above: "very likely"; below (but identified): "likely"


def strictest_appendix(appendices: Iterable[Appendix | str | None]) -> Appendix:
    """The most restrictive appendix among several classes (I > II > III > not listed).

    Use it to pass `advice()` the appendix of a GROUP or CANNOT_RULE_OUT decision."""
    return min((Appendix.parse(a) for a in appendices), default=Appendix.NONE)


def _identity(value: str) -> str:
    return value


def _cites_messages(appendix: Appendix) -> tuple[Message, ...]:
    if appendix is Appendix.NONE:
        return (Message("decision.not_listed"),)
    return (
        Message("decision.cites.tentative"),
        Message(f"decision.cites.appendix_{appendix.value.lower()}", {"appendix": appendix.value}),
    )


def _cannot_rule_out(decision: Decision, appendix: Appendix, name_of: Callable[[str], str],
                     checks: Sequence[str]) -> tuple[Message, ...]:
    if not decision.suspected or decision.lookalike is None:
        raise ValueError("a CANNOT_RULE_OUT decision must name its suspected classes; build it with decide()")
    suspected = ", ".join(name_of(s) for s in decision.suspected)
    head = Message("decision.cannot_rule_out.head", {
        "suspected": suspected, "suspected_ids": decision.suspected, "label": decision.lookalike,
        "name": name_of(decision.lookalike), "confidence": decision.confidence,
        "protected": decision.protected_mass or 0.0})
    looks = tuple(Message("decision.cannot_rule_out.check", {"check": c}) for c in checks) or \
        (Message("decision.cannot_rule_out.no_check", {"suspected": suspected, "name": name_of(decision.lookalike)}),)
    level = appendix if appendix is not Appendix.NONE else Appendix.I  # suspected classes are listed
    return (head, *looks, Message("decision.cites.tentative"),
            Message(f"decision.cannot_rule_out.refer_{level.value.lower()}", {"appendix": level.value}))


def advice(
    decision: Decision,
    appendix: Appendix | str | None,
    name_of: Callable[[str], str] = _identity,
    high: float = HIGH_CONFIDENCE,
    checks: Sequence[str] = (),
) -> tuple[Message, ...]:
    """The messages to show for a decision, most important first.

    appendix: CITES appendix of the identified class; for a GROUP the strictest of its
              members, for CANNOT_RULE_OUT the strictest of the suspected classes
              (`strictest_appendix`). Ignored for UNKNOWN, which names nothing.
    name_of:  renders a class or group id as a display name; params keep the id too
              (`label`/`group`) so the app can re-render in another language.
    high:     confidence at or above which an identification is "very likely".
    checks:   for CANNOT_RULE_OUT, what to look at to tell the classes apart (the
              catalogue's look-alike cues, already in the reader's language).
    """
    level = Appendix.parse(appendix)
    if decision.kind is DecisionKind.UNKNOWN:
        key = (
            "decision.unknown.out_of_scope"
            if decision.out_of_distribution
            else "decision.unknown.not_recognised"
        )
        return (Message(key), Message("decision.unknown.refer"))
    if decision.kind is DecisionKind.CANNOT_RULE_OUT:
        return _cannot_rule_out(decision, level, name_of, checks)

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
    return head + _cites_messages(level)
