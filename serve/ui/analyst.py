"""Analyst tab (analysts, trainers, admins): every officer's seizure records as pictures.

Endpoint `analyse(since, until, country)` -> (count text, four figures, downloads): seizures
by commodity and month, top routes (origin → destination), concealment methods, and
confirmation outcomes, all over the same filtered records (seizure dates, YYYY-MM-DD,
both included; country of seizure, ISO 3166-1 alpha-2). Downloads: each figure as PNG
with its numbers as CSV, and the records themselves as CSV and JSON
(docs/seizure_schema.md). The counting is `serve.records.seizure_stats` (pure), the
drawing `serve.ui.analyst_plots`.
"""
from __future__ import annotations

import io

import gradio as gr

from serve.csv_safe import csv_text
from serve.i18n import t
from serve.records.auth import Permission
from serve.records.export import cases_csv, cases_json
from serve.records.seizure import parse_country, parse_day
from serve.records.seizure_stats import (Table, by_commodity_and_month, concealment_methods,
                                         confirmation_outcomes, top_routes)
from serve.ui.analyst_plots import (commodity_month_figure, concealment_figure, outcomes_figure,
                                    routes_figure)
from serve.ui.common import Texts, enter, namer, user_errors


def _png(fig) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


class AnalystHandlers:
    def __init__(self, ctx) -> None:
        self.ctx = ctx

    def analyse(self, since, until, country, request: gr.Request):
        """The four figures and the downloads for the filtered seizure records."""
        user, lang = enter(self.ctx, request, Permission.ANALYSE_SEIZURES)
        catalogue = self.ctx.catalogue()
        group_of = lambda entry: getattr(catalogue.get(entry), "group", None)  # noqa: E731
        with user_errors(lang):
            start, end = parse_day(since, "from date"), parse_day(until, "to date")
            if start and end and start > end:
                raise ValueError(f"from date {start} is after to date {end}; swap them")
            cases = self.ctx.store.list_cases(seized_from=start, seized_to=end,
                                              country=parse_country(country), limit=None)
        name_of = namer(catalogue, lang)
        special = {"others": t("seizures.analyst.others", lang),
                   "unrecorded": t("seizures.analyst.unrecorded", lang)}
        label = lambda key: special.get(key) or name_of(key)  # noqa: E731
        tables: dict[str, Table] = {
            "by_month": by_commodity_and_month(cases), "routes": top_routes(cases),
            "concealment": concealment_methods(cases),
            "outcomes": confirmation_outcomes(cases, group_of)}
        figures = {"by_month": commodity_month_figure(tables["by_month"], label, lang),
                   "routes": routes_figure(tables["routes"], lang),
                   "concealment": concealment_figure(tables["concealment"], lang),
                   "outcomes": outcomes_figure(tables["outcomes"], lang)}
        export = lambda stem, suffix, data: self.ctx.exports.write(  # noqa: E731 - owner-only
            user.name, stem, suffix, data)
        files = []
        for key, fig in figures.items():
            files.append(export(f"seizures-{key}", "png", _png(fig)))
            files.append(export(f"seizures-{key}", "csv",
                                csv_text(tables[key].columns, tables[key].rows)))
        files.append(export("seizures", "csv", cases_csv(cases, group_of)))
        files.append(export("seizures", "json", cases_json(cases, group_of)))
        self.ctx.store.audit(user.name, "seizures.analyse", {
            "cases": len(cases), "from": since or None, "to": until or None,
            "country": country or None})
        return (t("seizures.analyst.count", lang, count=len(cases)), *figures.values(), files)


def build_analyst_tab(ctx, texts: Texts) -> AnalystHandlers:
    """Lay out the tab and wire its event to an `AnalystHandlers`, returned for tests."""
    h = AnalystHandlers(ctx)
    texts.value(gr.Markdown(), "seizures.analyst.intro")
    with gr.Row():
        since = texts.label(gr.Textbox(max_length=10), "seizures.analyst.from.label")
        until = texts.label(gr.Textbox(max_length=10), "seizures.analyst.to.label")
        country = texts.label(gr.Textbox(max_length=2), "seizures.analyst.country.label")
        run = texts.value(gr.Button(variant="primary"), "seizures.analyst.run")
    count = gr.Markdown()
    with gr.Row():
        by_month = texts.label(gr.Plot(), "seizures.analyst.plot.by_month")
        routes = texts.label(gr.Plot(), "seizures.analyst.plot.routes")
    with gr.Row():
        concealment = texts.label(gr.Plot(), "seizures.analyst.plot.concealment")
        outcomes = texts.label(gr.Plot(), "seizures.analyst.plot.outcomes")
    files = texts.label(gr.File(file_count="multiple", interactive=False),
                        "seizures.analyst.downloads.label")
    run.click(h.analyse, [since, until, country],
              [count, by_month, routes, concealment, outcomes, files], api_name="analyse")
    return h
