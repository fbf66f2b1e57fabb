"""The identification key (serve/identify/key.py) on hand-built entries, on the packaged
catalogue, and the short form of bench/key_simulation.py."""
from __future__ import annotations

import math
import re

import pytest

from species_data import load_catalogue
from species_data.key import Attribute, Colour, Form, KeyAttributes, Material, Size

from bench import key_simulation as sim
from serve.identify.key import (SHORT_LIST, Answer, Key, KeyAnswerError, KeyItem, information_gain,
                                parse_answers, weights_from_model)


def item(entry_id, weight=1.0, **traits):
    attrs = KeyAttributes({Attribute(k): tuple(v) for k, v in traits.items()})
    return KeyItem(entry_id, attrs, weight)


F, M, C, S = Form, Material, Colour, Size
ITEMS = [
    item("ivory", form=[F.CARVING_OR_FINISHED_ITEM], material=[M.IVORY_LIKE], colour=[C.WHITE_CREAM]),
    item("bone", form=[F.CARVING_OR_FINISHED_ITEM], material=[M.BONE], colour=[C.WHITE_CREAM]),
    item("resin", form=[F.CARVING_OR_FINISHED_ITEM], material=[M.RESIN_OR_PLASTIC, M.IVORY_LIKE],
         colour=[C.WHITE_CREAM, C.YELLOW_AMBER]),
    item("rosewood", form=[F.WOOD, F.CARVING_OR_FINISHED_ITEM], material=[M.WOOD], colour=[C.BROWN]),
    item("red_sanders", form=[F.WOOD], material=[M.WOOD], colour=[C.RED_PINK]),
    item("agarwood", form=[F.WOOD, F.LIQUID_OR_POWDER], material=[M.WOOD], colour=[C.BLACK_GREY]),
    item("pangolin_scales", form=[F.SCALES_OR_SHELL], material=[M.KERATIN_PLATES], colour=[C.BROWN]),
    item("caviar", form=[F.MEAT_FIN_DRIED_PARTS], material=[M.POWDER_OR_GRAINS], colour=[C.BLACK_GREY]),
]


def test_information_gain_is_mutual_information_in_bits():
    two = [item("a", form=[F.WOOD]), item("b", form=[F.PLANT])]
    assert information_gain(two, Attribute.FORM) == pytest.approx(1.0)
    assert information_gain(two, Attribute.COLOUR) == pytest.approx(0.0)  # neither states it
    same = [item("a", form=[F.WOOD]), item("b", form=[F.WOOD])]
    assert information_gain(same, Attribute.FORM) == pytest.approx(0.0)
    # an entry with two values splits its weight between them: less information
    vague = [item("a", form=[F.WOOD, F.PLANT]), item("b", form=[F.PLANT])]
    assert 0 < information_gain(vague, Attribute.FORM) < 1
    # weights count: a near-certain entry leaves little to learn
    skewed = [item("a", 0.99, form=[F.WOOD]), item("b", 0.01, form=[F.PLANT])]
    assert information_gain(skewed, Attribute.FORM) == pytest.approx(
        -(0.99 * math.log2(0.99) + 0.01 * math.log2(0.01)))


def test_first_question_splits_best_and_options_count_what_they_keep():
    key = Key(ITEMS)
    state = key.state()
    assert not state.finished and state.question.attribute in (Attribute.FORM, Attribute.MATERIAL)
    options = {o.value: o.entries for o in state.question.options}
    if state.question.attribute is Attribute.FORM:
        assert options[F.WOOD] == 3 and options[F.CARVING_OR_FINISHED_ITEM] == 4
        assert F.LIVE_ANIMAL not in options  # no remaining entry states it: not offered


def test_answers_narrow_to_a_short_list_with_weights_ordering_it():
    key = Key(ITEMS)
    state = key.state([Answer(Attribute.FORM, F.WOOD)])
    assert set(state.remaining_ids) == {"rosewood", "red_sanders", "agarwood"}
    assert state.finished and len(state.short_list) <= SHORT_LIST  # three left: stop asking
    state = key.state([Answer(Attribute.FORM, F.CARVING_OR_FINISHED_ITEM), Answer(Attribute.MATERIAL, M.IVORY_LIKE)])
    assert set(state.remaining_ids) == {"ivory", "resin"} and state.finished
    assert abs(sum(w for _, w in state.remaining) - 1.0) < 1e-9


def test_cant_tell_keeps_everything_and_is_not_asked_again():
    key = Key(ITEMS)
    first = key.state().question.attribute
    state = key.state([Answer(first, None)])
    assert len(state.remaining) == len(ITEMS)
    assert state.question.attribute is not first
    with pytest.raises(KeyAnswerError, match="answered twice"):
        key.state([Answer(first, None), Answer(first, None)])


def test_entries_without_attributes_stay_in_play():
    key = Key(ITEMS + [KeyItem("new_trainer_entry", None)])
    state = key.state([Answer(Attribute.FORM, F.SCALES_OR_SHELL)])
    assert set(state.remaining_ids) == {"pangolin_scales", "new_trainer_entry"}


def test_no_question_left_ends_on_the_heaviest_three():
    twins = [item(f"t{i}", weight=w, form=[F.WOOD]) for i, w in enumerate((1, 5, 2, 4))]
    state = Key(twins).state()
    assert state.finished and state.short_list == ("t1", "t3", "t2")  # heaviest first
    assert len(state.remaining) == 4  # the officer is told more remain


def test_contradictory_answers_leave_nothing():
    state = Key(ITEMS).state([Answer(Attribute.FORM, F.WOOD), Answer(Attribute.COLOUR, C.WHITE_CREAM)])
    assert state.remaining == () and state.short_list == () and state.finished


def test_photo_model_weights_the_entries_it_knows_and_others_stay_in_play():
    weights = weights_from_model(["ivory", "bone", "caviar", "agarwood"], {"ivory": 0.9, "bone": 0.1})
    assert weights["ivory"] == pytest.approx(0.45) and weights["bone"] == pytest.approx(0.05)
    assert weights["caviar"] == weights["agarwood"] == pytest.approx(0.25)
    assert weights_from_model(["a", "b"], None) == {"a": 0.5, "b": 0.5}
    assert weights_from_model(["a"], {"a": 1.0}) == {"a": 1.0}  # every entry known to the model
    with pytest.raises(ValueError, match="model_share"):
        weights_from_model(["a", "b"], {"a": 1.0}, model_share=2)
    # the weights order the short list
    cat = load_catalogue()
    key = Key.from_catalogue(cat, {"ivory_carving": 0.7, "bone_carving": 0.2, "walrus_ivory_carving": 0.1})
    state = key.state([Answer(Attribute.FORM, F.CARVING_OR_FINISHED_ITEM), Answer(Attribute.MATERIAL, M.IVORY_LIKE)])
    assert state.remaining_ids[0] == "ivory_carving"
    assert "mammoth_ivory" in state.remaining_ids  # no photos, still in play


def test_parse_answers_names_what_is_wrong():
    answers = parse_answers([{"attribute": "form", "value": "wood"}, {"attribute": "colour", "value": None}])
    assert answers == (Answer(Attribute.FORM, F.WOOD), Answer(Attribute.COLOUR, None))
    assert parse_answers(None) == () and parse_answers("") == ()
    for bad, match in ((["form"], "attribute, value"), ([{"attribute": "smell", "value": "x"}], "smell"),
                       ([{"attribute": "form", "value": "timber"}], "timber"),
                       ([{"attribute": "form", "value": 3}], "text or null"),
                       ({"attribute": "form"}, "list"),
                       ([{"attribute": "form", "value": None}] * 20, "each question once")):
        with pytest.raises(KeyAnswerError, match=match):
            parse_answers(bad)


def test_state_to_dict_is_json_ready():
    import json

    d = Key(ITEMS).state([Answer(Attribute.FORM, F.WOOD)]).to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["finished"] and d["answers"] == [{"attribute": "form", "value": "wood"}]


def test_simulation_short_form_every_entry_is_found():
    key = Key.from_catalogue(load_catalogue())
    runs = sim.simulate(key)
    line = sim.result_line(runs)
    match = re.fullmatch(r"key: entries (\d+), median questions ([\d.]+), worst (\d+), always found: (yes|no)", line)
    assert match, line
    assert int(match.group(1)) == len(key.items) >= 90
    assert match.group(4) == "yes", [r for r in runs if not r.found]
    assert int(match.group(3)) <= len(Attribute)
    # an officer who picks any truthful value still finds every entry
    assert all(r.found for r in sim.simulate(key, sim.any_value, seeds=2))


def test_simulation_notices_entries_the_key_cannot_separate():
    twins = [item(f"t{i}", form=[F.WOOD]) for i in range(5)]
    runs = sim.simulate(Key(twins))
    assert "always found: no" in sim.result_line(runs)
