"""History's case panel: open one case, correct its seizure fields, record a confirmation.

Handlers (each checks the caller on the server first):
  `case_open(case_id)`      -> case summary, the seizure inputs' values, confirmation
  `case_update(case_id, *seizure inputs)` -> confirmation text   (the officer who logged
                             it, or a trainer/admin: `auth.may_edit_case`)
  `case_confirm(case_id, entry, method, date, reference)` -> text (trainers and admins)

A confirmation puts the case's photos in the Trainer tab's review queue; nothing reaches
the training photos until a trainer accepts them there.
"""
from __future__ import annotations

from typing import Any

import gradio as gr

from serve.i18n import t
from serve.records.auth import Permission, can, may_edit_case
from serve.records.case_schema import Case
from serve.records.seizure import outcome
from serve.ui.common import enter, error, namer, user_errors
from serve.ui.seizure_form import inputs_from_seizure, seizure_from_inputs


def parse_case_id(value: Any, lang: str) -> int:
    """A case number typed by a person or sent through the API."""
    text = str(value if value is not None else "").strip().lstrip("#")
    if not text.isdigit() or int(text) < 1:
        raise error(lang, "seizures.error.case_id", value=str(value)[:40])
    return int(text)


def case_summary(case: Case, catalogue, lang: str) -> str:
    """Markdown: the case, the model's tentative answer, and the confirmation if any, with a
    warning where the two differ."""
    name_of = namer(catalogue, lang)
    lines = [t("seizures.case.summary", lang, id=case.id, officer=case.officer,
               day=case.day.isoformat(), answer=name_of(case.label), decision=case.decision)]
    c = case.confirmation
    if c is None:
        lines.append(t("seizures.case.unconfirmed", lang))
    else:
        lines.append(t("seizures.case.confirmed", lang, name=name_of(c.entry), who=c.confirmed_by,
                       method=t(f"seizures.confirmation_method.{c.method.value}", lang),
                       day=c.confirmed_on.isoformat(), reference=c.reference or "–"))
        result = outcome(case.decision, case.label, c.entry,
                         lambda e: getattr(catalogue.get(e), "group", None))
        lines.append(("⚠️ **" if result.value == "wrong" else "") +
                     t(f"seizures.outcome.{result.value}", lang) +
                     ("**" if result.value == "wrong" else ""))
    return "\n\n".join(lines)


class CaseEditHandlers:
    def __init__(self, ctx) -> None:
        self.ctx = ctx

    def _case(self, user, case_id: Any, lang: str) -> Case:
        """The case, if this user may see it (officers: their own)."""
        number = parse_case_id(case_id, lang)
        case = self.ctx.store.get_case(number)
        if case is None or (case.officer != user.name
                            and not can(user, Permission.VIEW_ALL_CASES)):
            raise error(lang, "seizures.error.no_case", id=number)  # same words: no probing
        return case

    def case_open(self, case_id, request: gr.Request):
        """The case's summary, its seizure values (for the edit form) and confirmation."""
        user, lang = enter(self.ctx, request, Permission.VIEW_OWN_CASES,
                           Permission.VIEW_ALL_CASES)
        case = self._case(user, case_id, lang)
        catalogue = self.ctx.catalogue()
        return [case_summary(case, catalogue, lang), *inputs_from_seizure(case.seizure)]

    # The seizure inputs are named one by one (FIELDS order): Gradio finds `request` only
    # in a named parameter, never behind *args.
    def case_update(self, case_id, seizure_date, place, country, direction, transport_mode,
                    conveyance_ref, detection_method, concealment, concealment_detail,
                    declared_description, commodity, quantity, unit, weight_kg, origin_country,
                    transit_countries, destination_country, request: gr.Request):
        """Save corrected seizure fields; the officer who logged it, or a trainer/admin."""
        values = [seizure_date, place, country, direction, transport_mode, conveyance_ref,
                  detection_method, concealment, concealment_detail, declared_description,
                  commodity, quantity, unit, weight_kg, origin_country, transit_countries,
                  destination_country]
        user, lang = enter(self.ctx, request, Permission.VIEW_OWN_CASES,
                           Permission.VIEW_ALL_CASES)
        case = self._case(user, case_id, lang)
        if not may_edit_case(user, case.officer):
            raise error(lang, "seizures.error.not_yours", id=case.id)
        with user_errors(lang):
            seizure = seizure_from_inputs(values, self.ctx.catalogue())
            updated = self.ctx.store.update_seizure(case.id, seizure, by=user.name)
            self.ctx.store.audit(user.name, "case.update", {"case": case.id})
        return t("seizures.case.updated", lang, id=updated.id)

    def case_confirm(self, case_id, entry, method, confirmed_on, reference,
                     request: gr.Request):
        """Record the expert's or laboratory's identification (trainers and admins)."""
        user, lang = enter(self.ctx, request, Permission.CONFIRM_CASES)
        case = self._case(user, case_id, lang)
        catalogue = self.ctx.catalogue()
        found = catalogue.get(entry or "")
        if found is None:
            raise error(lang, "seizures.error.unknown_entry", entry=str(entry or "")[:80])
        with user_errors(lang):
            confirmed = self.ctx.store.confirm(
                case.id, entry=found.id, scientific_name=found.scientific_name, by=user.name,
                method=method, confirmed_on=confirmed_on, reference=reference or "")
            self.ctx.store.audit(user.name, "case.confirm", {
                "case": case.id, "entry": found.id, "method": confirmed.confirmation.method.value,
                "photos": len(confirmed.photos)})
        return case_summary(confirmed, catalogue, lang)
