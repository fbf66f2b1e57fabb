"""serve.identify.decisions: each branch and boundary of decide(), bad input, wording invariants."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from serve.identify.decisions import (
    Decision,
    DecisionKind,
    Thresholds,
    advice,
    decide,
    strictest_appendix,
)
from serve.i18n import Message
from species_data.catalogue import Appendix

LABELS = ("pangolin_white", "pangolin_black", "python_reticulated", "parrot_grey")
GROUPS = {
    "pangolin_white": "pangolins",
    "pangolin_black": "pangolins",
    "python_reticulated": "snakes",
    "parrot_grey": "parrots",
}
TH = Thresholds(identify=0.70, group=0.80, ood=None)
TH_OOD = Thresholds(identify=0.70, group=0.80, ood=2.0)
LOCALE = Path(__file__).resolve().parents[1] / "serve" / "locales" / "en" / "decisions.json"


def _decide(probs, thresholds=TH, **kw) -> Decision:
    return decide(LABELS, probs, GROUPS, thresholds, **kw)


def _keys(messages) -> list[str]:
    return [m.key for m in messages]


# --- decide(): branches and boundaries -------------------------------------------------


def test_identified_above_threshold():
    d = _decide([0.9, 0.05, 0.03, 0.02])
    assert d.kind is DecisionKind.IDENTIFIED
    assert d.label == "pangolin_white"
    assert d.group == "pangolins"
    assert d.confidence == pytest.approx(0.9)


def test_identified_exactly_at_threshold():
    d = _decide([0.70, 0.10, 0.10, 0.10])
    assert d.kind is DecisionKind.IDENTIFIED


def test_just_below_identify_falls_to_group():
    d = _decide([0.69, 0.20, 0.06, 0.05])
    assert d.kind is DecisionKind.GROUP
    assert d.group == "pangolins"
    assert d.label is None
    assert d.confidence == pytest.approx(0.89)


def test_group_exactly_at_threshold():
    d = _decide([0.40, 0.40, 0.10, 0.10])
    assert d.kind is DecisionKind.GROUP
    assert d.confidence == pytest.approx(0.80)


def test_group_just_below_threshold_is_unknown():
    d = _decide([0.40, 0.39, 0.11, 0.10])
    assert d.kind is DecisionKind.UNKNOWN
    assert d.label is None and d.group is None
    assert d.confidence == pytest.approx(0.40)


def test_group_needs_two_members_among_labels():
    # Only one snake among the labels: 0.65 on it is not enough to name a species,
    # and a one-member "group" would just be the species under another name.
    th = Thresholds(identify=0.9, group=0.6)
    d = decide(LABELS, [0.1, 0.1, 0.65, 0.15], GROUPS, th)
    assert d.kind is DecisionKind.UNKNOWN


def test_largest_group_wins_and_labels_without_group_are_ignored():
    groups = {"pangolin_white": "pangolins", "pangolin_black": "pangolins"}
    d = decide(LABELS, [0.45, 0.40, 0.10, 0.05], groups, TH)
    assert d.kind is DecisionKind.GROUP and d.group == "pangolins"
    d = decide(LABELS, [0.05, 0.05, 0.5, 0.4], groups, TH)
    assert d.kind is DecisionKind.UNKNOWN


def test_ood_over_threshold_forces_unknown_even_when_confident():
    d = _decide([0.99, 0.005, 0.003, 0.002], TH_OOD, ood_score=2.5)
    assert d.kind is DecisionKind.UNKNOWN
    assert d.out_of_distribution
    assert d.ood_score == 2.5
    assert d.confidence == pytest.approx(0.99)


def test_ood_at_threshold_is_not_over_it():
    d = _decide([0.99, 0.005, 0.003, 0.002], TH_OOD, ood_score=2.0)
    assert d.kind is DecisionKind.IDENTIFIED
    assert not d.out_of_distribution


def test_ood_threshold_set_requires_a_score():
    with pytest.raises(ValueError, match="ood_score"):
        _decide([0.99, 0.005, 0.003, 0.002], TH_OOD)


def test_ood_score_ignored_when_no_ood_threshold():
    d = _decide([0.99, 0.005, 0.003, 0.002], TH, ood_score=100.0)
    assert d.kind is DecisionKind.IDENTIFIED


def test_top_k_sorted_and_truncated():
    d = _decide([0.1, 0.2, 0.3, 0.4], top_k=2)
    assert d.top == (("parrot_grey", 0.4), ("python_reticulated", 0.3))
    assert len(_decide([0.1, 0.2, 0.3, 0.4], top_k=10).top) == 4


def test_tie_on_top_keeps_input_order():
    d = _decide([0.25, 0.25, 0.25, 0.25])
    assert d.top[0][0] == "pangolin_white"


# --- decide(): bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    "probs, match",
    [
        ([0.5, 0.5, 0.0], "3 probabilities"),
        ([0.5, 0.6, -0.1, 0.0], "pangolin_black|python_reticulated"),
        ([0.5, math.nan, 0.25, 0.25], "NaN"),
        ([0.5, 0.2, 0.2, 0.2], "sum to 1.1"),
        ([5.0, -1.0, -2.0, -1.0], "probabilities must be in"),
        ([0.5, "x", 0.25, 0.25], "not a number"),
    ],
)
def test_bad_probabilities_raise_naming_the_problem(probs, match):
    with pytest.raises(ValueError, match=match):
        _decide(probs)


def test_sum_within_tolerance_is_accepted():
    assert _decide([0.7005, 0.1, 0.1, 0.1]).kind is DecisionKind.IDENTIFIED


def test_duplicate_labels_and_empty_input_raise():
    with pytest.raises(ValueError, match="repeated"):
        decide(["a", "a"], [0.5, 0.5], {}, TH)
    with pytest.raises(ValueError, match="empty"):
        decide([], [], {}, TH)


def test_bad_top_k_and_ood_score():
    with pytest.raises(ValueError, match="top_k"):
        _decide([0.7, 0.1, 0.1, 0.1], top_k=0)
    with pytest.raises(ValueError, match="ood_score"):
        _decide([0.7, 0.1, 0.1, 0.1], TH_OOD, ood_score=math.inf)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"identify": 0.0, "group": 0.5}, "identify"),
        ({"identify": 1.2, "group": 0.5}, "identify"),
        ({"identify": 0.7, "group": -0.1}, "group"),
        ({"identify": 0.7, "group": 0.8, "ood": math.nan}, "ood"),
    ],
)
def test_thresholds_validate_ranges(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Thresholds(**kwargs)


# --- advice(): wording -----------------------------------------------------------------

IDENTIFIED_HIGH = Decision(DecisionKind.IDENTIFIED, "pangolin_white", "pangolins", 0.95, ())
IDENTIFIED_MODERATE = Decision(DecisionKind.IDENTIFIED, "pangolin_white", "pangolins", 0.75, ())
GROUP = Decision(DecisionKind.GROUP, None, "pangolins", 0.85, ())
UNKNOWN = Decision(DecisionKind.UNKNOWN, None, None, 0.4, (("pangolin_white", 0.4),))
UNKNOWN_OOD = Decision(DecisionKind.UNKNOWN, None, None, 0.99, (), 3.0, True)
ALL = (IDENTIFIED_HIGH, IDENTIFIED_MODERATE, GROUP, UNKNOWN, UNKNOWN_OOD)
APPENDIX_VALUES = ("I", "II", "III", None, "none")


def test_confidence_bands_change_the_phrasing():
    assert _keys(advice(IDENTIFIED_HIGH, None))[0] == "decision.identified.very_likely"
    assert _keys(advice(IDENTIFIED_MODERATE, None))[0] == "decision.identified.likely"
    at_band = Decision(DecisionKind.IDENTIFIED, "pangolin_white", None, 0.9, ())
    assert _keys(advice(at_band, None))[0] == "decision.identified.very_likely"


@pytest.mark.parametrize("appendix", ["I", "II", "III", "ii"])
@pytest.mark.parametrize("decision", [IDENTIFIED_HIGH, IDENTIFIED_MODERATE, GROUP])
def test_every_listed_result_gets_the_tentative_warning_and_its_appendix_step(decision, appendix):
    keys = _keys(advice(decision, appendix))
    assert "decision.cites.tentative" in keys
    assert f"decision.cites.appendix_{appendix.lower()}" in keys
    assert keys.index("decision.cites.tentative") < keys.index(
        f"decision.cites.appendix_{appendix.lower()}"
    )


def test_group_says_probably_and_refer():
    keys = _keys(advice(GROUP, None))
    assert keys[:2] == ["decision.group.probable", "decision.group.refer"]


@pytest.mark.parametrize("decision", [UNKNOWN, UNKNOWN_OOD])
@pytest.mark.parametrize("appendix", APPENDIX_VALUES)
def test_unknown_never_names_a_species(decision, appendix):
    messages = advice(decision, appendix, name_of=lambda x: f"NAME<{x}>")
    assert _keys(messages)[-1] == "decision.unknown.refer"
    for m in messages:
        assert not m.params, f"{m.key} carries {m.params}"
        text = m.render()
        assert "pangolin" not in text and "NAME<" not in text
        assert "CITES Appendix" not in text


def test_unknown_says_why():
    assert _keys(advice(UNKNOWN, None))[0] == "decision.unknown.not_recognised"
    assert _keys(advice(UNKNOWN_OOD, None))[0] == "decision.unknown.out_of_scope"


def test_params_hold_ids_and_rendered_names():
    m = advice(IDENTIFIED_HIGH, None, name_of=str.upper)[0]
    assert m.params["label"] == "pangolin_white"
    assert m.params["name"] == "PANGOLIN_WHITE"
    g = advice(GROUP, None, name_of=lambda x: "Pangolins")[0]
    assert g.params["group"] == "pangolins" and g.params["group_name"] == "Pangolins"
    assert "Pangolins" in g.render()


def test_not_listed_note_only_for_classes_not_listed():
    assert "decision.not_listed" in _keys(advice(IDENTIFIED_HIGH, None))
    assert "decision.not_listed" in _keys(advice(IDENTIFIED_HIGH, Appendix.NONE))
    assert "decision.cites.tentative" not in _keys(advice(IDENTIFIED_HIGH, "none"))
    assert "decision.not_listed" not in _keys(advice(IDENTIFIED_HIGH, "II"))


@pytest.mark.parametrize("decision", ALL)
@pytest.mark.parametrize("appendix", APPENDIX_VALUES)
def test_rendered_advice_never_overstates(decision, appendix):
    for m in advice(decision, appendix):
        text = m.render()
        assert not re.search(r"\b(confirmed|certain|certainly|definitely)\b", text, re.I), text


def test_every_english_text_avoids_overstating_words():
    texts = json.loads(LOCALE.read_text(encoding="utf-8"))
    for key, text in texts.items():
        assert key.startswith("decision."), key
        assert not re.search(r"\b(confirmed|certain|certainly|definitely)\b", text, re.I), key


def test_bad_appendix_is_named():
    with pytest.raises(ValueError, match="'IV'"):
        advice(IDENTIFIED_HIGH, "IV")


def test_appendix_helpers():
    assert Appendix.parse(" ii ") is Appendix.II
    assert Appendix.parse("none") is Appendix.NONE and Appendix.parse(None) is Appendix.NONE
    assert strictest_appendix(["III", None, "II"]) is Appendix.II
    assert strictest_appendix([None, "none"]) is Appendix.NONE
    assert strictest_appendix([Appendix.I, "III"]) is Appendix.I
    assert strictest_appendix([]) is Appendix.NONE


def test_end_to_end_decide_then_advise():
    d = _decide([0.45, 0.40, 0.10, 0.05])
    messages = advice(d, strictest_appendix(["I", "II"]))
    assert isinstance(messages[0], Message)
    assert "decision.cites.appendix_i" in _keys(messages)
    for m in messages:
        m.render()  # every key exists in English and its placeholders are filled


# --- look-alikes of protected classes: CANNOT_RULE_OUT ------------------------------------

IVORY_LABELS = ("ivory", "walrus_ivory", "bone", "tiger")
IVORY_GROUPS = {"ivory": "ivory_like", "walrus_ivory": "ivory_like", "bone": "ivory_like", "tiger": "big_cats"}
IVORY_KW = dict(protected=("ivory", "walrus_ivory", "tiger"), lookalikes={"bone": ("ivory",)})


def _ivory(probs, release) -> Decision:
    th = Thresholds(identify=0.7, group=0.8, release=release)
    return decide(IVORY_LABELS, probs, IVORY_GROUPS, th, **IVORY_KW)


def test_harmless_lookalike_is_identified_only_under_the_release_threshold():
    family = "ivory+walrus_ivory"
    released = _ivory([0.01, 0.01, 0.97, 0.01], {family: 0.05})
    assert released.kind is DecisionKind.IDENTIFIED and released.label == "bone"
    assert released.family == family and released.protected_mass == pytest.approx(0.02)
    held = _ivory([0.04, 0.02, 0.93, 0.01], {family: 0.05})
    assert held.kind is DecisionKind.CANNOT_RULE_OUT and held.label is None
    assert held.suspected == ("ivory", "walrus_ivory") and held.lookalike == "bone"
    assert held.group == "ivory_like" and held.protected_mass == pytest.approx(0.06)
    never = _ivory([0.001, 0.001, 0.997, 0.001], {family: None})
    assert never.kind is DecisionKind.CANNOT_RULE_OUT
    assert _ivory([0.001, 0.001, 0.997, 0.001], {}).kind is DecisionKind.CANNOT_RULE_OUT  # not calibrated
    assert _ivory([0.97, 0.01, 0.01, 0.01], {}).kind is DecisionKind.IDENTIFIED  # the protected class itself
    assert _ivory([0.01, 0.01, 0.01, 0.97], {}).label == "tiger"  # no harmless look-alike: untouched


CANNOT = _ivory([0.04, 0.02, 0.93, 0.01], {})


def test_cannot_rule_out_names_the_suspects_the_check_and_the_referral():
    checks = ("Bone shows tiny dark pits (Haversian canals) and never Schreger lines.",)
    messages = advice(CANNOT, Appendix.I, name_of=str.upper, checks=checks)
    keys = _keys(messages)
    assert keys == ["decision.cannot_rule_out.head", "decision.cannot_rule_out.check", "decision.cites.tentative",
                    "decision.cannot_rule_out.refer_i"]
    head = messages[0].render()
    assert "IVORY, WALRUS_IVORY" in head and "BONE" in head
    assert "Haversian" in messages[1].render()
    assert not any(k.startswith("decision.identified") for k in keys)  # never named as the harmless class


def test_cannot_rule_out_without_a_catalogue_cue_says_to_compare_and_refers_by_appendix():
    keys = _keys(advice(CANNOT, "III"))
    assert "decision.cannot_rule_out.no_check" in keys and keys[-1] == "decision.cannot_rule_out.refer_iii"


@pytest.mark.parametrize("lang", ["en", "fr", "es", "pt", "id"])
def test_cannot_rule_out_renders_in_every_complete_language(lang):
    for m in advice(CANNOT, "II", checks=("x",)):
        text = m.render(lang)
        assert not text.startswith("[en]") and "{" not in text, (lang, m.key)
        assert not re.search(r"\b(confirmed|certain|certainly|definitely)\b", text, re.I)
