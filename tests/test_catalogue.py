"""Species catalogue: packaged content, validation, overlays, atomic saving, language fallback."""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

import species_data
from species_data import (
    LANGUAGES,
    PACKAGED_DIR,
    Appendix,
    CatalogueError,
    Kind,
    entry_from_mapping,
    entry_to_mapping,
    load_catalogue,
    read_history,
    save_entry,
)
from species_data.catalogue_write import dump_entry_yaml

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "photos"
PHOTO_CLASSES = (
    "bear", "bone_carving", "ceramic_ware", "cougar", "crocodile", "domestic_cat", "domestic_dog",
    "elephant", "giant_panda", "great_ape", "hard_coral", "hawksbill_turtle", "ivory_carving", "jaguar",
    "leopard", "lion", "porcelain_ware", "rhinoceros", "seahorse", "shark", "small_wild_cat", "tiger",
    "walrus_ivory_carving",
)


@pytest.fixture(scope="module")
def cat():
    return load_catalogue()


# -- packaged content --------------------------------------------------------------------

def test_packaged_catalogue_loads_with_enough_entries(cat):
    assert len(cat) >= 90
    assert list(cat.ids) == sorted(cat.ids)
    assert [e.id for e in cat.entries] == list(cat.ids)
    assert cat.checked_against == min(e.cites.checked_against for e in cat)  # the oldest check
    assert len(cat.version) == 12 and int(cat.version, 16) >= 0


def test_required_class_ids_present(cat):
    missing = [c for c in PHOTO_CLASSES if c not in cat]
    assert not missing, f"catalogue lacks entries for model classes: {missing}"


def test_every_photo_folder_has_an_entry(cat):
    if not PHOTOS.is_dir():
        pytest.skip(f"{PHOTOS} not present")
    folders = sorted(p.name for p in PHOTOS.iterdir() if p.is_dir())
    assert folders, "photo folder is empty"
    assert [f for f in folders if f not in cat] == []


def test_every_entry_is_complete(cat):
    for e in cat:
        for lang in ("en", "fr", "es", "pt", "id"):
            assert e.common_names.get(lang), f"{e.id}: no {lang} common name"
        assert e.sources and all(s.url.startswith("https://") for s in e.sources), e.id
        assert any("cites.org" in s.url for s in e.sources), f"{e.id}: cite the CITES Appendices/checklist"
        assert re.match(r"^20\d\d-(0[1-9]|1[0-2]) \(", e.cites.checked_against), e.id
        assert e.cues["en"] and e.handling["en"], e.id
        assert e.group in cat.groups, e.id
        if e.kind is Kind.PART_OR_PRODUCT:
            assert e.product_type, e.id
        if e.kind is Kind.LOOKALIKE:
            assert not e.protected, f"{e.id}: a look-alike should be non-protected material"
        assert "tentative" in e.handling["en"][0], f"{e.id}: handling must start by saying it is tentative"


def test_lookalikes_resolve_and_are_reciprocal(cat):
    for e in cat:
        for la in e.lookalikes:
            assert la.id in cat and la.id != e.id, (e.id, la.id)
            assert la.cue["en"]
            assert cat[la.id].lookalike(e.id) is not None, f"{la.id} should list {e.id} back"


def test_key_legal_facts(cat):
    expect = {
        "tiger": Appendix.I, "leopard": Appendix.I, "jaguar": Appendix.I, "lion": Appendix.II,
        "cougar": Appendix.II, "elephant": Appendix.I, "ivory_carving": Appendix.I,
        "walrus_ivory_carving": Appendix.III, "hippo_ivory": Appendix.II, "mammoth_ivory": Appendix.NONE,
        "great_ape": Appendix.I, "hard_coral": Appendix.II, "small_wild_cat": Appendix.II,
        "crocodile": Appendix.II, "bear": Appendix.II, "seahorse": Appendix.II,
        "hawksbill_turtle": Appendix.I, "giant_panda": Appendix.I, "domestic_cat": Appendix.NONE,
        "domestic_dog": Appendix.NONE, "pangolin_scales": Appendix.I, "rhino_horn": Appendix.I,
        "helmeted_hornbill_casque": Appendix.I, "african_grey_parrot": Appendix.I,
        "totoaba_swim_bladder": Appendix.I, "python_leather": Appendix.II,
        "precious_coral_item": Appendix.III, "manta_ray_gill_plates": Appendix.I,
        "bone_carving": Appendix.NONE, "ceramic_ware": Appendix.NONE, "porcelain_ware": Appendix.NONE,
    }
    got = {k: cat[k].appendix for k in expect}
    assert got == expect
    # mixed listings must say so rather than pretend to be simple
    for mixed in ("shark", "small_wild_cat", "crocodile", "bear", "hornbill"):
        note = cat[mixed].cites.note.lower()
        assert "appendix i" in note and ("mixed" in note or "many" in note or "several" in note), mixed
    costaricensis = [r for r in cat["cougar"].cites.listings if "costaricensis" in r.covers]
    assert [r.appendix for r in costaricensis] == [Appendix.I]  # the rest of Puma concolor is II
    assert "uncertain" in cat["rhino_horn"].cites.note.lower()
    assert "Ceratotherium simum simum" in cat["rhino_horn"].cites.note
    assert "90" in " ".join(cat["mammoth_ivory"].cues["en"])


def test_groups(cat):
    assert cat.group_of("tiger").id == "big_cats"
    assert cat.group_of("bone_carving").id == "ivory_and_lookalikes"
    assert cat.group_of("domestic_dog").id == "domestic_animals"
    assert {e.id for e in cat.members("big_cats")} >= {"tiger", "lion", "leopard", "jaguar", "cougar"}
    assert all(cat.members(g) for g in cat.groups), "every group should have members"
    for g in cat.groups.values():
        assert g.names["en"]
    with pytest.raises(KeyError):
        cat.members("no_such_group")
    with pytest.raises(KeyError):
        cat["no_such_entry"]


def test_mapping_and_yaml_round_trip(cat):
    for e in cat:
        m = entry_to_mapping(e)
        assert entry_from_mapping(m) == e
        assert yaml.safe_load(dump_entry_yaml(m)) == m


def test_records_are_immutable(cat):
    e = cat["tiger"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.id = "x"
    with pytest.raises(TypeError):
        e.common_names["en"] = ("x",)
    assert isinstance(cat.entries, tuple)
    cat.groups.clear()  # a copy: the catalogue keeps its groups
    assert cat.groups


def test_appendix_order_and_protected(cat):
    assert Appendix.I < Appendix.II < Appendix.III < Appendix.NONE
    assert max(Appendix) is Appendix.NONE and min(Appendix) is Appendix.I
    assert cat["tiger"].protected and not cat["porcelain_ware"].protected


# -- language fallback -------------------------------------------------------------------

def test_language_fallback_is_marked(cat):
    e = cat["ivory_carving"]
    fr = e.common_name_in("fr")
    assert (fr.value, fr.lang_used, fr.fell_back) == ("Objet sculpté en ivoire d'éléphant", "fr", False)
    assert e.common_name("es") == "Talla de marfil de elefante"
    lo = e.cues_in("lo")
    assert lo.fell_back is True and lo.lang_used == "en" and lo.value == e.cues["en"]
    assert e.cues_in("en").fell_back is False
    h = e.handling_in("fr-CA")
    assert h.lang_used == "fr" and not h.fell_back
    assert e.handling_in("xx").fell_back  # unknown language: English, marked
    la = e.lookalike("bone_carving").cue_in("pt")
    assert not la.fell_back and la.lang_used == "pt"
    la = e.lookalike("bone_carving").cue_in("ms")  # a partial language: English, marked
    assert la.fell_back and la.lang_used == "en"
    note = e.cites.note_in("es")
    assert note.lang_used == "es" and not note.fell_back and note.value != e.cites.note
    assert e.cites.note_in("lo").fell_back and e.cites.note_in("lo").value == e.cites.note
    g = cat.group_of("tiger").name_in("lo")
    assert g.fell_back and g.value == cat.group_of("tiger").names["en"]
    translated = [x.id for x in cat if not x.handling_in("id").fell_back]
    assert len(translated) >= 3 and "ivory_carving" in translated


# -- validation: bad catalogues built in tmp_path ------------------------------------------

def _entry(eid, **over):
    m = {
        "id": eid, "kind": "whole_animal", "product_type": None, "group": "big_cats",
        "scientific_name": "Panthera tigris", "common_names": {"en": [eid.title()]},
        "cites": {"appendix": "I", "note": "Appendix I.", "checked_against": "2026-02 (CoP20 amendments)"},
        "cues": {"en": ["Stripes."]}, "lookalikes": [], "handling": {"en": ["Refer it."]},
        "sources": [{"title": "CITES Appendices", "url": "https://cites.org/eng/app/appendices.php"}],
    }
    m.update(over)
    return m


def _write(directory: Path, mappings, groups=("big_cats",)):
    directory.mkdir(parents=True, exist_ok=True)
    if groups is not None:
        (directory / "_groups.yaml").write_text(
            yaml.safe_dump({"groups": [{"id": g, "names": {"en": g}} for g in groups]}), encoding="utf-8")
    for name, m in mappings:
        (directory / name).write_text(dump_entry_yaml(m), encoding="utf-8")
    return directory


def _good(tmp_path):
    lion = _entry("lion", scientific_name="Panthera leo",
                  lookalikes=[{"id": "tiger", "cue": {"en": "No stripes."}}])
    return [("tiger.yaml", _entry("tiger")), ("lion.yaml", lion)]


def test_small_valid_catalogue_loads(tmp_path):
    c = load_catalogue(_write(tmp_path / "c", _good(tmp_path)))
    assert c.ids == ("lion", "tiger")


BAD_CASES = {
    "appendix": (lambda m: m["cites"].update(appendix="IV"), "cites.appendix", "I, II, III or none, got 'IV'"),
    "kind": (lambda m: m.update(kind="carving"), "kind", "whole_animal"),
    "group": (lambda m: m.update(group="dragons"), "group", "not a known group"),
    "empty_cues": (lambda m: m.update(cues={"en": []}), "cues.en", "non-empty"),
    "no_cues": (lambda m: m.update(cues={}), "cues", "required"),
    "language": (lambda m: m["common_names"].update(xx=["Tigre"]), "common_names.xx", "language code"),
    "no_english": (lambda m: m.update(common_names={"fr": ["Tigre"]}), "common_names.en", "English"),
    "no_english_cue": (lambda m: m.update(cues={"fr": ["Rayures."]}), "cues.en", "English"),
    "no_sources": (lambda m: m.update(sources=[]), "sources", "required"),
    "bad_url": (lambda m: m.update(sources=[{"title": "x", "url": "cites.org"}]), "sources[0].url", "URL"),
    "lookalike_missing": (lambda m: m.update(lookalikes=[{"id": "lynx", "cue": {"en": "Ear tufts."}}]),
                          "lookalikes[0].id", "not a catalogue entry"),
    "lookalike_self": (lambda m: m.update(lookalikes=[{"id": "tiger", "cue": {"en": "x"}}]),
                       "lookalikes[0].id", "itself"),
    "scientific_name": (lambda m: m.update(scientific_name="tiger"), "scientific_name", "Genus species"),
    "checked": (lambda m: m["cites"].update(checked_against="recently"), "cites.checked_against", "year and month"),
    "unknown_field": (lambda m: m.update(colour="orange"), "colour", "not a known field"),
    "product_type": (lambda m: m.update(kind="part_or_product"), "product_type", "required"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_rejects_bad_entry_naming_entry_and_field(tmp_path, case):
    mutate, field, words = BAD_CASES[case]
    files = _good(tmp_path)
    tiger = copy.deepcopy(files[0][1])
    mutate(tiger)
    d = _write(tmp_path / "c", [("tiger.yaml", tiger), files[1]])
    with pytest.raises(CatalogueError) as err:
        load_catalogue(d)
    msg = str(err.value)
    assert "catalogue entry 'tiger'" in msg and field in msg and words in msg, msg
    assert "tiger.yaml" in msg
    assert err.value.entry_id == "tiger" and err.value.field == field
    assert isinstance(err.value, ValueError)


def test_rejects_two_files_claiming_one_id(tmp_path):
    files = _good(tmp_path) + [("tiger_copy.yaml", _entry("tiger"))]
    with pytest.raises(CatalogueError) as err:
        load_catalogue(_write(tmp_path / "c", files))
    msg = str(err.value)
    assert "catalogue entry 'tiger'" in msg and "id" in msg and "tiger_copy.yaml" in msg


def test_rejects_id_not_matching_file_name(tmp_path):
    files = [("tiger.yaml", _entry("tiger")), ("big_cat.yaml", _entry("lion", scientific_name="Panthera leo"))]
    with pytest.raises(CatalogueError) as err:
        load_catalogue(_write(tmp_path / "c", files))
    assert "catalogue entry 'lion'" in str(err.value) and err.value.field == "id"
    assert "big_cat.yaml" in str(err.value)


def test_rejects_bad_yaml_and_lists_all_problems(tmp_path):
    d = _write(tmp_path / "c", _good(tmp_path))
    (d / "broken.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    bad = _entry("puma", kind="animal", scientific_name="Puma concolor")
    (d / "puma.yaml").write_text(dump_entry_yaml(bad), encoding="utf-8")
    with pytest.raises(CatalogueError) as err:
        load_catalogue(d)
    files = {p.file and Path(p.file).name for p in err.value.problems}
    assert {"broken.yaml", "puma.yaml"} <= files
    assert "more problem" in str(err.value)


def test_rejects_unknown_language_in_groups_and_missing_dir(tmp_path):
    d = _write(tmp_path / "c", _good(tmp_path), groups=None)
    (d / "_groups.yaml").write_text(yaml.safe_dump({"groups": [{"id": "big_cats", "names": {"fr": "x"}}]}),
                                    encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"catalogue group 'big_cats': names\.en"):
        load_catalogue(d)
    with pytest.raises(CatalogueError, match="does not exist"):
        load_catalogue(tmp_path / "nope")


# -- overlays ----------------------------------------------------------------------------------

def test_overlay_overrides_entry_by_entry(tmp_path, cat):
    overlay = tmp_path / "overlay"
    tiger = entry_to_mapping(cat["tiger"])
    tiger["cues"]["en"] = ["Trainer-edited cue."]
    tiger["common_names"]["lo"] = ["ເສືອ"]
    new = _entry("clouded_tiger_test", group="big_cats",
                 lookalikes=[{"id": "leopard", "cue": {"en": "Not a leopard."}}])
    _write(overlay, [("tiger.yaml", tiger), ("clouded_tiger_test.yaml", new)], groups=None)
    merged = load_catalogue(PACKAGED_DIR, overlay)
    assert merged["tiger"].cues["en"] == ("Trainer-edited cue.",)
    assert merged["tiger"].common_name("lo") == "ເສືອ"
    assert merged["lion"] == cat["lion"]  # untouched entries come from the package
    assert len(merged) == len(cat) + 1
    assert merged.file_of("tiger") == str(overlay / "tiger.yaml")
    assert merged.version != cat.version
    assert load_catalogue()["tiger"] == cat["tiger"]  # package itself unchanged
    # an overlay that does not exist yet counts as empty
    assert load_catalogue(PACKAGED_DIR, tmp_path / "not_yet").version == cat.version


def test_overlay_entries_are_validated_against_the_whole_catalogue(tmp_path):
    overlay = _write(tmp_path / "overlay", [("x.yaml", _entry("x", lookalikes=[{"id": "nope", "cue": {"en": "c"}}]))],
                     groups=None)
    with pytest.raises(CatalogueError, match=r"catalogue entry 'x': lookalikes\[0\]\.id"):
        load_catalogue(PACKAGED_DIR, overlay)


# -- version -----------------------------------------------------------------------------------

def test_version_tracks_content_not_location(tmp_path, cat):
    copy_dir = tmp_path / "copy"
    shutil.copytree(PACKAGED_DIR, copy_dir)
    assert load_catalogue(copy_dir).version == cat.version
    path = copy_dir / "seahorse.yaml"
    m = yaml.safe_load(path.read_text(encoding="utf-8"))
    m["cues"]["en"].append("One more cue.")
    path.write_text(dump_entry_yaml(m), encoding="utf-8")
    assert load_catalogue(copy_dir).version != cat.version
    groups = copy_dir / "_groups.yaml"
    g = yaml.safe_load(groups.read_text(encoding="utf-8"))
    g["groups"][0]["names"]["en"] += "!"
    groups.write_text(yaml.safe_dump(g, allow_unicode=True), encoding="utf-8")
    v3 = load_catalogue(copy_dir).version
    assert v3 != cat.version


# -- saving ------------------------------------------------------------------------------------

def test_save_entry_round_trips_atomically_and_logs(tmp_path, cat):
    overlay = tmp_path / "data" / "catalogue_overlay"  # created on first save
    edited = entry_to_mapping(cat["leopard"])
    edited["handling"]["fr"] = ["Identification provisoire.", "Contactez l'organe de gestion CITES."]
    path = save_entry(edited, overlay, author="trainer.ana")
    assert path == overlay / "leopard.yaml"
    reloaded = load_catalogue(PACKAGED_DIR, overlay)
    assert entry_to_mapping(reloaded["leopard"]) == edited
    assert reloaded["leopard"].handling_in("fr").fell_back is False

    new = entry_to_mapping(reloaded["leopard"])
    new.update(id="amur_leopard_test", common_names={"en": ["Amur leopard (test)"]})
    save_entry(entry_from_mapping(new), overlay, author="trainer.ana")  # a CatalogueEntry works too
    assert sorted(p.name for p in overlay.iterdir()) == ["_history.jsonl", "amur_leopard_test.yaml",
                                                         "leopard.yaml"]  # no temp files left
    history = read_history(overlay)
    assert [(h["id"], h["action"], h["author"]) for h in history] == [
        ("leopard", "updated", "trainer.ana"), ("amur_leopard_test", "created", "trainer.ana")]
    assert history[0]["time"].endswith("Z")
    assert history[-1]["catalogue_version"] == load_catalogue(PACKAGED_DIR, overlay).version
    lines = (overlay / "_history.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and all(json.loads(line) for line in lines)


def test_save_entry_rejects_invalid_entry_and_writes_nothing(tmp_path, cat):
    overlay = tmp_path / "overlay"
    bad = entry_to_mapping(cat["tiger"])
    bad["cites"]["appendix"] = "IV"
    with pytest.raises(CatalogueError, match=r"catalogue entry 'tiger': cites\.appendix"):
        save_entry(bad, overlay, author="a")
    dangling = entry_to_mapping(cat["tiger"])
    dangling["lookalikes"] = [{"id": "unicorn", "cue": {"en": "One horn."}}]
    with pytest.raises(CatalogueError, match="unicorn"):
        save_entry(dangling, overlay, author="a")
    with pytest.raises(CatalogueError, match="author"):
        save_entry(entry_to_mapping(cat["tiger"]), overlay, author=" ")
    assert not overlay.exists() or list(overlay.iterdir()) == []


def test_save_entry_failure_mid_write_keeps_old_file(tmp_path, cat, monkeypatch):
    overlay = tmp_path / "overlay"
    save_entry(entry_to_mapping(cat["tiger"]), overlay, author="a")
    before = (overlay / "tiger.yaml").read_bytes()
    changed = entry_to_mapping(cat["tiger"])
    changed["cues"]["en"] = ["Changed."]

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save_entry(changed, overlay, author="a")
    monkeypatch.undo()
    assert (overlay / "tiger.yaml").read_bytes() == before
    assert sorted(p.name for p in overlay.iterdir()) == ["_history.jsonl", "tiger.yaml"]
    assert len(read_history(overlay)) == 1


def test_public_api_exports():
    for name in ("load_catalogue", "save_entry", "entry_to_mapping", "entry_from_mapping", "Catalogue",
                 "CatalogueEntry", "CatalogueError", "Group", "Kind", "Appendix", "Localised", "LookAlike",
                 "Source", "CitesListing", "LANGUAGES", "PACKAGED_DIR"):
        assert hasattr(species_data, name), name
    assert LANGUAGES == ("en", "fr", "es", "pt", "id", "ms", "lo")
    from species_data.catalogue import load_catalogue as lc
    assert lc is load_catalogue
