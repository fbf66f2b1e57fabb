"""What the trainer tab shows, as plain values: table rows and HTML (the catalogue form is
`serve.ui.catalogue_form`).

No gradio and no torch here: every function takes records in and returns strings
or lists, each visible word through `serve.i18n.t` (domain file `trainer.json`).
"""
from __future__ import annotations

import html
import time
from typing import Any, Callable, Iterable, Mapping, Sequence

from serve.i18n import t, tn


# --- tables ------------------------------------------------------------------------------

HISTORY_COLUMNS = ("col_time", "col_author", "col_entry", "col_action")
VERDICT_COLUMNS = ("col_file", "col_accepted", "col_verdict", "col_sha")
FLAG_COLUMNS = ("col_label", "col_suggested", "col_p_given", "col_p_other", "col_similarity", "col_reason",
                "col_sha")
VERSION_COLUMNS = ("col_version", "col_created", "col_parent", "col_mode", "col_classes", "col_top1",
                   "col_published")


def frame(rows: list[list[str]], columns: Sequence[str], lang: str) -> dict[str, Any]:
    """A table value with its headers in `lang` (rows alone would bring back the headers the
    component was built with, in English)."""
    return {"headers": [t(f"trainer.ui.{c}", lang) for c in columns], "data": rows}


# --- catalogue ---------------------------------------------------------------------------

def history_rows(history: Sequence[Mapping[str, Any]], limit: int = 50) -> list[list[str]]:
    """Newest first: time, author, entry, action."""
    return [[h.get("time", ""), h.get("author", ""), h.get("id", ""), h.get("action", "")]
            for h in list(history)[::-1][:limit]]


# --- uploads -----------------------------------------------------------------------------

def verdict_text(code: str, params: Mapping[str, Any], lang: str) -> str:
    return t(f"trainer.verdict.{code}", lang, **params)


def verdict_rows(verdicts: Iterable[Any], lang: str) -> list[list[str]]:
    """One row per file: name, accepted yes/no, why, content hash prefix."""
    rows = []
    for v in verdicts:
        rows.append([v.name, t("trainer.yes" if v.accepted else "trainer.no", lang),
                     verdict_text(v.code.value, v.message_params(), lang), v.sha256[:12]])
    return rows


# --- models ------------------------------------------------------------------------------

def _pct(x: float | None) -> str:
    return "–" if x is None or x != x else f"{100 * x:.1f} %"


def comparison_html(c: Any, lang: str) -> str:
    """The per-class table with changes highlighted, the overall numbers, and the verdict."""
    esc = html.escape
    head = "".join(f"<th>{esc(t(k, lang))}</th>" for k in (
        "trainer.compare.class", "trainer.compare.photos", "trainer.compare.before",
        "trainer.compare.after", "trainer.compare.delta"))
    body = []
    for ch in c.classes:
        if ch.is_new:
            style, delta = "background:#e3f4e3", t("trainer.compare.new_class", lang)
        elif ch.after is None:
            style, delta = "background:#fbe0e0", t("trainer.compare.dropped_class", lang)
        else:
            d = ch.delta or 0.0
            style = ("background:#fbe0e0;font-weight:bold" if ch.worse else
                     "background:#eef8ee" if d > c.tolerance else "")
            delta = f"{100 * d:+.1f}"
        after = _pct(ch.after)
        if ch.kfold is not None:  # a new class with few test photos: every photo of it tested once
            after += " · " + t("trainer.compare.kfold", lang, photos=ch.kfold.photos, recall=_pct(ch.kfold.recall),
                               low=_pct(ch.kfold.low), high=_pct(ch.kfold.high))
        body.append(f'<tr style="{style}"><td>{esc(ch.label)}</td><td>{ch.n}</td><td>{_pct(ch.before)}</td>'
                    f"<td>{esc(after)}</td><td>{esc(delta)}</td></tr>")
    lines = [
        f"<p>{esc(t('trainer.compare.title', lang, candidate=c.candidate, published=c.published, split=c.split))}</p>",
        f"<p>{esc(t('trainer.compare.same_photos' if c.same_photos else 'trainer.compare.stored_metrics', lang))}</p>",
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>",
        "<p>" + esc(t("trainer.compare.top1", lang, before=_pct(c.top1_before), after=_pct(c.top1_after),
                      n=c.n_common, delta=f"{100 * c.top1_delta:+.1f}")) + "<br>"
        + esc(t("trainer.compare.top1_all", lang, after=_pct(c.top1_all_after), n=c.n_all)) + "<br>"
        + esc(t("trainer.compare.ece", lang, before=f"{c.ece_before:.3f}", after=f"{c.ece_after:.3f}")) + "</p>",
    ]
    confused = most_confused_pairs(c.labels, c.confusion)
    if confused:
        lines.append("<p>" + esc(t("trainer.compare.confused", lang, pairs="; ".join(
            f"{a} → {b}: {n}" for a, b, n in confused))) + "</p>")
    thin = thin_classes(c)
    if c.needs_override:
        items = "".join(f"<li>{esc(regression_text(r, lang))}</li>" for r in c.regressions)
        lines.append(f'<div style="border:2px solid #c00;padding:6px"><b>'
                     f"{esc(t('trainer.compare.needs_override', lang, tolerance=_pct(c.tolerance)))}</b>"
                     f"<ul>{items}</ul></div>")
    elif thin:  # never "can be published" about a class tested on a photo or two
        lines.append(f"<p><b>{esc(t('trainer.compare.ok_but_new', lang))}</b></p>")
    else:
        lines.append(f"<p><b>{esc(t('trainer.compare.ok', lang))}</b></p>")
    for ch in thin:
        lines.append(f'<div class="thin-class" role="alert" style="border:2px solid #b42318;color:#5f1410;'
                     f'background:#fdecea;padding:6px;margin:4px 0"><b>\u26a0 {esc(thin_text(ch, c.min_photos, lang))}</b></div>')
    return "\n".join(lines)


def regression_text(r: Any, lang: str) -> str:
    return t(f"trainer.regression.{r.kind.value}", lang, label=r.label or "", before=_pct(r.before),
             after=_pct(r.after))


def most_confused_pairs(labels: Sequence[str], confusion: Sequence[Sequence[int]], top: int = 5):
    pairs = [(labels[i], labels[j], n) for i, row in enumerate(confusion) for j, n in enumerate(row)
             if i != j and n > 0]
    return sorted(pairs, key=lambda p: -p[2])[:top]


def thin_classes(c: Any) -> list[Any]:
    """The classes (`train.compare.ClassChange`) of comparison `c` that no photo measured, or
    too few (`ClassChange.thin`: fewer than `Comparison.min_photos`, k-fold photos included)."""
    return [ch for ch in c.classes if ch.thin or (not ch.measured and ch.label in c.labels)]


def thin_text(ch: Any, needed: int, lang: str) -> str:
    """Why a class's numbers cannot be trusted yet: no photo measured it, or too few."""
    if not ch.measured:
        return t("trainer.compare.unmeasured", lang, label=ch.label, needed=needed)
    return tn("trainer.compare.thin", ch.tested_on, lang, label=ch.label, needed=needed)


def versions_rows(metas: Iterable[Any], current: str | None, lang: str) -> list[list[str]]:
    """Newest first: version, created, derived from, how trained, classes, test top-1, published."""
    rows = []
    for m in sorted(metas, key=lambda m: m.created_at, reverse=True):
        rows.append([m.version, m.created_at, m.parent or "", m.training.mode.value,
                     str(len(m.labels)), _pct(m.metrics.test.top1),
                     t("trainer.yes", lang) if m.version == current else ""])
    return rows


def update_summary(result: Any, lang: str) -> str:
    return t("trainer.update.done", lang, version=result.bundle.meta.version, added=result.added,
             removed=result.removed, new=", ".join(result.new_classes) or "–", embedded=result.embedded_new,
             seconds=duration(result.seconds.get("total", 0), lang))


def duration(seconds: float, lang: str) -> str:
    """"about 40 s", "about 2 min" - an honest, rounded length of time."""
    if seconds < 90:
        return t("trainer.duration.seconds", lang, n=max(1, round(seconds / 5) * 5 if seconds > 10 else round(seconds)))
    return t("trainer.duration.minutes", lang, n=round(seconds / 60))


def plan_text(plan: Any, lang: str) -> str:
    """What a quick update is about to do and how long it should take (`train.update_estimate`)."""
    if plan.to_read == 0:
        return t("trainer.update.plan_quick", lang, time=duration(plan.seconds, lang))
    return t("trainer.update.plan_read", lang, n=plan.to_read, total=plan.photos, time=duration(plan.seconds, lang))


class StageReporter:
    """The quick update's progress (`train.quick_update.Progress`) as one bar with words: the
    stage, and while photos are read, how many and how long is left at the speed so far.

    The update's own fractions fill the bar up to `upto`; its "done" is not said, since the
    caller still has work to show after it (the comparison). `opening` (the estimate,
    `plan_text`) stays in place of the short first stage, so the trainer can read it."""

    def __init__(self, progress: Callable[..., Any], lang: str, upto: float = 1.0, opening: str | None = None) -> None:
        self.progress, self.lang, self.upto, self.opening = progress, lang, upto, opening
        self.started: dict[str, tuple[float, int]] = {}

    def __call__(self, fraction: float, stage: str, done: int | None = None, total: int | None = None) -> None:
        if stage == "done":
            return
        fraction *= self.upto
        if stage == "photos" and self.opening:
            self.progress(fraction, desc=self.opening)
            return
        if done is None or not total:
            self.progress(fraction, desc=t(f"trainer.update.stage.{stage}", self.lang))
            return
        first = self.started.setdefault(stage, (time.monotonic(), done))
        rate = (time.monotonic() - first[0]) / max(done - first[1], 1)
        left = duration(rate * (total - done), self.lang) if done > first[1] else "…"
        self.progress(fraction, desc=t(f"trainer.update.stage.{stage}_count", self.lang, done=done, total=total,
                                       left=left))


def flag_rows(flags: Iterable[Any], lang: str) -> list[list[str]]:
    return [[f.label, f.suggested, f"{f.p_given:.2f}", f"{f.p_suggested:.2f}", f"{f.similarity:.2f}",
             t(f"trainer.noise.{f.reason.value}", lang), f.sha256] for f in flags]


def job_text(job: Any, lang: str) -> str:
    if job is None:
        return t("trainer.retrain.none", lang)
    progress = "–" if job.progress is None else f"{100 * job.progress:.0f} %"
    return t("trainer.retrain.status", lang, id=job.id, who=job.who, out=job.out or "–",
             status=t(f"trainer.job.{job.status.value}", lang), progress=progress, stage=job.stage or "–",
             started=job.started_at)
