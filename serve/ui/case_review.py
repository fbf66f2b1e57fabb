"""The Trainer tab's queue of confirmed case photos: how seized horn, scales, fins and
skins that no public photo set shows become training photos.

A photo enters the queue when an expert or laboratory confirms its case (History). A
trainer sees it with its provenance ("case N, confirmed by X, method Y") and accepts or
rejects it. Accepting runs the same quality gate as an upload (decodes, big enough, not a
duplicate of a known photo); a photo that passes becomes a training photo of the
confirmed class in the photo records, so the next quick update uses it. A photo the gate
refuses is marked rejected with the gate's verdict. Every decision is audited.

Handlers: `review_queue()`, `review_accept(case_id, sha)`, `review_reject(case_id, sha,
reason)`; each needs UPLOAD_PHOTOS (trainers, admins).
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from species_data.ingest import admit

from serve.i18n import t
from serve.photo_intake import Provenance, recorder
from serve.records.auth import Permission
from serve.records.case_schema import PhotoReview
from serve.ui.case_edit import parse_case_id
from serve.ui.common import enter, error, namer, thumbnail, user_errors
from serve.ui.trainer_views import verdict_text

LICENCE = "seizure evidence (agency use)"


class CaseReviewHandlers:
    """`gate()` builds the quality gate with what the photo records and the published
    model already hold (the Trainer tab's own `TrainerHandlers.quality_gate`)."""

    def __init__(self, ctx, gate) -> None:
        self.ctx = ctx
        self.gate = gate

    def review_queue(self, request: gr.Request):
        """(gallery of thumbnails with provenance, table rows, [[case, sha], ...] in order)."""
        user, lang = enter(self.ctx, request, Permission.UPLOAD_PHOTOS)
        name_of = namer(self.ctx.catalogue(), lang)
        gallery, rows, keys = [], [], []
        for item in self.ctx.store.review_queue():
            c = item.case.confirmation
            provenance = t("seizures.review.provenance", lang, case=item.case.id,
                           who=c.confirmed_by,
                           method=t(f"seizures.confirmation_method.{c.method.value}", lang))
            path = self.ctx.photos.find(item.sha256)
            if path is not None:
                gallery.append((thumbnail(str(path), 240), f"{provenance} · {name_of(c.entry)}"))
            rows.append([item.case.id, name_of(c.entry), name_of(item.case.label), provenance,
                         item.sha256])
            keys.append([item.case.id, item.sha256])
        if not rows:
            gr.Info(t("seizures.review.empty", lang))
        return gallery, rows, keys

    def review_accept(self, case_id, sha, request: gr.Request):
        """Quality-gate the photo into the training photos under the confirmed class."""
        user, lang = enter(self.ctx, request, Permission.UPLOAD_PHOTOS)
        case, sha = self._pending(case_id, sha, lang)
        entry = case.confirmation.entry
        if entry not in self.ctx.catalogue():
            raise error(lang, "seizures.error.unknown_entry", entry=entry)
        path = self.ctx.photos.find(sha)
        if path is None:
            raise error(lang, "seizures.review.missing", sha=sha[:12])
        data = Path(path).read_bytes()
        c = case.confirmation
        provenance = Provenance(user.name, f"case {case.id}", LICENCE,
                                f"case {case.id}, confirmed by {c.confirmed_by}, method {c.method.value}")
        # the upload's own path: quality gate, photo store, record (False when someone got there first)
        (verdict,) = admit([(f"case-{case.id}-{sha[:12]}", data)], entry, self.gate(), self.ctx.photos,
                           recorder(self.ctx.store, entry, provenance))
        accepted = verdict.accepted
        why = "" if accepted else verdict_text(verdict.code.value, verdict.message_params(), lang)
        with user_errors(lang):
            self.ctx.store.review_photo(
                case.id, sha, PhotoReview.ACCEPTED if accepted else PhotoReview.REJECTED,
                by=user.name, note="" if accepted else f"quality gate: {verdict.code.value}")
        self.ctx.store.audit(user.name, "case_photo.review", {
            "case": case.id, "sha256": sha, "class_id": entry, "accepted": accepted,
            "verdict": verdict.code.value})
        if accepted:
            return t("seizures.review.accepted", lang, sha=sha[:12], name=entry, case=case.id)
        return t("seizures.review.gate_refused", lang, sha=sha[:12], why=why)

    def review_reject(self, case_id, sha, reason, request: gr.Request):
        user, lang = enter(self.ctx, request, Permission.UPLOAD_PHOTOS)
        if not (reason or "").strip():
            raise error(lang, "seizures.review.reason_needed")
        case, sha = self._pending(case_id, sha, lang)
        with user_errors(lang):
            self.ctx.store.review_photo(case.id, sha, PhotoReview.REJECTED, by=user.name,
                                        note=reason.strip())
        self.ctx.store.audit(user.name, "case_photo.review", {
            "case": case.id, "sha256": sha, "accepted": False, "reason": reason.strip()})
        return t("seizures.review.rejected", lang, sha=sha[:12], case=case.id)

    def review_select(self, keys: list, evt: gr.SelectData, request: gr.Request):
        """The (case, photo) of the gallery item or table row clicked."""
        enter(self.ctx, request, Permission.UPLOAD_PHOTOS)
        index = evt.index if isinstance(evt.index, int) else (evt.index or [0])[0]
        if not keys or not 0 <= index < len(keys):
            return "", ""
        return keys[index][0], keys[index][1]

    def _pending(self, case_id, sha, lang: str):
        number = parse_case_id(case_id, lang)
        sha = str(sha or "").strip().lower()
        case = self.ctx.store.get_case(number)
        if case is None:
            raise error(lang, "seizures.error.no_case", id=number)
        if case.confirmation is None:
            raise error(lang, "seizures.review.not_confirmed", id=number)
        if sha not in case.photo_hashes:
            raise error(lang, "seizures.review.not_in_case", sha=sha[:12], id=number)
        return case, sha
