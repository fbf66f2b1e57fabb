"""Identify tab: photos in; a verdict card, the batch's results, the species sheet, the
model's scores and heat map out; save a case.

The page is laid out for an officer at an inspection, often on a phone: right under
Identify, the summary line (where the progress shows) and the verdict card (kind,
headline, CITES action, first steps, Save case), which the page scrolls to; then "No
match? Use the key" (`serve/ui/key.py`) and the batch's results; then, folded, the
species sheet, the model's scores for experts and the sources.

Endpoints: `identify` (files -> JSON results) and `save_case` (photo sha, shipment ref,
note, action, photos, seizure fields -> confirmation; `serve/ui/case_save.py`).
Rendering the results, the verdict and the heat map are private follow-up steps of the
page. Identifications are kept on the server (`Recent`, per user) so that a case is
saved with the server's own prediction, never one sent back by the browser;
identifying itself writes nothing.
"""
from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from html import escape
from pathlib import Path
from typing import Any

import gradio as gr

from serve.records.auth import Permission, can
from serve.identify.decisions import Decision, DecisionKind, advice, strictest_appendix
from serve.identify.heatmap import HeatMapper
from serve.i18n import t
from serve.identify.predictor import Failure, Identification
from serve.records.schema import CaseAction
from serve.identify.species_card import (appendix_text, card_markdown, lookalike_pairs_html,
                                         separating_checks, sources_markdown)
from serve.ui.case_save import CaseSaveHandlers
from serve.ui.common import Texts, enter, error, namer, option_list, user_errors
from serve.ui.key import KeyPanel
from serve.ui.photo_input import photo_input
from serve.ui.seizure_form import build_seizure_inputs, catalogue_choices
from serve.ui.results import reason_kind, results_csv, results_html, summary_text
from serve.ui.theme import SCROLL_TO_VERDICT, STATUS_ID, VERDICT_ID
from serve.ui.verdict import verdict_html

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


def sheet_class(ident: Identification) -> str | None:
    """Whose species sheet goes with a result: the identified class; for a group its
    likeliest member (for comparison only); for a protected class not ruled out, the
    likeliest protected class (the officer treats the item as that); none when not
    recognised."""
    d: Decision = ident.decision
    if d.kind is DecisionKind.IDENTIFIED:
        return d.label
    if d.kind is DecisionKind.GROUP:
        return d.top[0][0] if d.top else None
    if d.kind is DecisionKind.CANNOT_RULE_OUT and d.suspected:
        probability = dict(ident.probabilities)
        return max(d.suspected, key=lambda c: probability.get(c, 0.0))
    return None


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
        "suspected_names": [name_of(c) for c in d.suspected],
        "out_of_distribution": d.out_of_distribution,
        "top": [{"label": c, "name": name_of(c), "probability": p} for c, p in d.top],
        "advice": [m.render(lang) for m in messages],
        "advice_keys": [m.key for m in messages],
        "cites": None if entry is None or d.kind is not DecisionKind.IDENTIFIED else {
            "appendix": entry.appendix.value, "appendix_text": appendix_text(entry, lang),
            "note": entry.cites.note_in(lang).value, "checked_against": entry.cites.checked_against},
        "protected": protected if d.kind is not DecisionKind.UNKNOWN else None,
    })
    return out


class IdentifyHandlers:
    """The Identify tab's events; each checks the caller's role first (`enter`)."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.recent = Recent()
        self.cases = CaseSaveHandlers(ctx, self.recent)

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
        """Identify one or many photos -> {model_version, results: [...], failures: [...]}.
        Each failure has the file's name, the decoder's reason and a short `kind`
        (`serve.ui.results.REASONS`); any file may be sent, and each is checked here."""
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
                    failures.append({"name": name, "kind": "too_large", "reason": t(
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
                    failures.append({"name": r.name, "kind": reason_kind(r.reason), "reason": r.reason})
                else:
                    self.recent.put(user.name, r, path)
                    results.append(result_dict(r, self.ctx, lang, predictor.labels))
            if not results:
                if len(failures) == 1:
                    raise error(lang, "app.error.bad_image", name=failures[0]["name"],
                                reason=failures[0]["reason"])
                raise error(lang, "app.error.all_failed",
                            details="; ".join(f"{f['name']}: {f['reason']}" for f in failures))
            return {"model_version": predictor.version, "results": results, "failures": failures}

    def show_batch(self, data, request: gr.Request):
        """-> summary line, results (table / cards, failures under it), downloads, and the
        photo picker (shown when there is more than one photo to choose from)."""
        user, lang = enter(self.ctx, request, Permission.IDENTIFY)
        results, failures = data.get("results", []), data.get("failures", [])
        version = data.get("model_version", "")
        export = self.ctx.exports.write
        files_out = [export(user.name, "identifications", "csv", results_csv(results, failures, lang)),
                     export(user.name, "identifications", "json",
                            json.dumps(data, ensure_ascii=False, indent=1))]
        choices = [(r["name"], r["sha256"]) for r in results]
        return (f"<p>{escape(summary_text(results, failures, version, lang))}</p>",
                gr.update(value=results_html(results, failures, lang), visible=True),
                gr.update(value=files_out, visible=True),
                gr.update(choices=choices, value=choices[0][1] if choices else None,
                          visible=len(choices) > 1))

    def show_detail(self, sha, request: gr.Request):
        """The chosen photo -> verdict card, Save's state, species sheet, scores, sources.
        Nothing happens for an empty choice (a keyboard user tabbing past the picker)."""
        user, lang = enter(self.ctx, request, Permission.IDENTIFY)
        if not sha:
            return [gr.skip()] * 11
        found = self.recent.get(user.name, sha)
        if found is None:
            raise error(lang, "app.error.unknown_photo")
        ident, path = found
        with user_errors(lang):
            predictor = self.ctx.predictor()
            r = result_dict(ident, self.ctx, lang, predictor.labels)
        catalogue = self.ctx.catalogue()
        shown = sheet_class(ident)
        entry = catalogue.get(shown) if shown else None
        steps = entry.handling_in(lang).value if entry is not None else []
        unknown = ident.decision.kind is DecisionKind.UNKNOWN
        scores = {x["name"]: x["probability"] for x in r["top"]}
        experts = gr.update(visible=True, open=False, label=t(
            "app.identify.closest.label" if unknown else "app.identify.top5.label", lang))
        if entry is None:
            sheet, card_md, pairs = gr.update(visible=False), "", gr.update(value="", visible=False)
            sources, sources_md = gr.update(visible=False), ""
        else:
            card_md = card_markdown(entry, catalogue, lang, sources=False)
            key = "app.identify.sheet.label"
            if ident.decision.kind is DecisionKind.GROUP:
                card_md = f"_{t('app.identify.group_note', lang)}_\n\n" + card_md
                key = "app.identify.sheet.closest"
            sheet = gr.update(visible=True, label=t(key, lang, name=entry.common_name(lang)))
            # the look-alikes next to the officer's own photo
            looks = lookalike_pairs_html(entry, catalogue, lang, self.ctx.quiz.example_photo, path)
            pairs = gr.update(value=looks, visible=bool(looks))
            sources_md = sources_markdown(entry)
            sources = gr.update(visible=bool(sources_md), label=t("app.card.sources", lang))
        return (gr.update(visible=True), verdict_html(r, lang, steps),
                self.cases.button_for(user, lang, ident.sha256), "",
                experts, gr.update(value=scores), sheet, card_md, pairs, sources, sources_md)

    def show_heat(self, sha, request: gr.Request):
        user, lang = enter(self.ctx, request, Permission.IDENTIFY)
        found = self.recent.get(user.name, sha or "")
        if found is None:
            return gr.update(value=None, visible=False)
        ident, path = found
        with user_errors(lang):
            mapper = HeatMapper.for_predictor(self.ctx.predictor())
            label = ident.decision.label or ident.top[0][0]
            image = mapper.explain(path, class_id=label, name=ident.name).overlay(size=448)
        name = namer(self.ctx.catalogue(), lang)(label)
        return gr.update(value=image, visible=True, alt_text=t(
            "app.identify.heatmap.alt", lang, photo=ident.name, name=name))


def build_identify_tab(ctx, texts: Texts) -> IdentifyHandlers:
    """Lay out the tab and wire its events to an `IdentifyHandlers`, returned for tests."""
    h = IdentifyHandlers(ctx)
    texts.value(gr.Markdown(), "app.identify.intro")
    with gr.Row():
        # No file_types filter: Gradio's would refuse a whole selection over one PDF; the
        # server reads every file and lists the ones that are not photos, with a reason.
        files = texts.label(gr.File(file_count="multiple"), "app.identify.files.label")
        camera = texts.label(photo_input(sources=["upload", "webcam"]), "app.identify.camera.label")
    run = texts.value(gr.Button(variant="primary"), "app.identify.run")
    status = gr.HTML(elem_id=STATUS_ID, elem_classes="identify-status", min_height=24)
    with gr.Column(visible=False, elem_id=VERDICT_ID) as verdict_box:
        selector = texts.label(gr.Dropdown(choices=[], allow_custom_value=True, visible=False),
                               "app.identify.select.label")
        verdict = gr.HTML()
        with gr.Group() as case_box:
            texts.value(gr.Markdown(), "app.case.heading", markup="### {}")
            with gr.Row():
                shipment = texts.label(gr.Textbox(max_length=200), "app.case.shipment.label",
                                       placeholder="app.case.shipment.placeholder")
                action = texts.choices(
                    gr.Radio(choices=[a.value for a in CaseAction]), "app.case.action.label",
                    option_list("app.case.action.", [a.value for a in CaseAction]))
            note = texts.label(gr.Textbox(lines=2, max_length=10_000), "app.case.note.label")
            case_photos = texts.label(gr.CheckboxGroup(choices=[]), "seizures.identify.photos.label")
            with gr.Accordion(open=False) as seizure_box:  # folded: Save stays in the card on a phone
                seizure_inputs = build_seizure_inputs(texts, lambda lang: catalogue_choices(ctx, lang))
            texts.section(seizure_box, "seizures.form.heading", visible=lambda u: True)
            save = texts.value(gr.Button(variant="primary"), "app.case.save")
            saved = gr.Markdown()
            saved_json = gr.JSON(visible=False)
        texts.section(case_box, None, visible=lambda u: can(u, Permission.LOG_CASE))
    key_panel = KeyPanel(ctx, h.recent)  # "No match? Use the key"
    key_panel.build(texts)
    results = gr.HTML(visible=False)
    downloads = texts.label(gr.File(file_count="multiple", interactive=False, visible=False),
                            "app.identify.downloads.label")
    with gr.Accordion(open=False, visible=False) as sheet_box:
        card = gr.Markdown()
        looks = gr.HTML(visible=False)  # look-alikes side by side (their own heading)
    with gr.Accordion(open=False, visible=False) as expert_box:
        top5 = gr.Label(num_top_classes=5, show_heading=False, show_label=False)
        heat = texts.label(gr.Image(interactive=False, type="pil", visible=False),
                           "app.identify.heatmap.label")
    with gr.Accordion(open=False, visible=False) as sources_box:
        sources = gr.Markdown()
    with gr.Accordion(open=False) as raw_box:
        raw = gr.JSON()
    texts.section(raw_box, "app.identify.json.label", visible=lambda u: True)

    detail_out = [verdict_box, verdict, save, saved, expert_box, top5, sheet_box, card, looks,
                  sources_box, sources]
    run.click(h.identify, [files, camera], [raw], api_name="identify", concurrency_limit=2,
              concurrency_id=CONCURRENCY, show_progress_on=[status]).success(
        h.show_batch, [raw], [status, results, downloads, selector],
        api_visibility="private").success(
        h.cases.case_defaults, [selector, raw], [case_photos, *seizure_inputs],
        api_visibility="private").success(
        h.show_detail, [selector], detail_out, api_visibility="private").success(
        None, js=SCROLL_TO_VERDICT).success(
        h.show_heat, [selector], [heat], api_visibility="private", concurrency_id=CONCURRENCY)
    selector.input(h.show_detail, [selector], detail_out, api_visibility="private").success(
        h.show_heat, [selector], [heat], api_visibility="private", concurrency_id=CONCURRENCY)
    save.click(h.cases.save_case, [selector, shipment, note, action, case_photos, *seizure_inputs],
               [saved, saved_json], api_name="save_case").success(
        h.cases.mark_saved, [saved_json], [save], api_visibility="private")
    # A change means another case: Save is ready again. The photos and seizure fields are
    # also filled in by the page after Identify, so there only the officer's own input
    # counts where the component tells it apart (a date picker does not: its change
    # arrives with the button still ready, which `reopen` leaves alone).
    events = [f.change for f in (shipment, action, note)] + [
        getattr(f, "input", f.change) for f in (case_photos, *seizure_inputs)]
    for event in events:
        event(h.cases.reopen, [save], [save], api_visibility="private", queue=False,
              show_progress="hidden")
    key_panel.wire(selector, shipment, note, action)
    return h
