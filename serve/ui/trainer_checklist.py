"""The Trainer tab's "Update CITES listings from Species+": the same import as
`python -m species_data import-checklist`, for trainers.

    h = ChecklistHandlers(ctx)
    h.preview(file, request)   # -> summary, diff rows; nothing is written
    h.apply(file, request)     # -> result; writes the overlay through the atomic save + history

Both read the uploaded file again on the server, so what is applied is exactly what the
file says now, never a diff sent back by the browser. Endpoints `trainer_checklist_preview`
and `trainer_checklist_apply`; both need the catalogue-editing permission.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from species_data.checklist import ChecklistError, Diff, apply_diff, compare, read_checklist

from serve.i18n import t
from serve.records.auth import Permission
from serve.ui.common import enter, error

COLUMNS = ("entry", "old", "new", "status", "note")


def _path(file: Any) -> Path | None:
    if not file:
        return None
    return Path(file if isinstance(file, str) else getattr(file, "path", None) or getattr(file, "name", ""))


def diff_rows(diff: Diff, catalogue, lang: str) -> list[list[str]]:
    """One row per entry: name (id), old and new Appendix, status, what the file says."""
    rows = []
    for c in diff.to_apply:  # the entries the file is about (the others are counted in the summary)
        entry = catalogue.get(c.entry_id)
        name = f"{entry.common_name(lang)} ({c.entry_id})" if entry else c.entry_id
        rows.append([name, c.old.value, c.new.value, t(f"checklist.status.{c.status.value}", lang), c.note])
    return rows


def summary_text(diff: Diff, lang: str) -> str:
    from species_data.checklist import Status

    examples = ", ".join(diff.unmatched[:8]) + (" …" if len(diff.unmatched) > 8 else "")
    return t("checklist.summary", lang, rows=diff.rows, changed=diff.count(Status.CHANGED),
             split=diff.count(Status.SPLIT), unchanged=diff.count(Status.UNCHANGED),
             missing=diff.count(Status.NOT_IN_FILE), unmatched=len(diff.unmatched),
             examples=f" ({examples})" if examples else "")


class ChecklistHandlers:
    def __init__(self, ctx) -> None:
        self.ctx = ctx

    def _diff(self, file, lang: str) -> tuple[Diff, str]:
        path = _path(file)
        if path is None:
            raise error(lang, "checklist.error.no_file")
        try:
            rows = read_checklist(path)
        except (ChecklistError, OSError) as exc:
            raise error(lang, "checklist.error.bad_file", detail=str(exc)) from None
        return compare(self.ctx.catalogue(), rows), path.name

    def preview(self, file, request: gr.Request):
        """What the file would change -> (summary, table). Nothing is written."""
        user, lang = enter(self.ctx, request, Permission.EDIT_CATALOGUE)
        diff, _ = self._diff(file, lang)
        table = {"headers": [t(f"checklist.col.{c}", lang) for c in COLUMNS],
                 "data": diff_rows(diff, self.ctx.catalogue(), lang)}
        return summary_text(diff, lang), gr.update(value=table, visible=True)

    def apply(self, file, request: gr.Request):
        """Apply the file: every matched entry is saved (Appendix when it changes, the
        checked-against date always) into the catalogue overlay, with the edit history."""
        user, lang = enter(self.ctx, request, Permission.EDIT_CATALOGUE)
        diff, name = self._diff(file, lang)
        if not diff.to_apply:
            return t("checklist.nothing", lang)
        catalogue = self.ctx.catalogue()
        written = apply_diff(diff, catalogue, self.ctx.config.catalogue_overlay, user.name, source=name)
        self.ctx.reload_catalogue()
        self.ctx.store.audit(user.name, "trainer_checklist_import",
                             {"file": name, "entries": [p.stem for p in written]})
        return t("checklist.applied", lang, count=len(written), file=name)


def build_checklist_section(ctx, texts=None, lang: str = "en") -> ChecklistHandlers:
    """The accordion inside the Trainer tab's catalogue sub-tab, with its two events. Labels are
    registered with `texts` (re-rendered per user language) when it is given."""
    h = ChecklistHandlers(ctx)

    def reg(component, key: str, how: str = "label"):
        setattr(component, how, t(key, lang))
        if texts is not None:
            getattr(texts, how)(component, key)
        return component

    with gr.Accordion(t("checklist.ui.heading", lang), open=False) as box:
        reg(gr.Markdown(), "checklist.ui.help", "value")
        file = reg(gr.File(file_types=[".csv"], file_count="single"), "checklist.ui.file")
        with gr.Row():
            check = reg(gr.Button(), "checklist.ui.preview", "value")
            apply = reg(gr.Button(variant="primary"), "checklist.ui.apply", "value")
        summary = gr.Markdown()
        table = reg(gr.Dataframe(interactive=False, wrap=True, visible=False), "checklist.ui.table")
        result = gr.Markdown()
    if texts is not None:
        texts.section(box, "checklist.ui.heading", visible=lambda user: True)
    check.click(h.preview, [file], [summary, table], api_name="trainer_checklist_preview")
    apply.click(h.apply, [file], [result], api_name="trainer_checklist_apply")
    return h
