"""Cohort report (trainers and admins): per-class accuracy, the most confused pairs and
the trainees below a pass mark, as tables, a plot and a CSV file.

Endpoint `cohort(threshold, days)` -> (text, classes, pairs, trainees, plot, [CSV]).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import gradio as gr

from serve.csv_safe import csv_text
from serve.records.checks import check_int
from serve.records.auth import Permission
from serve.i18n import t
from serve.quiz.service import CERT_THRESHOLD, CohortReport
from serve.records.seizure_stats import model_wrong
from serve.ui.common import Texts, enter, namer, user_errors

MAX_DAYS = 100 * 366  # a report reaches back at most a century


def cohort_csv(report: CohortReport, name_of) -> str:
    rows = [["class", cid, name_of(cid), "", right, n, f"{right / n:.3f}"]
            for cid, right, n in report.per_class]
    rows += [["confused", true, name_of(true), chosen, "", times, ""]
             for true, chosen, times in report.confused]
    rows += [["trainee", name, "", "below" if name in report.below else "", right, n,
              f"{right / n:.3f}" if n else ""] for name, right, n in report.trainees]
    return csv_text(["section", "class_or_trainee", "name", "other", "right", "answers",
                     "accuracy"], rows)


def accuracy_figure(report: CohortReport, name_of, lang: str):
    from matplotlib.figure import Figure

    rows = report.per_class[:25]
    fig = Figure(figsize=(7, max(2.5, 0.3 * len(rows) + 1)), dpi=100)
    ax = fig.add_subplot()
    ax.barh([name_of(c) for c, _, _ in rows], [r / n for _, r, n in rows])
    ax.axvline(report.threshold, color="red", linestyle="--")
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel(t("app.cohort.col.accuracy", lang))
    fig.tight_layout()
    return fig


class CohortHandlers:
    """The cohort report's one event (trainers and admins only)."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx

    def cohort(self, threshold_v, days_v, request: gr.Request):
        """The cohort report (trainers/admins only)."""
        user, lang = enter(self.ctx, request, Permission.VIEW_COHORT)
        since = None
        with user_errors(lang):
            if days_v:
                days = check_int(days_v, "days", 0, MAX_DAYS)
                since = datetime.now(timezone.utc) - timedelta(days=days)
            report = self.ctx.quiz.cohort(float(threshold_v or CERT_THRESHOLD), since)
        name_of = namer(self.ctx.catalogue(), lang)
        col = lambda k: t(f"app.cohort.col.{k}", lang)  # noqa: E731
        yes, no = t("app.yes", lang), t("app.no", lang)

        def table(headers, rows):
            return gr.update(value={"headers": [col(h) for h in headers], "data": rows},
                             visible=True)

        if not report.per_class:
            message = t("app.cohort.empty", lang)
        elif report.below:
            message = t("app.cohort.below", lang, names=", ".join(report.below))
        else:
            message = t("app.cohort.none_below", lang)
        return (
            message,
            table(["class", "right", "answers", "accuracy"],
                  [[name_of(c), r, n, f"{r / n:.0%}"] for c, r, n in report.per_class]),
            table(["true", "chosen", "times"],
                  [[name_of(a), name_of(b), k] for a, b, k in report.confused[:20]]),
            table(["trainee", "right", "answers", "accuracy", "below"],
                  [[u, r, n, f"{r / n:.0%}" if n else "", yes if u in report.below else no]
                   for u, r, n in report.trainees]),
            gr.update(value=accuracy_figure(report, name_of, lang) if report.per_class else None,
                      visible=bool(report.per_class)),
            [self.ctx.exports.write(user.name, "cohort", "csv", cohort_csv(report, name_of))],
            self.model_wrong(lang),
        )

    def model_wrong(self, lang: str):
        """Confirmed cases the model got wrong, newest confirmation first: the examples
        trainers should look at first (their photos wait in the Trainer tab's queue)."""
        catalogue = self.ctx.catalogue()
        group_of = lambda entry: getattr(catalogue.get(entry), "group", None)  # noqa: E731
        name_of = namer(catalogue, lang)
        wrong = model_wrong(self.ctx.store.list_cases(confirmed=True, limit=None), group_of)
        rows = [[c.id, c.day.isoformat(), name_of(c.label), name_of(c.confirmation.entry),
                 t(f"seizures.confirmation_method.{c.confirmation.method.value}", lang),
                 c.confirmation.confirmed_by] for c in wrong[:50]]
        headers = [t(f"seizures.cohort.col.{k}", lang)
                   for k in ("case", "day", "model", "confirmed", "method", "by")]
        return gr.update(value={"headers": headers, "data": rows}, visible=bool(rows))


def build_cohort_tab(ctx, texts: Texts) -> CohortHandlers:
    """Lay out the tab and wire its event to a `CohortHandlers`, returned for tests."""
    h = CohortHandlers(ctx)
    texts.value(gr.Markdown(), "app.cohort.intro")
    with gr.Row():
        threshold = texts.label(gr.Slider(0.05, 1.0, value=CERT_THRESHOLD, step=0.05),
                                "app.cohort.threshold.label")
        days = texts.label(gr.Number(value=0, precision=0, minimum=0), "app.cohort.days.label")
        run = texts.value(gr.Button(variant="primary"), "app.cohort.run")
    text = gr.Markdown()
    classes = texts.label(gr.Dataframe(interactive=False, visible=False), "app.cohort.classes.label")
    with gr.Row():
        pairs = texts.label(gr.Dataframe(interactive=False, visible=False), "app.cohort.pairs.label")
        trainees = texts.label(gr.Dataframe(interactive=False, visible=False),
                              "app.cohort.trainees.label")
    plot = texts.label(gr.Plot(visible=False), "app.cohort.plot.label")
    files = texts.label(gr.File(file_count="multiple", interactive=False),
                        "app.cohort.downloads.label")

    wrong = texts.label(gr.Dataframe(interactive=False, visible=False),
                        "seizures.cohort.wrong.label")
    run.click(h.cohort, [threshold, days], [text, classes, pairs, trainees, plot, files, wrong],
              api_name="cohort")
    return h
