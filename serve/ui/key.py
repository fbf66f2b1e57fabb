"""The identification key in the Identify tab: "No match? Use the key".

Why: the model only knows the classes it has photos of; horn, scales, timber and most
products it has never seen. The key (pure logic in `serve.identify.key`) narrows the whole
catalogue down by what the officer sees, and can start from the selected photo's model
scores.

    panel = KeyPanel(ctx, recent)          # `recent`: the Identify tab's identifications
    panel.build(texts)                     # the accordion, inside the tab's layout
    panel.wire(selector, shipment, note, action)   # events, once the case fields exist

Endpoints (stateless, typed): `identify_key` (photo sha or "", answers [{attribute,
value}] -> the next question or the short list, in the user's language) and
`save_key_case` (the same plus the chosen entry and the case fields -> a case whose
prediction JSON carries the key's path). In the page, the answers so far live in a
per-session `gr.State` on the server. Every step recomputes the key from the answers, so
no caller can hand the server a short list of its own.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import gradio as gr

from species_data.images import content_hash
from species_data.key import Attribute

from serve.i18n import t
from serve.records.seizure import Seizure
from serve.identify.key import Key, KeyState, parse_answers
from serve.identify.species_card import appendix_text
from serve.records.auth import Permission
from serve.ui.common import Texts, enter, error, namer, user_errors

CANT_TELL = "cant_tell"  # the radio value of "can't tell" (an answer value of None)
NO_MODEL = "none"  # model_version of a case identified by the key alone


# --- what the officer reads (pure: state in, text out) ----------------------------------------

def value_label(attribute: Attribute, value: Any, lang: str) -> str:
    if value is None:
        return t("key.cant_tell", lang)
    return t(f"key.value.{attribute.value}.{value.value}", lang)


def path_text(state: KeyState, lang: str) -> str:
    return " · ".join(f"{t(f'key.question.{a.attribute.value}', lang)} {value_label(a.attribute, a.value, lang)}"
                      for a in state.answers)


def question_markdown(state: KeyState, lang: str, used_photo: bool) -> str:
    lines = [t("key.from_photo" if used_photo else "key.no_photo", lang)]
    if state.answers:
        lines.append(t("key.path", lang, path=path_text(state, lang)))
    if state.question is not None:
        lines.append(f"**{t('key.progress', lang, number=len(state.answers) + 1, remaining=len(state.remaining))}**")
        lines.append(f"### {t(f'key.question.{state.question.attribute.value}', lang)}")
    elif not state.remaining:
        lines.append(f"**{t('key.none', lang)}**")
    else:
        lines.append(f"### {t('key.done', lang)}")
        if len(state.remaining) > len(state.short_list):
            lines.append(t("key.more", lang, count=len(state.remaining) - len(state.short_list)))
    return "\n\n".join(lines)


def answer_choices(state: KeyState, lang: str) -> list[tuple[str, str]]:
    q = state.question
    if q is None:
        return []
    return [(t("key.option", lang, label=value_label(q.attribute, o.value, lang), count=o.entries), o.value.value)
            for o in q.options] + [(t("key.cant_tell", lang), CANT_TELL)]


def short_list_html(state: KeyState, catalogue, lang: str) -> str:
    """The short-listed entries side by side: name, CITES status, cues, and how each is told
    apart from the others on the list."""
    if not state.finished or not state.short_list:
        return ""
    entries = [catalogue[i] for i in state.short_list]
    name_of = namer(catalogue, lang)
    cells = []
    for e in entries:
        sci = f"<br><i>{html.escape(e.scientific_name)}</i>" if e.scientific_name else ""
        cues = "".join(f"<li>{html.escape(c)}</li>" for c in e.cues_in(lang).value)
        apart = "".join(
            f"<li>{html.escape(t('key.list.apart', lang, name=name_of(o.id), cue=la.cue_in(lang).value))}</li>"
            for o in entries if o.id != e.id for la in [e.lookalike(o.id)] if la is not None)
        cells.append(
            f'<td data-entry="{html.escape(e.id)}" style="vertical-align:top;padding:0.5em">'
            f"<b>{html.escape(e.common_name(lang))}</b>{sci}"
            f"<p>{html.escape(t('key.list.cites', lang))}: {html.escape(appendix_text(e, lang))}</p>"
            f"<p>{html.escape(t('key.list.cues', lang))}:</p><ul>{cues}</ul>"
            + (f"<ul>{apart}</ul>" if apart else "") + "</td>")
    return f'<table class="key-short-list" style="width:100%"><tr>{"".join(cells)}</tr></table>'


def state_dict(state: KeyState, catalogue, lang: str, used_photo: bool) -> dict[str, Any]:
    """The API's answer: the key's state with every word in the user's language."""
    out = state.to_dict()
    out.update(used_photo=used_photo, remaining_count=len(state.remaining),
               path=[{**a.to_dict(), "text": value_label(a.attribute, a.value, lang)} for a in state.answers])
    if state.question is not None:
        out["question"]["text"] = t(f"key.question.{state.question.attribute.value}", lang)
        for option in out["question"]["options"]:
            option["label"] = t(f"key.value.{state.question.attribute.value}.{option['value']}", lang)
    out["short_list"] = [{"id": e.id, "name": e.common_name(lang), "scientific_name": e.scientific_name,
                          "appendix": e.appendix.value, "appendix_text": appendix_text(e, lang),
                          "cues": list(e.cues_in(lang).value)}
                         for e in (catalogue[i] for i in state.short_list)]
    return out


# --- the panel -----------------------------------------------------------------------------

class KeyPanel:
    def __init__(self, ctx, recent) -> None:
        self.ctx = ctx
        self.recent = recent  # serve.ui.identify.Recent: (user, sha) -> (Identification, path)

    def _identification(self, user, sha: str | None, use_photo: bool):
        found = self.recent.get(user.name, sha) if use_photo and sha else None
        return found if found is not None else (None, None)

    def _state(self, user, lang: str, sha: str | None, use_photo: bool, answers) -> tuple[KeyState, bool]:
        ident, _ = self._identification(user, sha, use_photo)
        probabilities = dict(ident.probabilities) if ident is not None else None
        with user_errors(lang):
            state = Key.from_catalogue(self.ctx.catalogue(), probabilities).state(parse_answers(answers))
        return state, ident is not None

    def _view(self, state: KeyState, lang: str, used_photo: bool):
        catalogue = self.ctx.catalogue()
        choices = answer_choices(state, lang)
        names = [(catalogue[i].common_name(lang), i) for i in state.short_list]
        return ([a.to_dict() for a in state.answers], question_markdown(state, lang, used_photo),
                gr.update(choices=choices, value=None, visible=bool(choices)),
                short_list_html(state, catalogue, lang),
                gr.update(choices=names, value=names[0][1] if names else None, visible=bool(names)))

    # --- handlers (each checks the caller's role first) -------------------------------------
    def start(self, sha: str, use_photo: bool, request: gr.Request):
        """A fresh key: the first question."""
        user, lang = enter(self.ctx, request, Permission.IDENTIFY)
        state, used = self._state(user, lang, sha, use_photo, [])
        return self._view(state, lang, used)

    def answer(self, sha: str, use_photo: bool, answers: list, value: str | None, request: gr.Request):
        """Record the answer to the current question ("can't tell" included)."""
        user, lang = enter(self.ctx, request, Permission.IDENTIFY)
        state, _ = self._state(user, lang, sha, use_photo, answers)
        if state.question is None:  # finished already: nothing to answer
            return self._view(state, lang, self._identification(user, sha, use_photo)[0] is not None)
        if not value:
            raise error(lang, "key.need_answer")
        step = {"attribute": state.question.attribute.value, "value": None if value == CANT_TELL else value}
        state, used = self._state(user, lang, sha, use_photo, [*(answers or []), step])
        return self._view(state, lang, used)

    def back(self, sha: str, use_photo: bool, answers: list, request: gr.Request):
        """Undo the last answer."""
        user, lang = enter(self.ctx, request, Permission.IDENTIFY)
        state, used = self._state(user, lang, sha, use_photo, list(answers or [])[:-1])
        return self._view(state, lang, used)

    def api(self, photo_sha: str, answers: list[dict[str, Any]], request: gr.Request) -> dict[str, Any]:
        """The key's next question, or its short list, after `answers` ([{attribute, value}],
        value null = can't tell). With the sha of a photo this user identified, the model's
        scores weight the entries it knows."""
        user, lang = enter(self.ctx, request, Permission.IDENTIFY)
        state, used = self._state(user, lang, photo_sha or None, True, answers)
        return state_dict(state, self.ctx.catalogue(), lang, used)

    def save(self, sha: str, use_photo: bool, answers: list, chosen: str, shipment_ref: str, note: str,
             action: str, request: gr.Request):
        """The accordion's save button -> (confirmation, case as JSON)."""
        user, lang = enter(self.ctx, request, Permission.LOG_CASE)
        case = self._save(user, lang, sha, use_photo, answers, chosen, shipment_ref, note, action)
        return self._saved_text(case, lang), case.to_dict()

    def api_save(self, photo_sha: str, answers: list[dict[str, Any]], chosen: str, shipment_ref: str,
                 note: str, action: str, request: gr.Request) -> dict[str, Any]:
        """Save a case for `chosen` (one of the key's short list after `answers`), with the key's
        path in the case's prediction JSON and the identified photo `photo_sha` (or "")."""
        user, lang = enter(self.ctx, request, Permission.LOG_CASE)
        case = self._save(user, lang, photo_sha or None, True, answers, chosen, shipment_ref, note, action)
        return {"message": self._saved_text(case, lang), "case": case.to_dict()}

    def _saved_text(self, case, lang: str) -> str:
        return t("key.saved", lang, id=case.id, action=t(f"app.case.action.{case.action.value}", lang),
                 name=namer(self.ctx.catalogue(), lang)(case.label))

    def _save(self, user, lang: str, sha: str | None, use_photo: bool, answers, chosen: str,
              shipment_ref: str, note: str, action: str):
        """A case for the short-listed entry the officer chose, with the key's path in the case's
        prediction JSON (and the photo, when the key started from one)."""
        if not action:
            raise error(lang, "app.error.no_action")
        state, used = self._state(user, lang, sha, use_photo, answers)
        if not state.finished or chosen not in state.short_list:
            raise error(lang, "key.error.not_in_list")
        record = {"answers": [a.to_dict() for a in state.answers], "short_list": list(state.short_list),
                  "chosen": chosen, "remaining": len(state.remaining), "used_photo": used,
                  "catalogue_version": self.ctx.catalogue().version}
        ident, path = self._identification(user, sha, use_photo)
        prediction: dict[str, Any] = {"key": record}
        photo_sha, model_version = None, NO_MODEL
        if ident is not None:
            photo_sha = self._store_photo(ident, path, lang)
            prediction.update(ident.to_dict(), probabilities=[[c, p] for c, p in ident.probabilities])
            model_version = ident.model_version
        with user_errors(lang):
            case = self.ctx.store.add_case(
                officer=user.name, action=action, label=chosen, decision="key", prediction=prediction,
                model_version=model_version, shipment_ref=shipment_ref or "", note=note or "",
                photos=[photo_sha] if photo_sha else [],
                seizure=Seizure(commodity=chosen).with_commodity(self.ctx.catalogue()))
            self.ctx.store.audit(user.name, "case.add", {"case": case.id, "photo": photo_sha, "key": True})
        return case

    def _store_photo(self, ident, path, lang: str) -> str:
        """The identified upload into the photo store, if it is still the bytes identified."""
        try:
            data = Path(path).read_bytes()
        except OSError:  # swept from Gradio's cache
            raise error(lang, "app.error.unknown_photo") from None
        if content_hash(data) != ident.sha256:
            raise error(lang, "app.error.unknown_photo")
        with user_errors(lang):
            return self.ctx.photos.put(data)

    # --- layout --------------------------------------------------------------------------
    def build(self, texts: Texts) -> None:
        """The accordion; place it in the tab where it should appear."""
        with gr.Accordion(open=False) as box:
            texts.value(gr.Markdown(), "key.intro")
            self.use_photo = texts.label(gr.Checkbox(value=True), "key.use_photo")
            self.start_btn = texts.value(gr.Button(), "key.start")
            self.question = gr.Markdown()
            self.choice = texts.label(gr.Radio(choices=[], visible=False), "key.answer.label")
            with gr.Row():
                self.answer_btn = texts.value(gr.Button(variant="primary"), "key.answer")
                self.back_btn = texts.value(gr.Button(), "key.back")
            self.short = gr.HTML()
            self.chosen = texts.label(gr.Radio(choices=[], visible=False), "key.choose")
            self.save_btn = texts.value(gr.Button(), "key.save", visible_if=Permission.LOG_CASE)
            self.saved = gr.Markdown()
            self.saved_json = gr.JSON(visible=False)
            self.answers = gr.State([])
        texts.section(box, "key.accordion", visible=lambda user: True)

    def wire(self, selector, shipment, note, action) -> None:
        """Events; `selector` is the tab's selected photo, the others its case fields."""
        view = [self.answers, self.question, self.choice, self.short, self.chosen]
        self.start_btn.click(self.start, [selector, self.use_photo], view, api_visibility="private")
        self.answer_btn.click(self.answer, [selector, self.use_photo, self.answers, self.choice], view,
                              api_visibility="private")
        self.back_btn.click(self.back, [selector, self.use_photo, self.answers], view, api_visibility="private")
        self.save_btn.click(self.save, [selector, self.use_photo, self.answers, self.chosen, shipment, note,
                                        action], [self.saved, self.saved_json], api_visibility="private")
        gr.api(self.api, api_name="identify_key")
        gr.api(self.api_save, api_name="save_key_case")
