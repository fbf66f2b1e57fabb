"""What the trainer tab shows, as plain values: table rows, HTML, the catalogue form.

No gradio and no torch here: every function takes records in and returns strings
or lists, each visible word through `serve.i18n.t` (domain file `trainer.json`).
"""
from __future__ import annotations

import html
from dataclasses import dataclass, fields
from typing import Any, Iterable, Mapping, Sequence

from species_data.catalogue import Appendix, Kind

from serve.i18n import t


# --- catalogue form ------------------------------------------------------------------------

@dataclass(frozen=True)
class EntryForm:
    """The English fields a trainer edits; other languages of an existing entry are kept."""

    id: str = ""
    kind: str = Kind.WHOLE_ANIMAL.value
    product_type: str = ""
    group: str = ""
    scientific_name: str = ""
    common_names: str = ""  # one per line, first = display name
    appendix: str = Appendix.II.value
    cites_note: str = ""
    checked_against: str = ""
    cues: str = ""  # one per line
    handling: str = ""  # one per line
    lookalikes: str = ""  # "other_id | cue" per line
    sources: str = ""  # "title | url" per line

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def values(self) -> list[str]:
        return [getattr(self, n) for n in self.field_names()]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _pairs(text: str) -> list[tuple[str, str]]:
    out = []
    for line in _lines(text):
        left, _, right = line.partition("|")
        out.append((left.strip(), right.strip()))
    return out


def form_from_mapping(m: Mapping[str, Any]) -> EntryForm:
    """Form fields for an entry mapping (`species_data.entry_to_mapping`)."""
    en = lambda d: (d or {}).get("en") or []  # noqa: E731
    return EntryForm(
        id=m.get("id", ""), kind=m.get("kind", Kind.WHOLE_ANIMAL.value), product_type=m.get("product_type") or "",
        group=m.get("group", ""), scientific_name=m.get("scientific_name") or "",
        common_names="\n".join(en(m.get("common_names"))), appendix=(m.get("cites") or {}).get("appendix", Appendix.II.value),
        cites_note=(m.get("cites") or {}).get("note", ""),
        checked_against=(m.get("cites") or {}).get("checked_against", ""),
        cues="\n".join(en(m.get("cues"))), handling="\n".join(en(m.get("handling"))),
        lookalikes="\n".join(f"{la['id']} | {(la.get('cue') or {}).get('en', '')}" for la in m.get("lookalikes") or []),
        sources="\n".join(f"{s['title']} | {s['url']}" for s in m.get("sources") or []),
    )


def form_to_mapping(form: EntryForm, existing: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An entry mapping for `species_data.save_entry`: the form's English over `existing`'s other languages
    (and `existing`'s other_taxa, key attributes and listing rows, which the form does not show).

    Nothing is validated here; `save_entry` validates exactly like the loader."""
    old = dict(existing or {})

    def with_en(key: str, values: list[str]) -> dict[str, Any]:
        merged = {k: v for k, v in (old.get(key) or {}).items() if k != "en"}
        return {"en": values, **merged}

    old_cues = {la["id"]: la.get("cue") or {} for la in old.get("lookalikes") or []}
    lookalikes = []
    for other, cue in _pairs(form.lookalikes):
        kept = {k: v for k, v in old_cues.get(other, {}).items() if k != "en"}
        lookalikes.append({"id": other, "cue": {"en": cue, **kept}})
    kept = {k: v for k, v in old.items() if k in ("other_taxa", "key")}  # fields the form does not show
    kept_cites = {k: v for k, v in (old.get("cites") or {}).items() if k == "listings"}
    return {
        "id": form.id.strip(),
        "kind": form.kind.strip(),
        "product_type": form.product_type.strip() or None,
        "group": form.group.strip(),
        "scientific_name": form.scientific_name.strip() or None,
        "common_names": with_en("common_names", _lines(form.common_names)),
        "cites": {"appendix": form.appendix.strip(), "note": form.cites_note.strip(),
                  "checked_against": form.checked_against.strip(), **kept_cites},
        "cues": with_en("cues", _lines(form.cues)),
        "lookalikes": lookalikes,
        "handling": with_en("handling", _lines(form.handling)),
        "sources": [{"title": title, "url": url} for title, url in _pairs(form.sources)],
        **kept,
    }


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
    if c.needs_override:
        items = "".join(f"<li>{esc(regression_text(r, lang))}</li>" for r in c.regressions)
        lines.append(f'<div style="border:2px solid #c00;padding:6px"><b>'
                     f"{esc(t('trainer.compare.needs_override', lang, tolerance=_pct(c.tolerance)))}</b>"
                     f"<ul>{items}</ul></div>")
    else:
        ok = "trainer.compare.ok_measured" if c.unmeasured or c.thin else "trainer.compare.ok"
        lines.append(f"<p><b>{esc(t(ok, lang))}</b></p>")
    if c.unmeasured:  # never "no class got worse" about a class nobody measured
        lines.append("<p>" + esc(t("trainer.compare.unmeasured", lang, split=c.split, classes=", ".join(c.unmeasured)))
                     + "</p>")
    if c.thin:
        lines.append("<p>" + esc(t("trainer.compare.thin", lang, n=c.min_photos, split=c.split,
                                   classes=", ".join(c.thin))) + "</p>")
    return "\n".join(lines)


def regression_text(r: Any, lang: str) -> str:
    return t(f"trainer.regression.{r.kind.value}", lang, label=r.label or "", before=_pct(r.before),
             after=_pct(r.after))


def most_confused_pairs(labels: Sequence[str], confusion: Sequence[Sequence[int]], top: int = 5):
    pairs = [(labels[i], labels[j], n) for i, row in enumerate(confusion) for j, n in enumerate(row)
             if i != j and n > 0]
    return sorted(pairs, key=lambda p: -p[2])[:top]


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
             seconds=f"{result.seconds.get('total', 0):.1f}")


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
