"""The Identify tab's save form: an identified batch becomes one seizure record.

Endpoints:
  `case_defaults(sha)` -> the photos of the batch (all ticked) and the seizure inputs'
      defaults: today, the model's answer as the commodity when it identified one, and
      what the officer's last case recorded for place, country, direction, transport,
      detection and concealment.
  `save_case(sha, shipment_ref, note, action, photos, *seizure fields)` -> (text, case)
      The selected photo comes first (its model answer is the case's); the other ticked
      photos follow. Only photos this officer identified in this process are accepted, and
      only with the bytes that were identified; each is stored once by content hash.
      A repeat of the save just made (same officer, photos, shipment, action, note and
      seizure fields within `serve.records.repeats.REPEAT_WINDOW`) answers with the first
      case and stores nothing: a double press or a resent request never makes two cases.

The page shows Save as done ("Saved as case #2", disabled) once the photo is saved, and
enables it again when the officer changes the form: that is how they record a second
case of the same photo on purpose.
"""
from __future__ import annotations

import threading
from pathlib import Path

import gradio as gr

from species_data.images import content_hash

from serve.i18n import t
from serve.identify.decisions import DecisionKind
from serve.records.auth import Permission, can
from serve.records.checks import now
from serve.records.repeats import REPEAT_WINDOW, repeat_of, saved_recently
from serve.ui.common import enter, error, namer, user_errors
from serve.ui.seizure_form import default_inputs, seizure_from_inputs


def line_breaks(text: str) -> str:
    """Windows (CR LF) and old Mac (CR) line breaks as LF; other control characters are
    refused by the store."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


class CaseSaveHandlers:
    """Needs the tab's `Recent` identifications (per user) to find what was identified."""

    def __init__(self, ctx, recent) -> None:
        self.ctx = ctx
        self.recent = recent
        self._lock = threading.Lock()  # the repeat check and the insert, one save at a time

    def _recent_cases(self, officer: str):
        return self.ctx.store.list_cases(officer=officer, since=now() - REPEAT_WINDOW, limit=200)

    def case_defaults(self, sha, batch, request: gr.Request):
        """[photos choice update, *seizure input values] for the batch just identified."""
        user, lang = enter(self.ctx, request, Permission.IDENTIFY)
        results = (batch or {}).get("results", []) if isinstance(batch, dict) else []
        choices = [(r["name"], r["sha256"]) for r in results
                   if self.recent.get(user.name, r["sha256"]) is not None]
        found = self.recent.get(user.name, sha or "")
        commodity = None
        if found is not None and found[0].decision.kind is DecisionKind.IDENTIFIED:
            commodity = found[0].decision.label
        last = self.ctx.store.list_cases(officer=user.name, limit=1)
        values = default_inputs(last[0].seizure if last else None, commodity)
        return [gr.update(choices=choices, value=[s for _, s in choices]), *values]

    # The seizure inputs are named one by one (seizure_form.FIELDS order): Gradio finds
    # `request` only in a named parameter, never behind *args.
    # Defaults of None make them optional for API clients (gradio_client).
    def save_case(self, sha, shipment_ref, note_text, action_value, photos=None,
                  seizure_date=None, place=None, country=None, direction=None,
                  transport_mode=None, conveyance_ref=None, detection_method=None,
                  concealment=None, concealment_detail=None, declared_description=None,
                  commodity=None, quantity=None, unit=None, weight_kg=None,
                  origin_country=None, transit_countries=None, destination_country=None,
                  request: gr.Request = None):
        """Save the identified photo(s) as one seizure record -> (confirmation, case JSON)."""
        user, lang = enter(self.ctx, request, Permission.LOG_CASE)
        if not action_value:
            raise error(lang, "app.error.no_action")
        shas = [sha] + [s for s in (photos or []) if s != sha]
        if len(shas) > 50:
            raise error(lang, "app.error.too_many_files", count=len(shas), limit=50)
        idents, blobs = [], []
        for one in shas:
            found = self.recent.get(user.name, str(one or ""))
            if found is None:
                raise error(lang, "app.error.unknown_photo")
            ident, path = found
            try:
                data = Path(path).read_bytes()
            except OSError:  # the upload was swept from Gradio's cache
                raise error(lang, "app.error.unknown_photo") from None
            if content_hash(data) != ident.sha256:  # not the bytes that were identified
                raise error(lang, "app.error.unknown_photo")
            idents.append(ident)
            blobs.append(data)
        values = [seizure_date, place, country, direction, transport_mode, conveyance_ref,
                  detection_method, concealment, concealment_detail, declared_description,
                  commodity, quantity, unit, weight_kg, origin_country, transit_countries,
                  destination_country]
        shipment, note = shipment_ref or "", line_breaks(note_text or "")
        with user_errors(lang), self._lock:
            seizure = seizure_from_inputs(values, self.ctx.catalogue())
            first = repeat_of(self._recent_cases(user.name), officer=user.name,
                              photos=[i.sha256 for i in idents], shipment_ref=shipment,
                              action=action_value, note=note, seizure=seizure, now=now())
            if first is not None:
                self.ctx.store.audit(user.name, "case.repeat", {"case": first.id})
                return t("app.case.repeat", lang, id=first.id), first.to_dict()
            stored = [self.ctx.photos.put(data) for data in blobs]
            ident = idents[0]
            d = ident.decision
            prediction = dict(ident.to_dict(),
                              probabilities=[[c, p] for c, p in ident.probabilities],
                              original_size=list(ident.original_size))
            case = self.ctx.store.add_case(
                officer=user.name, action=action_value, label=d.label or d.group or "unknown",
                decision=d.kind.value, prediction=prediction, model_version=ident.model_version,
                shipment_ref=shipment, note=note, photos=stored, seizure=seizure)
            self.ctx.store.audit(user.name, "case.add", {"case": case.id, "photos": stored})
        name = namer(self.ctx.catalogue(), lang)(case.label)
        text = t("app.case.saved", lang, id=case.id,
                 action=t(f"app.case.action.{case.action.value}", lang), name=name)
        return text, case.to_dict()

    # --- the Save button's state (page only) -------------------------------------------

    def button_for(self, user, lang: str, sha: str | None) -> dict:
        """Save as done ("Saved as case #N", disabled) when this officer saved this photo a
        moment ago; otherwise ready. Hidden for roles that may not save cases."""
        if not can(user, Permission.LOG_CASE):
            return gr.update(visible=False)
        case = saved_recently(self._recent_cases(user.name), officer=user.name,
                              photo_sha256=sha or "", now=now()) if sha else None
        if case is None:
            return gr.update(value=t("app.case.save", lang), interactive=True)
        return gr.update(value=t("app.case.saved_button", lang, id=case.id), interactive=False)

    def mark_saved(self, case, request: gr.Request):
        """After a save: the button says which case it became and cannot be pressed again."""
        user, lang = enter(self.ctx, request, Permission.LOG_CASE)
        case_id = (case or {}).get("id") if isinstance(case, dict) else None
        if not isinstance(case_id, int):
            return gr.update()
        return gr.update(value=t("app.case.saved_button", lang, id=case_id), interactive=False)

    def reopen(self, label, request: gr.Request):
        """The officer changed the form: Save may make a new case. `label` is the button's
        text now; a button already ready is left alone (redrawing it under the officer's
        finger could swallow a press)."""
        user, lang = enter(self.ctx, request, Permission.LOG_CASE)
        ready = t("app.case.save", lang)
        if label == ready:
            return gr.skip()
        return gr.update(value=ready, interactive=True)

