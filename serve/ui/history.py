"""History tab: the officer's own cases (trainers and admins: everyone's), filtered by
text, species, action and date range, exported as CSV and JSON.

Endpoint `history(text, label, action, since, until)` -> (count text, table, export files).
Dates are YYYY-MM-DD in UTC; `until` is included (the whole day).
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import gradio as gr

from serve.records.auth import Permission, can
from serve.records.export import cases_csv, cases_json
from serve.i18n import t
from serve.records.schema import CaseAction
from serve.ui.common import Texts, enter, error, namer, user_errors

COLUMNS = ("id", "date", "officer", "shipment", "action", "species", "decision", "model", "note")


def parse_day(value: str | None, lang: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise error(lang, "app.error.bad_date", value=value) from None


def case_filters(user, text: str, label: str, action: str, since: str, until: str,
                 lang: str) -> dict[str, Any]:
    """`Store.list_cases` keyword arguments; officers only ever see their own cases."""
    start, end = parse_day(since, lang), parse_day(until, lang)
    filters: dict[str, Any] = {
        "officer": None if can(user, Permission.VIEW_ALL_CASES) else user.name,
        "text": (text or "").strip() or None,
        "label": label or None,
        "action": action or None,
        "since": None if start is None else datetime.combine(start, time(), timezone.utc),
        "until": None if end is None else datetime.combine(end + timedelta(days=1), time(),
                                                           timezone.utc),
    }
    return filters


class HistoryHandlers:
    """The History tab's one event; officers only ever see their own cases."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx

    def history(self, text_value, label_value, action_value, since_value, until_value,
                request: gr.Request):
        """Cases matching the filters -> (count, table, [CSV, JSON] files)."""
        user, lang = enter(self.ctx, request, Permission.VIEW_OWN_CASES, Permission.VIEW_ALL_CASES)
        with user_errors(lang):
            filters = case_filters(user, text_value, label_value, action_value, since_value,
                                   until_value, lang)
            cases = self.ctx.store.list_cases(**filters, limit=None)
            catalogue = self.ctx.catalogue()
            group_of = lambda entry: getattr(catalogue.get(entry), "group", None)  # noqa: E731
            csv_text, json_text = cases_csv(cases, group_of), cases_json(cases, group_of)
        name_of = namer(self.ctx.catalogue(), lang)
        rows = [[c.id, f"{c.created_at:%Y-%m-%d %H:%M}", c.officer, c.shipment_ref,
                 t(f"app.case.action.{c.action.value}", lang), name_of(c.label),
                 t(f"app.identify.result.{c.decision}", lang)
                 if c.decision in ("identified", "group", "unknown") else c.decision,
                 c.model_version, c.note] for c in cases]
        headers = [t(f"app.history.col.{k}", lang) for k in COLUMNS]
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
        since = texts.label(gr.Textbox(max_length=10), "app.history.since.label")
        until = texts.label(gr.Textbox(max_length=10), "app.history.until.label")
        search = texts.value(gr.Button(variant="primary"), "app.history.search")
    count = gr.Markdown()
    table = texts.label(gr.Dataframe(interactive=False, wrap=True, visible=False),
                        "app.history.table.label")
    exports = texts.label(gr.File(file_count="multiple", interactive=False),
                          "app.history.downloads.label")

    search.click(h.history, [text, label, action, since, until], [count, table, exports],
                 api_name="history")
    return h
