"""The trainer's catalogue form speaks to trainers (issue 17 item 6): problems beside each
field in plain words (no YAML paths, no server files), nothing saved until they are fixed;
no default CITES Appendix; names in every language; a group created in the app; look-alikes
picked from the catalogue with one cue each. Handlers called directly, as the page does."""
from __future__ import annotations

import html
import inspect
from dataclasses import replace

import gradio as gr
import pytest

from serve.i18n import t
from serve.ui.catalogue_form import EntryForm, check
from serve.ui.trainer_catalogue import ERROR_FIELDS, CatalogueHandlers
from tests.test_trainer_tab import FakeRequest, app  # noqa: F401 (the fixture)

TINA = FakeRequest("tina")


@pytest.fixture
def cat(app):  # noqa: F811
    h, ctx, world, _ = app
    return CatalogueHandlers(ctx, h._require), ctx


def errors_of(out) -> dict[str, str]:
    """{field: text} of the error slots a save returned (after status, history, class choices)."""
    slots = out[3:]
    assert len(slots) == len(ERROR_FIELDS)
    return {f: html.unescape(u["value"]) for f, u in zip(ERROR_FIELDS, slots) if u.get("visible")}


def test_the_save_handler_takes_the_form_fields_in_order():
    params = list(inspect.signature(CatalogueHandlers.save_entry).parameters)[1:-1]
    assert tuple(params) == EntryForm.field_names()


def test_an_incomplete_entry_shows_each_problem_beside_its_field_in_plain_words(cat):
    h, ctx = cat
    form = EntryForm(id="Spiny Seahorse", names_fr="Hippocampe épineux (test")
    out = h.save_entry(*form.values(), request=TINA)
    errors = errors_of(out)
    assert set(errors) == {"id", "kind", "group", "scientific_name", "names_en", "names_fr", "appendix",
                           "cites_note", "checked_against", "cues", "handling", "sources"}
    assert out[0] == t("trainer.catalogue.not_saved.other", count=len(errors))
    for text in errors.values():  # words a trainer reads, not the file format or the server
        assert "cites." not in text and ".yaml" not in text and "/work" not in text and "common_names" not in text
    assert "Spiny Seahorse" in errors["id"] and t("trainer.check.appendix_missing") in errors["appendix"]
    assert not (ctx.config.catalogue_overlay / "spiny_seahorse.yaml").exists()
    assert ctx.store.audit_log(action="trainer_catalogue_save") == []
    # the problems stay until fixed: saving again unchanged shows them again
    assert errors_of(h.save_entry(*form.values(), request=TINA)) == errors


def test_no_appendix_is_chosen_for_the_trainer(cat):
    h, ctx = cat
    *values, history, status = h.load_entry("brand_new_entry", request=TINA)[:len(EntryForm.field_names()) + 2]
    form = EntryForm.from_values(values)
    assert form.appendix == "" and form.kind == "" and form.id == "brand_new_entry"
    assert "appendix" in check(form, ctx.catalogue())


def test_a_new_entry_with_a_new_group_names_in_every_language_and_a_picked_lookalike(cat):
    h, ctx = cat
    status, group = h.add_group("sea_snakes", "sea snakes", "serpents marins", "serpientes marinas",
                                "serpentes marinhas", "ular laut", request=TINA)
    assert "sea_snakes" in status and group["value"] == "sea_snakes"
    assert ctx.catalogue().groups["sea_snakes"].name("fr") == "serpents marins"
    with pytest.raises(gr.Error, match="English"):
        h.add_group("no_english", "", "sans anglais", "", "", "", request=TINA)

    rows = h.lookalike_table(["seahorse"], [], request=TINA)
    assert rows == [[f"{ctx.catalogue()['seahorse'].common_name('en')} (seahorse)", ""]]
    rows[0][1] = "Sea snakes have scales and a paddle tail; seahorses have bony rings."
    form = EntryForm(
        id="sea_snake_test", kind="whole_animal", group="sea_snakes", scientific_name="Hydrophis platurus",
        names_en="Yellow-bellied sea snake", names_fr="Serpent marin à ventre jaune", names_es="Serpiente marina",
        names_pt="Serpente-marinha", names_id="Ular laut perut kuning", names_ms="Ular laut", names_lo="ງູທະເລ",
        appendix="none", cites_note="Not listed in CITES.", checked_against="2026-02 (CoP20 amendments)",
        cues="Flat paddle-shaped tail.", handling="Do not touch: venomous.", lookalikes=("seahorse",),
        lookalike_cues=tuple(map(tuple, rows)), sources="IUCN Red List | https://www.iucnredlist.org")
    out = h.save_entry(*form.values(), request=TINA)
    assert errors_of(out) == {} and "sea_snake_test" in out[0]
    entry = ctx.catalogue()["sea_snake_test"]
    assert entry.group == "sea_snakes" and entry.appendix.value == "none"
    assert {lang: entry.common_name(lang) for lang in ("fr", "lo")} == {"fr": "Serpent marin à ventre jaune",
                                                                       "lo": "ງູທະເລ"}
    assert entry.lookalike("seahorse").cue["en"].startswith("Sea snakes have scales")
    assert [a.detail["id"] for a in ctx.store.audit_log(action="trainer_catalogue_save")] == ["sea_snake_test"]

    # a look-alike picked without its cue is pointed at, by name
    missing = replace(form, id="sea_snake_two", lookalike_cues=())
    assert t("trainer.check.lookalike_cue", name=ctx.catalogue()["seahorse"].common_name("en")) in \
        errors_of(h.save_entry(*missing.values(), request=TINA))["lookalikes"]


def test_editing_an_entry_keeps_translations_of_unchanged_texts_only(cat):
    h, ctx = cat
    values = h.load_entry("seahorse", request=TINA)[:len(EntryForm.field_names())]
    form = EntryForm.from_values(values)
    assert form.names_fr == "Hippocampe" and form.lookalikes == tuple(ctx.catalogue()["seahorse"].lookalike_ids)
    before = ctx.catalogue()["seahorse"]
    edited = replace(form, cues=form.cues + "\nA new cue from the trainer.")
    out = h.save_entry(*edited.values(), request=TINA)
    assert errors_of(out) == {} and out[1]["data"][0][1:] == ["tina", "seahorse", "updated"]
    after = ctx.catalogue()["seahorse"]
    assert "A new cue from the trainer." in after.cues["en"]
    assert "fr" not in after.cues  # the French cues said something else: dropped, shown in English
    assert after.handling == before.handling and after.cites.notes == before.cites.notes  # unchanged: kept


def test_catalogue_handlers_refuse_non_trainers(cat):
    h, ctx = cat
    for who in ("tom", "olga", None):
        for call in (lambda r: h.load_entry("seahorse", request=r),
                     lambda r: h.save_entry(*EntryForm(id="x").values(), request=r),
                     lambda r: h.add_group("g", "G", "", "", "", "", request=r),
                     lambda r: h.lookalike_table(["seahorse"], [], request=r)):
            with pytest.raises(gr.Error):
                call(FakeRequest(who))
    assert not (ctx.config.catalogue_overlay / "_groups.yaml").exists()
