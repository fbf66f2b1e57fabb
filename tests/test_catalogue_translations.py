"""Catalogue texts in every complete language: the packaged catalogue is complete, the gaps of a
changed entry are found, a translation memory fills only gaps, the CI check fails on a gap,
translated CITES notes and listing rows load and round-trip, and `checked_against` is read
back into parts the app can say in any language."""
from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

from species_data import CatalogueError, entry_from_mapping, entry_to_mapping, load_catalogue
from species_data.catalogue import Catalogue
from species_data.cites import Basis, CheckedAgainst, species_plus_checked
from species_data.translations import TranslationMemory, fill, missing_texts, todo

ROOT = Path(__file__).resolve().parents[1]
COMPLETE = ("fr", "es", "pt", "id")


@pytest.fixture(scope="module")
def cat():
    return load_catalogue()


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_every_packaged_text_is_in_every_complete_language(cat):
    gaps = missing_texts(cat, COMPLETE)
    assert not gaps, f"{len(gaps)} catalogue texts lack a translation, e.g. {[str(g) for g in gaps[:5]]}"
    for e in cat:  # lists are translated item by item
        for lang in COMPLETE:
            assert len(e.cues[lang]) == len(e.cues["en"]), (e.id, lang)
            assert len(e.handling[lang]) == len(e.handling["en"]), (e.id, lang)
            assert not e.cites.note_in(lang).fell_back, (e.id, lang)


def test_a_changed_entry_shows_its_gaps_and_the_memory_fills_only_gaps(cat):
    tiger = entry_to_mapping(cat["tiger"])
    tiger["cues"] = {"en": list(tiger["cues"]["en"]) + ["A brand-new cue."],
                     **{k: v for k, v in tiger["cues"].items() if k != "en"}}
    tiger["cues"].pop("fr")  # French lost its cues (e.g. English was rewritten)
    tiger["cites"]["note"] = {"en": "A new note."}
    changed = Catalogue([entry_from_mapping(tiger)] + [e for e in cat if e.id != "tiger"],
                        cat.groups.values())
    gaps = {(g.owner, g.field, g.lang) for g in missing_texts(changed, COMPLETE)}
    assert gaps == {("tiger", "cues", "fr")} | {("tiger", "cites.note", lang) for lang in COMPLETE}

    memory = TranslationMemory.learn(changed)
    assert memory.get(cat["tiger"].cues["en"][0], "fr") is None  # French tiger cues were dropped
    items = todo(missing_texts(changed, COMPLETE), memory)
    wanted = {i["en"]: set(i) - {"en"} for i in items}
    assert wanted["A new note."] == set(COMPLETE) and "A brand-new cue." in wanted

    memory.merge(TranslationMemory({"A new note.": {"fr": "Une nouvelle note."}}))
    entries, groups = fill(changed, memory, COMPLETE)
    assert groups is None and [m["id"] for m in entries] == ["tiger"]
    assert entries[0]["cites"]["note"] == {"en": "A new note.", "fr": "Une nouvelle note."}
    assert "fr" not in entries[0]["cues"]  # not every French cue is known: the list stays out
    other = TranslationMemory({cat["tiger"].cites.note: {"es": "no debe reemplazar"}})
    assert fill(cat, TranslationMemory.learn(cat).merge(other), COMPLETE) == ([], None)  # no gap, no change


def test_the_translation_memory_reads_its_own_to_do_format(tmp_path):
    path = tmp_path / "todo.yaml"
    path.write_text(yaml.safe_dump([{"en": "Long   text\n folded", "fr": "Texte"}]), encoding="utf-8")
    assert TranslationMemory.read(path).get("Long text folded", "fr") == "Texte"
    path.write_text(yaml.safe_dump([{"fr": "sans anglais"}]), encoding="utf-8")
    with pytest.raises(ValueError, match="English text under 'en'"):
        TranslationMemory.read(path)


def test_status_script_fails_ci_when_a_complete_language_lacks_a_catalogue_text(monkeypatch, capsys):
    status = _script("i18n_status")
    assert status.main([]) == 0
    real = status.missing_texts

    def one_gap(catalogue, langs):
        gaps = real(catalogue, langs)
        tiger = catalogue["tiger"]
        return gaps + [type(gaps[0])("tiger", "cues", "fr", tiger.cues["en"])] if gaps else gaps

    monkeypatch.setattr(status, "missing_texts", one_gap)
    assert status.main([]) == 1
    assert "MISSING tiger cues [fr]" in capsys.readouterr().out


def test_notes_and_listing_rows_take_a_string_or_a_language_map(cat):
    m = entry_to_mapping(cat["elephant"])
    assert set(m["cites"]["note"]) >= {"en", *COMPLETE}
    row = m["cites"]["listings"][0]
    plain = copy.deepcopy(m)
    plain["cites"]["note"] = "Only English."
    plain["cites"]["listings"][0]["covers"] = row["covers"]["en"]
    e = entry_from_mapping(plain)
    assert e.cites.note == "Only English." and e.cites.note_in("fr").fell_back
    assert e.cites.listings[0].covers == row["covers"]["en"]
    assert entry_from_mapping(entry_to_mapping(cat["elephant"])) == cat["elephant"]
    for bad, field in (({"fr": "sans anglais"}, "cites.note.en"), ({"en": "x", "xx": "y"}, "cites.note.xx"),
                       ({"en": ""}, "cites.note.en")):
        broken = copy.deepcopy(m)
        broken["cites"]["note"] = bad
        with pytest.raises(CatalogueError) as err:
            entry_from_mapping(broken)
        assert any(p.field == field for p in err.value.problems), (bad, err.value)


def test_checked_against_is_read_back_into_parts(cat):
    cop = CheckedAgainst.parse("2026-02 (CoP20 amendments)")
    assert (cop.month, cop.basis, dict(cop.params)) == ("2026-02", Basis.COP, {"cop": "20"})
    old = CheckedAgainst.parse("2023-02 (Appendices valid from 23 February 2023; CoP20 changes not verified)")
    assert old.basis is Basis.APPENDICES and dict(old.params) == {"since": "2023-02-23", "unverified": "20"}
    import datetime as dt
    text = species_plus_checked(dt.date(2026, 4, 2), "listings, v2.csv")
    imp = CheckedAgainst.parse(text)
    assert imp.basis is Basis.SPECIES_PLUS and dict(imp.params) == {"source": "listings, v2.csv", "on": "2026-04-02"}
    assert CheckedAgainst.parse("2026-03").basis is Basis.MONTH
    own = CheckedAgainst.parse("2026-03 (checked with the national list)")
    assert own.basis is Basis.OTHER and own.params["detail"] == "checked with the national list"
    assert {CheckedAgainst.parse(e.cites.checked_against).basis for e in cat} <= {Basis.COP, Basis.APPENDICES}


def test_a_name_split_at_a_comma_is_refused(cat):
    m = entry_to_mapping(cat["giant_clam"])
    assert m["common_names"]["en"][0] == "Giant clam (shell, meat or carving)"
    m["common_names"]["en"] = ["Giant clam (shell", "meat or carving)"]
    with pytest.raises(CatalogueError) as err:
        entry_from_mapping(m)
    assert err.value.field == "common_names.en[0]" and "split" in str(err.value)
