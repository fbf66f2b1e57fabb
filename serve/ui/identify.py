"""Identify tab: photos in, decision + advice + species sheet + heat map out; save a case.

Endpoints: `identify` (files -> JSON results) and `save_case` (photo sha, shipment ref,
note, action, photos, seizure fields -> confirmation; `serve/ui/case_save.py`). Rendering the table, details and heat map are private
follow-up steps of the page. Identifications are kept on the server (`Recent`, per
user) so that a case is saved with the server's own prediction, never one sent back
by the browser; identifying itself writes nothing.
"""
from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import gradio as gr

from serve.csv_safe import csv_text
from serve.records.auth import Permission, can
from serve.identify.decisions import DecisionKind, advice, strictest_appendix
from serve.identify.heatmap import HeatMapper
from serve.i18n import t
from serve.identify.predictor import Failure, Identification
from serve.records.schema import CaseAction
from serve.identify.species_card import appendix_text, card_markdown, lookalike_pairs_html, separating_checks
from serve.ui.case_save import CaseSaveHandlers
from serve.ui.photo_input import photo_input
from serve.ui.seizure_form import build_seizure_inputs, catalogue_choices
from serve.ui.common import Texts, enter, error, namer, option_list, user_errors
from serve.ui.key import KeyPanel

CONCURRENCY = "model"  # identify and heat maps share the model: one queue


class Recent:
    """The last identifications per (user, photo sha256), with the uploaded file path."""

    def __init__(self, size: int = 1000) -> None:
        self._items: OrderedDict[tuple[str, str], tuple[Identification, str]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def put(self, user: str, ident: Identification, path: str) -> None:
        with self._lock:
            self._items[(user, ident.sha256)] = (ident, path)
            self._items.move_to_end((user, ident.sha256))
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def get(self, user: str, sha: str) -> tuple[Identification, str] | None:
        with self._lock:
            return self._items.get((user, sha))


def _file_path(f: Any) -> str:
    return f if isinstance(f, str) else getattr(f, "path", None) or getattr(f, "name", str(f))


def result_dict(ident: Identification, ctx, lang: str, labels: list[str]) -> dict[str, Any]:
    """JSON-ready result with names, advice and CITES facts rendered in `lang`."""
    catalogue = ctx.catalogue()
    name_of = namer(catalogue, lang)
    d = ident.decision
    entry = catalogue.get(d.label) if d.label else None
    appendix, protected, checks = None, False, []
    if d.kind is DecisionKind.IDENTIFIED and entry is not None:
        appendix, protected = entry.appendix, entry.protected
    elif d.kind is DecisionKind.GROUP:
        members = [catalogue[c] for c in labels if c in catalogue and catalogue[c].group == d.group]
        appendix = strictest_appendix(m.appendix for m in members)
        protected = any(m.protected for m in members)
    elif d.kind is DecisionKind.CANNOT_RULE_OUT:  # a protected class is not ruled out
        appendix = strictest_appendix(catalogue[c].appendix for c in d.suspected if c in catalogue)
        protected, checks = True, separating_checks(catalogue, d.suspected, d.lookalike, lang)
    # `protected` means CITES-listed, as in the catalogue and the species sheet.
    messages = advice(d, appendix, name_of, checks=checks)
    out = ident.to_dict()
    out.update({
        "label_name": name_of(d.label) if d.label else None,
        "group_name": name_of(d.group) if d.group else None,
        "out_of_distribution": d.out_of_distribution,
        "top": [{"label": c, "name": name_of(c), "probability": p} for c, p in d.top],
        "advice": [m.render(lang) for m in messages],
        "advice_keys": [m.key for m in messages],
        "cites": None if entry is None or d.kind is not DecisionKind.IDENTIFIED else {
            "appendix": entry.appendix.value, "appendix_text": appendix_text(entry, lang),
            "note": entry.cites.note, "checked_against": entry.cites.checked_against},
        "protected": protected if d.kind is not DecisionKind.UNKNOWN else None,
    })
    return out


CSV_COLUMNS = ("name", "sha256", "decision", "label", "label_name", "group", "confidence",
               "cites_appendix", "protected", "model_version", "top5", "advice")


def _csv(results: list[dict], failures: list[dict]) -> str:
    rows = []
    for r in results:
        row = dict(r, cites_appendix=(r["cites"] or {}).get("appendix"),
                   top5=json.dumps(r["top"], ensure_ascii=False), advice=" | ".join(r["advice"]))
        rows.append([row.get(c) for c in CSV_COLUMNS])
    rows += [[f["name"], "", "failed", "", "", "", "", "", "", "", "", f["reason"]]
             for f in failures]
    return csv_text(CSV_COLUMNS, rows)


class IdentifyHandlers:
    """The Identify tab's events; each checks the caller's role first (`enter`)."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.recent = Recent()

    def inputs_of(self, file_list, photo, lang: str) -> list[tuple[str, str]]:
        items = [(Path(_file_path(f)).name, _file_path(f)) for f in (file_list or [])]
        if photo:
            items.append((Path(_file_path(photo)).name, _file_path(photo)))
        if not items:
            raise error(lang, "app.error.no_photos")
        limit = self.ctx.config.max_files
        if len(items) > limit:
            raise error(lang, "app.error.too_many_files", count=len(items), limit=limit)
        return items

    def no_open_quiz(self, user, lang: str) -> None:
        """Identify must not answer quiz questions: a trainee with an open quiz is refused;
        anyone who logs cases (an officer at work is never held up) has the quiz closed."""
        open_ids = self.ctx.store.open_quizzes(user.name)
        if not open_ids:
            return
        if not can(user, Permission.LOG_CASE):
            raise error(lang, "app.error.quiz_open", id=open_ids[-1])
        for quiz_id in open_ids:
            self.ctx.store.finish_quiz(quiz_id, user.name)
        gr.Info(t("app.identify.quiz_closed", lang))

    def identify(self, file_list, photo, request: gr.Request, progress=gr.Progress()):
        """Identify one or many photos -> {model_version, results: [...], failures: [...]}."""
        user, lang = enter(self.ctx, request, Permission.IDENTIFY)
        self.no_open_quiz(user, lang)
        with user_errors(lang):
            items = self.inputs_of(file_list, photo, lang)
            try:
                predictor = self.ctx.predictor()
            except FileNotFoundError:
                raise error(lang, "app.error.no_model") from None
            failures, ok_items, max_mb = [], [], self.ctx.config.max_upload_mb
            for name, path in items:
                size = os.path.getsize(path) / 2**20
                if size > max_mb:
                    failures.append({"name": name, "reason": t(
                        "app.error.file_too_large", lang, size=size, limit=max_mb)})
                else:
                    ok_items.append((name, path))

            def tick(done: int, total: int) -> None:
                progress(done / max(total, 1), desc=t("app.identify.progress", lang, done=done,
                                                      total=total))

            out = predictor.identify_many(ok_items, progress=tick) if ok_items else []
            results = []
            for (_, path), r in zip(ok_items, out):  # one result per input, in order
                if isinstance(r, Failure):
                    failures.append({"name": r.name, "reason": r.reason})
                else:
                    self.recent.put(user.name, r, path)
                    results.append(result_dict(r, self.ctx, lang, predictor.labels))
            if not results:
                if len(failures) == 1:
                    raise error(lang, "app.error.bad_image", **failures[0])
                raise error(lang, "app.error.all_failed",
                            details="; ".join(f"{f['name']}: {f['reason']}" for f in failures))
            if failures:
                gr.Warning(t("app.identify.partial_warning", lang, count=len(failures)))
            return {"model_version": predictor.version, "results": results, "failures": failures}

    def show_batch(self, data, request: gr.Request):
        user, lang = enter(self.ctx, request, Permission.IDENTIFY)
        results, failures = data.get("results", []), data.get("failures", [])
        yes, no = t("app.yes", lang), t("app.no", lang)
        rows = [[r["name"], t(f"app.identify.result.{r['decision']}", lang),
                 r["label_name"] or r["group_name"] or "", f"{r['confidence']:.0%}",
                 (r["cites"] or {}).get("appendix_text", ""),
                 "" if r["protected"] is None else (yes if r["protected"] else no)]
                for r in results]
        rows += [[f["name"], t("app.identify.result.failed", lang, reason=f["reason"]),
                  "", "", "", ""] for f in failures]
        cols = [t(f"app.identify.col.{c}", lang)
                for c in ("file", "result", "name", "confidence", "cites", "protected")]
        text = t("app.identify.summary", lang, ok=len(results), total=len(results) + len(failures),
                 version=data.get("model_version", ""))
        if failures:
            text += "\n\n" + t("app.identify.failed", lang, details="; ".join(
                f"{f['name']} ({f['reason']})" for f in failures))
        export = self.ctx.exports.write
        files_out = [export(user.name, "identifications", "csv", _csv(results, failures)),
                     export(user.name, "identifications", "json",
                            json.dumps(data, ensure_ascii=False, indent=1))]
        choices = [(r["name"], r["sha256"]) for r in results]
        return (text, gr.update(value={"headers": cols, "data": rows}, visible=True), files_out,
                gr.update(choices=choices, value=choices[0][1] if choices else None))

    def show_detail(self, sha, request: gr.Request):
        user, lang = enter(self.ctx, request, Permission.IDENTIFY)
        found = self.recent.get(user.name, sha or "")
        if found is None:
            raise error(lang, "app.error.unknown_photo")
        ident, path = found
        with user_errors(lang):
            predictor = self.ctx.predictor()
            r = result_dict(ident, self.ctx, lang, predictor.labels)
        catalogue = self.ctx.catalogue()
        msgs = r["advice"]
        verdict_md = f"### {msgs[0]}\n\n" + "\n\n".join(
            f"⚠️ **{m}**" if k.startswith(("decision.cites", "decision.cannot_rule_out.refer")) else m
            for m, k in zip(msgs[1:], r["advice_keys"][1:]))
        d = ident.decision
        shown = d.label or (d.top[0][0] if d.kind is DecisionKind.GROUP else None) or \
            (d.suspected[0] if d.suspected else None)  # CANNOT_RULE_OUT: the protected class's sheet
        entry = catalogue.get(shown) if shown else None
        if entry is None:
            card_md, pairs = t("app.identify.unknown_note", lang), ""
        else:
            card_md = card_markdown(entry, catalogue, lang)
            if ident.decision.kind is DecisionKind.GROUP:
                card_md = f"_{t('app.identify.group_note', lang)}_\n\n" + card_md
            pairs = lookalike_pairs_html(entry, catalogue, lang, self.ctx.quiz.example_photo, path)
        label = {x["name"]: x["probability"] for x in r["top"]}
        return gr.update(value=label), verdict_md, card_md, gr.update(value=pairs, visible=bool(pairs))

    def show_heat(self, sha, request: gr.Request):
        user, lang = enter(self.ctx, request, Permission.IDENTIFY)
        found = self.recent.get(user.name, sha or "")
        if found is None:
            return gr.update(value=None, visible=False)
        ident, path = found
        with user_errors(lang):
            mapper = HeatMapper.for_bundle(self.ctx.predictor().bundle)
            label = ident.decision.label or ident.top[0][0]
            image = mapper.explain(path, class_id=label, name=ident.name).overlay(size=448)
        return gr.update(value=image, visible=True)


def build_identify_tab(ctx, texts: Texts) -> IdentifyHandlers:
    """Lay out the tab and wire its events to an `IdentifyHandlers`, returned for tests."""
    h = IdentifyHandlers(ctx)
    saver = CaseSaveHandlers(ctx, h.recent)
    texts.value(gr.Markdown(), "app.identify.intro")
    with gr.Row():
        files = texts.label(gr.File(file_count="multiple", file_types=["image"]),
                            "app.identify.files.label")
        camera = texts.label(photo_input(sources=["upload", "webcam"]), "app.identify.camera.label")
    run = texts.value(gr.Button(variant="primary"), "app.identify.run")
    summary = gr.Markdown()
    table = texts.label(gr.Dataframe(interactive=False, wrap=True, visible=False),
                        "app.identify.table.label")
    downloads = texts.label(gr.File(file_count="multiple", interactive=False),
                            "app.identify.downloads.label")
    texts.value(gr.Markdown(), "app.identify.details.heading", markup="### {}")
    selector = texts.label(gr.Dropdown(choices=[], allow_custom_value=True),
                           "app.identify.select.label")
    with gr.Row():
        with gr.Column():
            top5 = texts.label(gr.Label(num_top_classes=5), "app.identify.top5.label")
            heat = texts.label(gr.Image(interactive=False, type="pil", visible=False),
                               "app.identify.heatmap.label")
        with gr.Column():
            verdict = gr.Markdown()
            card = gr.Markdown()
    looks = gr.HTML(visible=False)  # look-alikes next to the officer's photo (its own heading)
    key_panel = KeyPanel(ctx, h.recent)  # "No match? Use the key"
    key_panel.build(texts)
    with gr.Group(visible=False) as case_box:
        texts.value(gr.Markdown(), "app.case.heading", markup="### {}")
        with gr.Row():
            shipment = texts.label(gr.Textbox(max_length=200), "app.case.shipment.label",
                                   placeholder="app.case.shipment.placeholder")
            action = texts.choices(gr.Radio(choices=[a.value for a in CaseAction]),
                                   "app.case.action.label",
                                   option_list("app.case.action.", [a.value for a in CaseAction]))
        note = texts.label(gr.Textbox(lines=2, max_length=10_000), "app.case.note.label")
        case_photos = texts.label(gr.CheckboxGroup(choices=[]), "seizures.identify.photos.label")
        with gr.Accordion(open=True) as seizure_box:
            seizure_inputs = build_seizure_inputs(texts, lambda lang: catalogue_choices(ctx, lang))
        texts.section(seizure_box, "seizures.form.heading", visible=lambda u: True)
        save = texts.value(gr.Button(), "app.case.save")
        saved = gr.Markdown()
        saved_json = gr.JSON(visible=False)
    texts.section(case_box, None, visible=lambda u: can(u, Permission.LOG_CASE))
    with gr.Accordion(open=False) as raw_box:
        raw = gr.JSON()
    texts.section(raw_box, "app.identify.json.label", visible=lambda u: True)

    detail_out = [top5, verdict, card, looks]
    run.click(h.identify, [files, camera], [raw], api_name="identify", concurrency_limit=2,
              concurrency_id=CONCURRENCY).success(
        h.show_batch, [raw], [summary, table, downloads, selector],
        api_visibility="private").success(
        saver.case_defaults, [selector, raw], [case_photos, *seizure_inputs],
        api_visibility="private").success(
        h.show_detail, [selector], detail_out, api_visibility="private").success(
        h.show_heat, [selector], [heat], api_visibility="private", concurrency_id=CONCURRENCY)
    selector.input(h.show_detail, [selector], detail_out, api_visibility="private").success(
        h.show_heat, [selector], [heat], api_visibility="private", concurrency_id=CONCURRENCY)
    save.click(saver.save_case, [selector, shipment, note, action, case_photos, *seizure_inputs],
               [saved, saved_json], api_name="save_case")
    key_panel.wire(selector, shipment, note, action)
    return h
