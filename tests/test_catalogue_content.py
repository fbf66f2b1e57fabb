"""Catalogue content invariants (issue 18): translations of the new entries, CITES sources,
split listings named per population, entry-into-force dates, the corrected facts, and the
loader's checks of the new fields (other_taxa, cites.listings, key)."""
from __future__ import annotations

import copy
import datetime as dt

import pytest

from species_data import Appendix, CatalogueError, Kind, entry_from_mapping, entry_to_mapping, load_catalogue
from species_data.cites import COP_MEETINGS, in_force_after, is_cites_source
from species_data.key import Attribute, Form

COMPLETE = ("en", "fr", "es", "pt", "id")
NEW_ENTRIES = (  # added for issue 18: every officer-facing text in every complete language
    "rosewood_timber", "kosso_timber", "red_sanders", "dyed_hardwood", "agarwood", "imitation_agarwood",
    "orchid", "cactus", "american_ginseng", "asian_ginseng", "glass_eels", "european_eel", "unlisted_eel",
    "caviar", "fish_roe_substitute", "radiated_tortoise", "ploughshare_tortoise", "indian_star_tortoise",
    "freshwater_turtle", "red_eared_slider", "monitor_lizard", "live_python_boa", "colubrid_snake",
    "bear_bile", "domestic_gall_bladder", "musk_pod", "saiga_horn", "goat_sheep_horn", "shahtoosh",
    "pashmina_shawl", "narwhal_tusk", "orca_tooth", "warthog_tusk", "antler", "teatfish_sea_cucumber",
    "sea_cucumber_unlisted", "giant_clam", "queen_conch", "giraffe_parts", "falcon", "songbird",
    "slow_loris", "otter",
)
COP20_IN_FORCE = dt.date(2026, 3, 5)


@pytest.fixture(scope="module")
def cat():
    return load_catalogue()


def test_at_least_90_entries_and_30_new(cat):
    assert len(cat) >= 90
    assert len(NEW_ENTRIES) >= 30 and all(i in cat for i in NEW_ENTRIES)


def test_every_lookalike_exists_both_ways(cat):
    for e in cat:
        for la in e.lookalikes:
            assert la.id in cat, (e.id, la.id)
            assert cat[la.id].lookalike(e.id) is not None, f"{la.id} should list {e.id} back"


@pytest.mark.parametrize("entry_id", NEW_ENTRIES)
def test_new_entry_has_every_text_in_every_complete_language(cat, entry_id):
    e = cat[entry_id]
    for lang in COMPLETE:
        assert e.common_names.get(lang), (entry_id, lang, "name")
        assert len(e.cues.get(lang, ())) == len(e.cues["en"]), (entry_id, lang, "cues")
        assert len(e.handling.get(lang, ())) == len(e.handling["en"]), (entry_id, lang, "handling")
        for la in e.lookalikes:
            assert la.cue.get(lang), (entry_id, la.id, lang, "look-alike cue")
        assert not e.cues_in(lang).fell_back and not e.handling_in(lang).fell_back
    assert "tentative" in e.handling["en"][0]
    assert e.key is not None and e.key.of(Attribute.FORM) and e.key.of(Attribute.ANIMAL_GROUP)


def test_every_listed_entry_cites_an_official_cites_source(cat):
    for e in cat:
        if e.protected or e.cites.listings:
            assert any(is_cites_source(s.url) for s in e.sources), f"{e.id}: cite the Appendices or Species+"
    assert is_cites_source("https://checklist.cites.org") and is_cites_source("https://speciesplus.net/x")
    assert not is_cites_source("https://cites.org.example.com") and not is_cites_source("https://www.traffic.org")


def test_split_listings_name_their_populations(cat):
    for e in cat:
        note = e.cites.note.lower()
        if "populations of" in note or "population of" in note:
            assert e.cites.split, f"{e.id}: the note names populations in different Appendices; add listing rows"
        for row in e.cites.listings:
            assert len(row.covers) > 10, (e.id, row)
        if e.cites.split:
            assert e.appendix in {r.appendix for r in e.cites.listings}, e.id
    croc = {r.covers: r.appendix for r in cat["crocodile"].cites.listings}
    assert any("niloticus" in c and "Zimbabwe" in c and a is Appendix.II for c, a in croc.items())
    assert any("porosus" in c and "Australia" in c and a is Appendix.II for c, a in croc.items())
    assert any("Alligator mississippiensis" in c and a is Appendix.II for c, a in croc.items())
    musk = {r.covers: r.appendix for r in cat["musk_pod"].cites.listings}
    assert any("India" in c and "Nepal" in c and a is Appendix.I for c, a in musk.items())
    for eid in ("elephant", "ivory_carving", "ivory_raw_tusk"):
        rows = {r.covers: r.appendix for r in cat[eid].cites.listings}
        assert any("cyclotis" in c and a is Appendix.I for c, a in rows.items()), eid
        assert any("Botswana, Namibia, South Africa and Zimbabwe" in c and a is Appendix.II
                   for c, a in rows.items()), eid


def test_cop_dates_follow_article_xv():
    assert in_force_after(17) == dt.date(2017, 1, 2)
    assert in_force_after(18) == dt.date(2019, 11, 26)
    assert in_force_after(19) == dt.date(2023, 2, 23)
    assert in_force_after(20) == COP20_IN_FORCE and COP_MEETINGS[20][0] == "Samarkand"
    with pytest.raises(ValueError, match="CoP99"):
        in_force_after(99)


def test_cop20_listings_give_their_entry_into_force(cat):
    rows = [(e.id, r) for e in cat for r in e.cites.listings if "CoP20" in r.covers]
    assert {i for i, _ in rows} >= {"shark", "shark_fin", "manta_ray_gill_plates", "hornbill"}
    assert all(r.in_force == COP20_IN_FORCE for _, r in rows), rows
    for eid in ("shark", "manta_ray_gill_plates", "hornbill"):
        assert "5 March 2026" in cat[eid].cites.note, eid


def test_no_text_mentions_a_brief(cat):
    for e in cat:
        texts = [e.cites.note, *[r.covers for r in e.cites.listings]]
        for lang in e.cues:
            texts += [*e.cues[lang], *e.handling.get(lang, ())]
        texts += [c for la in e.lookalikes for c in la.cue.values()]
        assert not any("brief" in t.lower() for t in texts), e.id


def test_corrected_facts(cat):
    # tortoiseshell: pigment dots in real shell, continuous colour in plastic, in every language it has
    real, fake = cat["tortoiseshell_item"], cat["imitation_tortoiseshell"]
    assert "dots" in " ".join(real.cues["en"]) and "continuous" in " ".join(fake.cues["en"])
    assert set(real.cues) >= set(COMPLETE) and set(fake.cues) >= set(COMPLETE)
    assert "continuous" in real.lookalike("imitation_tortoiseshell").cue["en"]
    # Schreger angles are averaged; 90-115 degrees goes to a lab
    for eid in ("ivory_carving", "mammoth_ivory"):
        cues = " ".join(cat[eid].cues["en"])
        assert "5 concave" in cues and "115" in cues and "laboratory" in cues, eid
    # large croaker maws are not reassuring
    assert "Cynoscion acoupa" in " ".join(cat["fish_maw"].cues["en"])
    assert "DNA" in cat["totoaba_swim_bladder"].lookalike("fish_maw").cue["en"]
    # rhino horn colour is no cue; touch temperature is no cue
    assert "darker towards the base" not in " ".join(cat["rhino_horn"].cues["en"])
    for eid in ("ivory_carving", "ceramic_ware", "porcelain_ware", "resin_imitation"):
        words = " ".join(cat[eid].cues["en"] + tuple(la.cue["en"] for la in cat[eid].lookalikes)).lower()
        assert not any(w in words for w in ("cool", "cold", "warmer", "warms")), eid
    # names permits use
    for eid in ("pangolin", "pangolin_scales"):
        assert {"Manis spp.", "Phataginus spp.", "Smutsia spp.", "Manis temminckii"} <= set(cat[eid].taxa)
        assert "Smutsia temminckii" in cat[eid].cites.note
    assert "Bubalus bubalis" in cat["cattle_buffalo_horn"].taxa
    assert "Dermochelys coriacea" in cat["sea_turtle"].taxa
    assert "Neofelis diardi" in cat["clouded_leopard"].taxa


def test_every_entry_has_key_attributes_and_lookalike_kinds_are_unlisted(cat):
    for e in cat:
        assert e.key is not None and e.key.of(Attribute.FORM), e.id
        if e.kind is Kind.LOOKALIKE:
            assert not e.protected, e.id
    assert cat["rosewood_timber"].key.typical(Attribute.FORM) is Form.WOOD


# -- the loader's checks of the new fields ----------------------------------------------------

def _mapping(cat, entry_id="musk_pod"):
    return copy.deepcopy(entry_to_mapping(cat[entry_id]))


@pytest.mark.parametrize("change, field", [
    (lambda m: m["cites"]["listings"][0].update(appendix="IV"), "cites.listings[0].appendix"),
    (lambda m: m["cites"]["listings"][0].update(covers=""), "cites.listings[0].covers"),
    (lambda m: m["cites"]["listings"][0].update(in_force="March 2026"), "cites.listings[0].in_force"),
    (lambda m: m["cites"].update(appendix="III"), "cites.appendix"),
    (lambda m: m["cites"].update(listings="I and II"), "cites.listings"),
    (lambda m: m.update(other_taxa=["moschus"]), "other_taxa[0]"),
    (lambda m: m.update(other_taxa=["Moschus spp."]), "other_taxa[0]"),
    (lambda m: m["key"].update(form=["timber"]), "key.form"),
    (lambda m: m["key"].update(smell=["musky"]), "key.smell"),
    (lambda m: m["key"].update(size=["small", "small"]), "key.size"),
])
def test_loader_rejects_bad_new_fields_naming_the_field(cat, change, field):
    m = _mapping(cat)
    change(m)
    with pytest.raises(CatalogueError) as err:
        entry_from_mapping(m)
    assert field in {p.field for p in err.value.problems}, [str(p) for p in err.value.problems]


def test_new_fields_round_trip(cat):
    for eid in ("musk_pod", "crocodile", "shark", "rosewood_timber"):
        m = entry_to_mapping(cat[eid])
        again = entry_from_mapping(m)
        assert again == cat[eid] and entry_to_mapping(again) == m
    m = _mapping(cat)
    del m["key"], m["cites"]["listings"], m["other_taxa"]
    bare = entry_from_mapping(m)  # all three are optional (trainer-made entries)
    assert bare.key is None and bare.cites.listings == () and bare.taxa == ("Moschus spp.",)
