"""History tab: the officer's own seizure records (trainers, admins and analysts:
everyone's), filtered by text, species, action, seizure dates and country, exported as
CSV and JSON (docs/seizure_schema.md's columns); and the case panel to open one case,
correct its seizure fields, or record a confirmation (`serve/ui/case_edit.py`).

Endpoint `history(text, label, action, since, until, country)` -> (count text, table,
export files). Dates are seizure dates, YYYY-MM-DD (picked on a calendar or typed);
`until` is included. The table marks where the model's tentative answer and the confirmed
identity differ. Opening the tab lists the cases at once (`when_opened`), newest first.
"""
from __future__ import annotations

from datetime import date
from typing import Any

import gradio as gr

from serve.records.auth import Permission, can
from serve.records.export import cases_csv, cases_json
from serve.i18n import t
from serve.identify.decisions import DecisionKind
from serve.records.schema import CaseAction
from serve.records.seizure import ConfirmationMethod, outcome
from serve.ui.case_edit import CaseEditHandlers
from serve.ui.common import Texts, enter, error, namer, option_list, user_errors
from serve.ui.seizure_form import build_seizure_inputs, catalogue_choices

DECISION_KINDS = {kind.value for kind in DecisionKind}  # what a case may record, all named

COLUMNS = ("app.history.col.id", "app.history.col.date", "app.history.col.officer",
           "app.history.col.shipment", "app.history.col.action", "seizures.history.col.commodity",
           "app.history.col.species", "app.history.col.decision",
           "seizures.history.col.confirmed", "seizures.history.col.differs",
           "app.history.col.model", "app.history.col.note")
# Column widths (px): headers on one line; on a phone the table scrolls sideways instead
# of breaking every word into letters.
WIDTHS = ("64px", "110px", "100px", "140px", "120px", "160px", "160px", "130px", "160px",
          "90px", "70px", "240px")


def parse_day(value: str | None, lang: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise error(lang, "app.error.bad_date", value=value) from None


def case_filters(user, text: str, label: str, action: str, since: str, until: str,
                 lang: str, country: str | None = None) -> dict[str, Any]:
    """`Store.list_cases` keyword arguments; officers only ever see their own cases."""
    return {
        "officer": None if can(user, Permission.VIEW_ALL_CASES) else user.name,
        "text": (text or "").strip() or None,
        "label": label or None,
        "action": action or None,
        "seized_from": parse_day(since, lang),
        "seized_to": parse_day(until, lang),
        "country": (country or "").strip() or None,
    }


class HistoryHandlers:
    """The History tab's one event; officers only ever see their own cases."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self._wiring: tuple[list, list] | None = None  # (filters, outputs), set by the layout

    def when_opened(self, event) -> None:
        """Wire the tab's select event: opening History lists the cases (the officer's
        recent ones first) with the filters as they stand, without pressing Search."""
        if self._wiring is None:
            raise RuntimeError("when_opened() needs the tab laid out by build_history_tab()")
        filters, outputs = self._wiring
        event(self.history, filters, outputs, api_visibility="private")

    def history(self, text_value, label_value, action_value, since_value, until_value,
                country_value=None, request: gr.Request = None):
        """Cases matching the filters -> (count, table, [CSV, JSON] files)."""
        user, lang = enter(self.ctx, request, Permission.VIEW_OWN_CASES, Permission.VIEW_ALL_CASES)
        catalogue = self.ctx.catalogue()
        group_of = lambda entry: getattr(catalogue.get(entry), "group", None)  # noqa: E731
        with user_errors(lang):
            filters = case_filters(user, text_value, label_value, action_value, since_value,
                                   until_value, lang, country_value)
            cases = self.ctx.store.list_cases(**filters, limit=None)
            csv_text, json_text = cases_csv(cases, group_of), cases_json(cases, group_of)
        name_of = namer(catalogue, lang)
        yes = t("app.yes", lang)

        def differs(c) -> str:
            if c.confirmation is None:
                return ""
            wrong = outcome(c.decision, c.label, c.confirmation.entry, group_of).value == "wrong"
            return f"⚠️ {yes}" if wrong else ""

        rows = [[c.id, c.day.isoformat(), c.officer, c.shipment_ref,
                 t(f"app.case.action.{c.action.value}", lang),
                 name_of(c.seizure.commodity) if c.seizure.commodity else "", name_of(c.label),
                 t(f"app.identify.result.{c.decision}", lang)
                 if c.decision in DECISION_KINDS else c.decision,
                 name_of(c.confirmation.entry) if c.confirmation else "", differs(c),
                 c.model_version, c.note] for c in cases]
        headers = [t(k, lang) for k in COLUMNS]
        export = self.ctx.exports.write
        files = [export(user.name, "cases", "csv", csv_text), export(user.name, "cases", "json", json_text)]
        return (t("app.history.count", lang, count=len(cases)),
                gr.update(value={"headers": headers, "data": rows}, visible=True), files)


def build_history_tab(ctx, texts: Texts) -> HistoryHandlers:
    """Lay out the tab and wire its event to a `HistoryHandlers`, returned for tests."""
    h = HistoryHandlers(ctx)
    texts.value(gr.Markdown(), "app.history.intro")
    catalogue = ctx.catalogue()
    with gr.Row():
        text = texts.label(gr.Textbox(max_length=200), "app.history.text.label")
        label = texts.choices(
            gr.Dropdown(choices=[("", "")] + [(e.id, e.id) for e in catalogue], value="",
                        allow_custom_value=True),  # the catalogue can grow while serving
            "app.history.label.label",
            lambda lang: [(t("app.any", lang), "")] + sorted(
                ((e.common_name(lang), e.id) for e in ctx.catalogue()), key=lambda x: x[0]))
        action = texts.choices(
            gr.Dropdown(choices=[("", "")] + [(a.value, a.value) for a in CaseAction], value=""),
            "app.history.action.label",
            lambda lang: [(t("app.any", lang), "")] + [
                (t(f"app.case.action.{a.value}", lang), a.value) for a in CaseAction])
    with gr.Row():
        # Date pickers (a calendar, or type YYYY-MM-DD); the value reaches us as text.
        since = texts.label(gr.DateTime(include_time=False, type="string"), "app.history.since.label")
        until = texts.label(gr.DateTime(include_time=False, type="string"), "app.history.until.label")
        country = texts.label(gr.Textbox(max_length=2), "seizures.history.country.label")
        search = texts.value(gr.Button(variant="primary"), "app.history.search")
    count = gr.Markdown()
    table = texts.label(gr.Dataframe(interactive=False, wrap=True, visible=False,
                                     column_widths=list(WIDTHS)), "app.history.table.label")
    exports = texts.label(gr.File(file_count="multiple", interactive=False),
                          "app.history.downloads.label")

    filters, outputs = [text, label, action, since, until, country], [count, table, exports]
    search.click(h.history, filters, outputs, api_name="history")
    h._wiring = (filters, outputs)
    build_case_panel(ctx, texts)
    return h


def build_case_panel(ctx, texts: Texts) -> CaseEditHandlers:
    """Open one case, correct its seizure fields, or (trainers, admins) confirm it."""
    e = CaseEditHandlers(ctx)
    with gr.Accordion(open=False) as panel:
        with gr.Row():
            case_id = texts.label(gr.Textbox(max_length=12, scale=1), "seizures.edit.case.label")
            open_btn = texts.value(gr.Button(scale=1), "seizures.edit.open")
        summary = gr.Markdown()
        inputs = build_seizure_inputs(texts, lambda lang: catalogue_choices(ctx, lang))
        save_btn = texts.value(gr.Button(), "seizures.edit.save")
        saved = gr.Markdown()
        with gr.Group() as confirm_box:
            texts.value(gr.Markdown(), "seizures.confirm.heading", markup="#### {}")
            with gr.Row():
                entry = texts.choices(gr.Dropdown(choices=[("", "")], value="",
                                                  allow_custom_value=True),
                                      "seizures.confirm.entry.label",
                                      lambda lang: catalogue_choices(ctx, lang))
                method = texts.choices(
                    gr.Dropdown(choices=[m.value for m in ConfirmationMethod], value="morphology"),
                    "seizures.confirm.method.label",
                    option_list("seizures.confirmation_method.",
                                [m.value for m in ConfirmationMethod]))
                day = texts.label(gr.DateTime(include_time=False, type="string"),
                                  "seizures.confirm.date.label")
                reference = texts.label(gr.Textbox(max_length=200),
                                        "seizures.confirm.reference.label")
            confirm_btn = texts.value(gr.Button(variant="primary"), "seizures.confirm.save")
        texts.section(confirm_box, None, visible=lambda u: can(u, Permission.CONFIRM_CASES))
    texts.section(panel, "seizures.edit.heading", visible=lambda u: True)
    open_btn.click(e.case_open, [case_id], [summary, *inputs], api_name="case_open")
    save_btn.click(e.case_update, [case_id, *inputs], [saved], api_name="case_update")
    confirm_btn.click(e.case_confirm, [case_id, entry, method, day, reference], [summary],
                      api_name="case_confirm")
    return e
