"""The Trainer tab's catalogue sub-tab: edit an entry in a form that speaks to trainers.

Why: saving an incomplete entry used to raise a toast of nine problems that vanished, full
of YAML field names and server paths, with no field marked; a new group meant editing
`_groups.yaml`; look-alikes were typed as `id | cue`; the Appendix defaulted to II; only the
English name could be given (issue 17 item 6). Now:

* each problem appears beside its field, in plain words, and stays until the entry saves;
* a new group is created here (its names in every language);
* look-alikes are picked from the catalogue by name, each with a row for its cue;
* the Appendix starts empty and must be chosen; names are given in every language.

Endpoints: `trainer_load_entry`, `trainer_add_entry` (save), `trainer_add_group`. Each checks
the caller's permission first (the trainer handlers' `_require`) and audits every change.
"""
from __future__ import annotations

import html

import gradio as gr

from species_data import CatalogueError, LANGUAGES, Kind, entry_to_mapping, read_history, save_entry, save_group
from species_data.catalogue import Appendix

from serve.i18n import t, tn
from serve.records.auth import Permission
from serve.ui.common import Labels
from serve.ui.catalogue_form import EntryForm, check, field_of, form_from_mapping, form_to_mapping, lookalike_rows
from serve.ui.trainer_views import HISTORY_COLUMNS, frame, history_rows

FIELDS = EntryForm.field_names()
ERROR_FIELDS = tuple(f for f in FIELDS if f != "lookalike_cues")  # the picker's slot covers its table
GROUP_LANGS = ("en", "fr", "es", "pt", "id")


def error_html(text: str) -> str:
    return (f'<div class="field-error" role="alert" style="color:#b42318;font-weight:600;margin:-0.2em 0 0.6em">'
            f'<span aria-hidden="true">\u26a0</span> {html.escape(text)}</div>')


def error_updates(errors: dict[str, str]) -> list:
    """One update per field's error slot: shown with its text, or hidden."""
    return [gr.update(value=error_html(errors[f]), visible=True) if f in errors else gr.update(value="", visible=False)
            for f in ERROR_FIELDS]


def entry_choices(catalogue, lang: str) -> list[tuple[str, str]]:
    return sorted(((f"{e.common_name(lang)} ({e.id})", e.id) for e in catalogue), key=lambda c: c[0].lower())


def group_choices(catalogue, lang: str) -> list[tuple[str, str]]:
    return sorted(((f"{g.name(lang)} ({gid})", gid) for gid, g in catalogue.groups.items()),
                  key=lambda c: c[0].lower())


class CatalogueHandlers:
    """Load, save and create (permission checked by `require`, the trainer handlers' own)."""

    def __init__(self, ctx, require) -> None:
        self.ctx = ctx
        self.require = require

    def _history(self, lang: str) -> dict:
        return frame(history_rows(read_history(self.ctx.config.catalogue_overlay)), HISTORY_COLUMNS, lang)

    def load_entry(self, entry_id: str, request: gr.Request):
        """The form for an entry (an empty form, with that id, for a new one), errors cleared."""
        user, lang = self.require(request, Permission.EDIT_CATALOGUE)
        catalogue = self.ctx.catalogue()
        entry = catalogue.get(entry_id or "")
        name_of = lambda i: catalogue[i].common_name(lang) if i in catalogue else i  # noqa: E731
        form = form_from_mapping(entry_to_mapping(entry), name_of) if entry else EntryForm(id=entry_id or "")
        status = t("trainer.catalogue.loaded" if entry else "trainer.catalogue.new", lang, id=entry_id or "")
        values = form.values()
        values[FIELDS.index("lookalike_cues")] = [list(r) for r in form.lookalike_cues]
        values[FIELDS.index("lookalikes")] = list(form.lookalikes)
        return [*values, self._history(lang), status, *error_updates({})]

    def save_entry(self, id, kind, product_type, group, scientific_name, names_en, names_fr,  # noqa: A002
                   names_es, names_pt, names_id, names_ms, names_lo, appendix, cites_note, checked_against,
                   cues, handling, lookalikes, lookalike_cues, sources, request: gr.Request):
        """Check the form in plain words, then save through the catalogue's own validation;
        every problem goes beside its field. -> status, history, class choices, error slots.
        (One argument per form field, in `EntryForm`'s order.)"""
        user, lang = self.require(request, Permission.EDIT_CATALOGUE)
        values = [id, kind, product_type, group, scientific_name, names_en, names_fr, names_es, names_pt,
                  names_id, names_ms, names_lo, appendix, cites_note, checked_against, cues, handling,
                  lookalikes, lookalike_cues, sources]
        form = EntryForm.from_values(values)
        catalogue = self.ctx.catalogue()
        errors = {f: m.render(lang) for f, m in check(form, catalogue).items()}
        if not errors:
            old = catalogue.get(form.id.strip())
            mapping = form_to_mapping(form, entry_to_mapping(old) if old else None)
            try:
                path = save_entry(mapping, self.ctx.config.catalogue_overlay, user.name)
            except CatalogueError as exc:  # what the form could not foresee: its own words
                for problem in exc.problems:
                    errors.setdefault(field_of(problem.field) or "id", problem.message)
            else:
                self.ctx.reload_catalogue()
                self.ctx.store.audit(user.name, "trainer_catalogue_save", {
                    "id": mapping["id"], "action": "updated" if old else "created", "file": path.name})
                return [t("trainer.catalogue.saved", lang, id=mapping["id"]), self._history(lang),
                        gr.update(choices=list(self.ctx.catalogue().ids)), *error_updates({})]
        status = tn("trainer.catalogue.not_saved", len(errors), lang)
        return [status, gr.update(), gr.update(), *error_updates(errors)]

    def add_group(self, group_id: str, name_en: str, name_fr: str, name_es: str, name_pt: str, name_id: str,
                  request: gr.Request):
        """Create (or rename) a group; its names in the languages given, English required."""
        user, lang = self.require(request, Permission.EDIT_CATALOGUE)
        names = (name_en, name_fr, name_es, name_pt, name_id)  # GROUP_LANGS
        group_id = (group_id or "").strip()
        given = {code: (name or "").strip() for code, name in zip(GROUP_LANGS, names) if (name or "").strip()}
        if not group_id or not given.get("en"):
            raise gr.Error(t("trainer.group.needs", lang), print_exception=False)
        try:
            save_group({"id": group_id, "names": given}, self.ctx.config.catalogue_overlay, user.name)
        except CatalogueError as exc:
            raise gr.Error(t("trainer.group.bad", lang, detail=exc.problems[0].message), print_exception=False) from None
        self.ctx.reload_catalogue()
        self.ctx.store.audit(user.name, "trainer_group_save", {"id": group_id, "names": given})
        return (t("trainer.group.saved", lang, id=group_id, name=given["en"]),
                gr.update(choices=group_choices(self.ctx.catalogue(), lang), value=group_id))

    def lookalike_table(self, picked, rows, request: gr.Request):
        """The cue table after the trainer picked or dropped look-alikes (cues typed are kept)."""
        user, lang = self.require(request, Permission.EDIT_CATALOGUE)
        catalogue = self.ctx.catalogue()
        name_of = lambda i: catalogue[i].common_name(lang) if i in catalogue else i  # noqa: E731
        return lookalike_rows([p for p in picked or [] if p in catalogue], rows or [], name_of)


def build_catalogue_section(ctx, texts, lang: str, require) -> tuple[CatalogueHandlers, dict]:
    """Lay out the entry form (inside the caller's tab) and wire it; returns the handlers and
    the components other sections need (`class_pick` is filled in by the caller)."""
    h = CatalogueHandlers(ctx, require)
    catalogue = ctx.catalogue()
    L = Labels(texts, lang, "trainer.ui.")
    reg, text, button = L.label, L.markdown, L.button

    kinds = lambda lg: [(t(f"trainer.kind.{k.value}", lg), k.value) for k in Kind]  # noqa: E731
    appendices = lambda lg: [(t("app.card.appendix", lg, appendix=a.value) if a is not Appendix.NONE  # noqa: E731
                              else t("trainer.appendix.none", lg), a.value) for a in Appendix]
    form, errors = {}, {}

    def put(name: str, component, key: str, build=None):
        """A form field, and under it the slot where its problem is shown."""
        form[name] = reg(component, key, build)
        errors[name] = gr.HTML(visible=False)
        return form[name]

    with gr.Row():
        pick = reg(gr.Dropdown(entry_choices(catalogue, lang), allow_custom_value=True, scale=3), "entry",
                   lambda lg, user: gr.update(label=t("trainer.ui.entry", lg),
                                              choices=entry_choices(ctx.catalogue(), lg)))
        load = button("load_entry", scale=1)
    with gr.Row():
        with gr.Column():
            put("id", gr.Textbox(), "field_id")
        with gr.Column():
            put("kind", gr.Dropdown(kinds(lang), value=None), "field_kind",
                lambda lg, user: gr.update(label=t("trainer.ui.field_kind", lg), choices=kinds(lg)))
        with gr.Column():
            put("product_type", gr.Textbox(), "field_product_type")
    with gr.Row():
        with gr.Column():
            put("group", gr.Dropdown(group_choices(catalogue, lang), value=None, allow_custom_value=True),
                "field_group", lambda lg, user: gr.update(label=t("trainer.ui.field_group", lg),
                                                          choices=group_choices(ctx.catalogue(), lg)))
        with gr.Column():
            put("scientific_name", gr.Textbox(), "field_scientific_name")
    with gr.Accordion(L("group_new"), open=False) as group_box:
        text("group_help")
        with gr.Row():
            group_id = reg(gr.Textbox(), "group_id")
            group_names = [reg(gr.Textbox(), f"group_name_{code}") for code in GROUP_LANGS]
        group_btn = button("group_create")
        group_status = gr.Markdown()
    if texts is not None:
        texts.section(group_box, "trainer.ui.group_new", visible=lambda user: True)
    put("names_en", gr.Textbox(lines=2), "field_names_en")
    with gr.Accordion(L("names_other"), open=False) as names_box:
        with gr.Row():
            for code in LANGUAGES[1:]:
                with gr.Column(min_width=160):
                    put(f"names_{code}", gr.Textbox(lines=2), f"field_names_{code}")
    if texts is not None:
        texts.section(names_box, "trainer.ui.names_other", visible=lambda user: True)
    with gr.Row():
        with gr.Column():
            put("appendix", gr.Dropdown(appendices(lang), value=None), "field_appendix",
                lambda lg, user: gr.update(label=t("trainer.ui.field_appendix", lg), choices=appendices(lg)))
        with gr.Column():
            put("checked_against", gr.Textbox(), "field_checked_against")
    put("cites_note", gr.Textbox(lines=2), "field_cites_note")
    with gr.Row():
        with gr.Column():
            put("cues", gr.Textbox(lines=4), "field_cues")
        with gr.Column():
            put("handling", gr.Textbox(lines=4), "field_handling")
    put("lookalikes", gr.Dropdown(entry_choices(catalogue, lang), multiselect=True, value=[]), "field_lookalikes",
        lambda lg, user: gr.update(label=t("trainer.ui.field_lookalikes", lg), choices=entry_choices(ctx.catalogue(), lg)))
    columns = ("col_lookalike", "col_lookalike_cue")
    form["lookalike_cues"] = reg(gr.Dataframe(headers=[L(c) for c in columns], col_count=(2, "fixed"),
                                              interactive=True, static_columns=[0], type="array", wrap=True),
                                 "lookalike_table", lambda lg, user: gr.update(
                                     label=t("trainer.ui.lookalike_table", lg),
                                     value={"headers": [t(f"trainer.ui.{c}", lg) for c in columns], "data": []}))
    put("sources", gr.Textbox(lines=3), "field_sources")
    save = button("save_entry", variant="primary")
    status = gr.Markdown()
    history = reg(gr.Dataframe(headers=[L(c) for c in HISTORY_COLUMNS], interactive=False), "history",
                  lambda lg, user: gr.update(label=t("trainer.ui.history", lg), value={
                      "headers": [t(f"trainer.ui.{c}", lg) for c in HISTORY_COLUMNS], "data": []}))

    fields = [form[name] for name in FIELDS]
    slots = [errors[name] for name in ERROR_FIELDS]
    load.click(h.load_entry, [pick], [*fields, history, status, *slots], api_name="trainer_load_entry")
    form["lookalikes"].input(h.lookalike_table, [form["lookalikes"], form["lookalike_cues"]],
                             [form["lookalike_cues"]], api_visibility="private")
    group_btn.click(h.add_group, [group_id, *group_names], [group_status, form["group"]],
                    api_name="trainer_add_group")
    parts = {"fields": fields, "save": save, "status": status, "history": history, "slots": slots}
    return h, parts
