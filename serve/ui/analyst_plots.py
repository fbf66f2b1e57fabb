"""The analyst tab's four figures, drawn with matplotlib from `seizure_stats` tables.

No Gradio here: each function takes a table and the viewer's language and returns a
`matplotlib.figure.Figure` (the tab shows it and offers it as a PNG). Figures are built
with the object API, never pyplot, so concurrent requests do not share global state.
"""
from __future__ import annotations

from typing import Callable

from matplotlib.figure import Figure

from serve.i18n import t
from serve.records.seizure_stats import Table

Name = Callable[[str], str]  # catalogue id or enum value -> display name


def _empty(fig: Figure, lang: str) -> Figure:
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, t("seizures.analyst.no_data", lang), ha="center", va="center")
    ax.set_axis_off()
    return fig


def commodity_month_figure(table: Table, name_of: Name, lang: str) -> Figure:
    """Stacked bars: seizures per month, one colour per commodity."""
    fig = Figure(figsize=(8, 4), dpi=100)
    if not table.rows:
        return _empty(fig, lang)
    months = sorted({m for m, _, _ in table.rows})
    commodities = sorted({c for _, c, _ in table.rows})
    ax = fig.add_subplot()
    bottom = [0] * len(months)
    for commodity in commodities:
        heights = [next((n for m2, c, n in table.rows if m2 == m and c == commodity), 0)
                   for m in months]
        ax.bar(months, heights, bottom=bottom, label=name_of(commodity))
        bottom = [b + h for b, h in zip(bottom, heights)]
    ax.set_ylabel(t("seizures.analyst.axis.seizures", lang))
    ax.set_title(t("seizures.analyst.plot.by_month", lang))
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.tick_params(axis="x", labelrotation=45)
    fig.tight_layout()
    return fig


def _barh(table: Table, labels: list[str], title_key: str, lang: str) -> Figure:
    fig = Figure(figsize=(7, max(2.5, 0.35 * len(table.rows) + 1.2)), dpi=100)
    if not table.rows:
        return _empty(fig, lang)
    ax = fig.add_subplot()
    ax.barh(labels, [r[-1] for r in table.rows])
    ax.invert_yaxis()
    ax.set_xlabel(t("seizures.analyst.axis.seizures", lang))
    ax.set_title(t(title_key, lang))
    fig.tight_layout()
    return fig


def routes_figure(table: Table, lang: str) -> Figure:
    labels = [f"{o} → {d}" for o, d, _ in table.rows]
    return _barh(table, labels, "seizures.analyst.plot.routes", lang)


def concealment_figure(table: Table, lang: str) -> Figure:
    labels = [t(f"seizures.concealment.{c}", lang) for c, _ in table.rows]
    return _barh(table, labels, "seizures.analyst.plot.concealment", lang)


def outcomes_figure(table: Table, lang: str) -> Figure:
    labels = [t(f"seizures.outcome.{o}", lang) for o, _ in table.rows]
    return _barh(table, labels, "seizures.analyst.plot.outcomes", lang)
