"""The seizure records ("cases"): what an officer saw, decided and did, the model's
tentative answer, the seizure fields, the photos, and a later expert confirmation.

Each method is one short transaction returning frozen `Case` records. Field values are
checked before the transaction (`serve.records.seizure`); who may do what is the
caller's business (`serve.records.auth`), except that a photo is reviewed only once its
case is confirmed. Exports live in `serve.records.export`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from serve.records.case_schema import (Case, CaseAction, CasePhotoRow, CaseRow, PhotoReview)
from serve.records.checks import (aware, check_json, check_sha256, check_text, like_pattern, now,
                                  parse_action)
from serve.records.database import Database
from serve.records.errors import NotFound
from serve.records.seizure import (ConfirmationMethod, Seizure, parse_country, parse_day,
                                   parse_enum, parse_text)
from serve.records.users import existing_user

MAX_PHOTOS = 50  # per case


@dataclass(frozen=True)
class ReviewItem:
    """A confirmed case's photo waiting for a trainer (the Trainer tab's review queue)."""

    case: Case
    sha256: str

    @property
    def provenance(self) -> str:
        c = self.case.confirmation
        return f"case {self.case.id}, confirmed by {c.confirmed_by}, method {c.method.value}"


def _photos(values: Iterable[str]) -> list[str]:
    """Checked, lower-case, de-duplicated hashes in their order."""
    seen: list[str] = []
    for v in values:
        sha = check_sha256(v)
        if sha not in seen:
            seen.append(sha)
    if len(seen) > MAX_PHOTOS:
        raise ValueError(f"a case holds at most {MAX_PHOTOS} photos, not {len(seen)}; "
                         "split the seizure into several cases")
    return seen


class CaseRecords:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add_case(self, *, officer: str, action: CaseAction | str, label: str, decision: str,
                 prediction: Mapping[str, Any], model_version: str, shipment_ref: str = "",
                 note: str = "", photos: Sequence[str] = (),
                 seizure: Seizure | None = None) -> Case:
        """Log one case; `created_at` is the server's UTC clock, not the caller's. Without a
        seizure date the case takes the day it is logged. `seizure` should come through
        `Seizure.with_commodity` so the catalogue facts are copied in."""
        seizure = seizure or Seizure()
        if not isinstance(seizure, Seizure):
            raise TypeError(f"seizure must be a Seizure (Seizure.parse(...)), not "
                            f"{type(seizure).__name__}")
        created = now()
        row = CaseRow(
            officer=officer, action=parse_action(action), created_at=created,
            label=check_text(label, "label", max_len=200, required=True),
            decision=check_text(decision, "decision", max_len=50, required=True),
            prediction=check_json(dict(prediction), "prediction"),
            model_version=check_text(model_version, "model_version", max_len=100, required=True),
            shipment_ref=check_text(shipment_ref, "shipment_ref", max_len=200),
            note=check_text(note, "note", max_len=10_000))
        row.set_seizure(seizure)
        row.seizure_date = seizure.seizure_date or created.date()
        hashes = _photos(photos)
        with self._db.writing() as s:
            existing_user(s, officer, "officer")
            s.add(row)
            s.flush()
            rows = [CasePhotoRow(case_id=row.id, position=i, sha256=sha,
                                 review=PhotoReview.PENDING, review_note="")
                    for i, sha in enumerate(hashes)]
            s.add_all(rows)
            s.flush()
            return row.record(rows)

    def get_case(self, case_id: int) -> Case | None:
        with self._db.reading() as s:
            row = s.get(CaseRow, _case_id(case_id))
            return None if row is None else self._records(s, [row])[0]

    def update_seizure(self, case_id: int, seizure: Seizure, *, by: str,
                       shipment_ref: str | None = None, note: str | None = None,
                       action: CaseAction | str | None = None) -> Case:
        """Correct a case's seizure fields (and, if given, reference, note, action)."""
        if not isinstance(seizure, Seizure):
            raise TypeError(f"seizure must be a Seizure, not {type(seizure).__name__}")
        by = check_text(by, "by", max_len=64, required=True)
        with self._db.writing() as s:
            row = _existing_case(s, case_id)
            row.set_seizure(seizure)
            row.seizure_date = seizure.seizure_date or row.created_at.date()
            if shipment_ref is not None:
                row.shipment_ref = check_text(shipment_ref, "shipment_ref", max_len=200)
            if note is not None:
                row.note = check_text(note, "note", max_len=10_000)
            if action is not None:
                row.action = parse_action(action)
            row.updated_at, row.updated_by = now(), by
            s.flush()
            return self._records(s, [row])[0]

    def confirm(self, case_id: int, *, entry: str, scientific_name: str | None, by: str,
                method: ConfirmationMethod | str, confirmed_on: date | str,
                reference: str = "") -> Case:
        """Record the expert's or laboratory's identification (replacing an earlier one).
        `entry` must be a catalogue id; the caller copies its scientific name."""
        entry = parse_text(entry, "confirmed entry", 200)
        if not entry:
            raise ValueError("confirmed entry is empty; choose the catalogue entry the expert "
                             "or laboratory identified")
        method = parse_enum(ConfirmationMethod, method, "confirmation method")
        if method is None:
            raise ValueError("confirmation method is empty; choose one of "
                             f"{', '.join(m.value for m in ConfirmationMethod)}")
        day = parse_day(confirmed_on, "confirmation date")
        if day is None:
            raise ValueError("confirmation date is empty; give the day of the result (YYYY-MM-DD)")
        with self._db.writing() as s:
            existing_user(s, by, "user")
            row = _existing_case(s, case_id)
            row.confirmed_entry, row.confirmed_scientific_name = entry, scientific_name
            row.confirmed_by, row.confirmation_method, row.confirmed_on = by, method, day
            row.confirmation_ref = parse_text(reference, "confirmation reference", 200)
            row.confirmed_at = now()
            s.flush()
            return self._records(s, [row])[0]

    def list_cases(self, *, officer: str | None = None, label: str | None = None,
                   action: CaseAction | str | None = None, since: datetime | None = None,
                   until: datetime | None = None, text: str | None = None,
                   country: str | None = None, seized_from: date | None = None,
                   seized_to: date | None = None, confirmed: bool | None = None,
                   limit: int | None = 500) -> list[Case]:
        """Newest first. `since` inclusive, `until` exclusive (logging time); `seized_from`
        and `seized_to` inclusive (seizure date); `country`: where it was seized; `text`: a
        case-insensitive substring of shipment_ref, note, label, officer, place, commodity
        or conveyance; `limit=None` means all."""
        q = select(CaseRow).order_by(CaseRow.created_at.desc(), CaseRow.id.desc())
        if officer is not None:
            q = q.where(CaseRow.officer == officer)
        if label is not None:
            q = q.where(CaseRow.label == label)
        if action is not None:
            q = q.where(CaseRow.action == parse_action(action))
        if since is not None:
            q = q.where(CaseRow.created_at >= aware(since, "since"))
        if until is not None:
            q = q.where(CaseRow.created_at < aware(until, "until"))
        if country:
            q = q.where(CaseRow.country == parse_country(country))
        if seized_from is not None:
            q = q.where(CaseRow.seizure_date >= parse_day(seized_from, "from date"))
        if seized_to is not None:
            q = q.where(CaseRow.seizure_date <= parse_day(seized_to, "to date"))
        if confirmed is not None:
            q = q.where(CaseRow.confirmed_entry.is_not(None) if confirmed
                        else CaseRow.confirmed_entry.is_(None))
        if text:
            p = like_pattern(text)
            q = q.where(or_(*(c.ilike(p, escape="\\") for c in (
                CaseRow.shipment_ref, CaseRow.note, CaseRow.label, CaseRow.officer,
                CaseRow.place, CaseRow.commodity, CaseRow.conveyance_ref))))
        if limit is not None:
            if limit < 1:
                raise ValueError(f"limit={limit}; use a positive number, or None for all")
            q = q.limit(limit)
        with self._db.reading() as s:
            return self._records(s, list(s.scalars(q)))

    # --- the review queue: confirmed photos on their way into the training photos ---------

    def review_queue(self, limit: int = 200) -> list[ReviewItem]:
        """Pending photos of confirmed cases, oldest confirmation first."""
        q = (select(CaseRow, CasePhotoRow.sha256)
             .join(CasePhotoRow, CasePhotoRow.case_id == CaseRow.id)
             .where(CaseRow.confirmed_entry.is_not(None),
                    CasePhotoRow.review == PhotoReview.PENDING)
             .order_by(CaseRow.confirmed_at, CaseRow.id, CasePhotoRow.position).limit(limit))
        with self._db.reading() as s:
            pairs = s.execute(q).all()
            cases = {c.id: c for c in self._records(s, list({r.id: r for r, _ in pairs}.values()))}
            return [ReviewItem(cases[row.id], sha) for row, sha in pairs]

    def review_photo(self, case_id: int, sha256: str, decision: PhotoReview | str, *, by: str,
                     note: str = "") -> Case:
        """Mark a confirmed case's photo accepted or rejected (once; `note`: why, or the
        quality gate's verdict)."""
        decision = parse_enum(PhotoReview, decision, "review decision")
        if decision not in (PhotoReview.ACCEPTED, PhotoReview.REJECTED):
            raise ValueError(f"review decision {decision!r}; choose accepted or rejected")
        sha = check_sha256(sha256)
        with self._db.writing() as s:
            row = _existing_case(s, case_id)
            if row.confirmed_entry is None:
                raise ValueError(f"case {row.id} is not confirmed yet; its photos wait until "
                                 "an expert or laboratory confirms what it is")
            photo = s.scalars(select(CasePhotoRow).where(CasePhotoRow.case_id == row.id,
                                                         CasePhotoRow.sha256 == sha)).first()
            if photo is None:
                raise NotFound(f"case {row.id} has no photo {sha[:12]}…")
            if photo.review != PhotoReview.PENDING:
                raise ValueError(f"photo {sha[:12]}… of case {row.id} was already "
                                 f"{photo.review.value} by {photo.reviewed_by}")
            photo.review, photo.reviewed_by, photo.reviewed_at = decision, by, now()
            photo.review_note = parse_text(note, "review note", 2000)
            s.flush()
            return self._records(s, [row])[0]

    @staticmethod
    def _records(s: Session, rows: list[CaseRow]) -> list[Case]:
        """Cases with their photos (one query for all of them)."""
        ids = [r.id for r in rows]
        photos: dict[int, list[CasePhotoRow]] = {i: [] for i in ids}
        for start in range(0, len(ids), 500):  # bounded IN lists, whatever the export size
            chunk = ids[start:start + 500]
            for p in s.scalars(select(CasePhotoRow).where(CasePhotoRow.case_id.in_(chunk))):
                photos[p.case_id].append(p)
        return [r.record(photos[r.id]) for r in rows]


def _case_id(case_id: Any) -> int:
    if isinstance(case_id, bool) or not isinstance(case_id, int) or case_id < 1:
        raise ValueError(f"case id {case_id!r} is not a case number (a positive whole number)")
    return case_id


def _existing_case(s: Session, case_id: int) -> CaseRow:
    row = s.get(CaseRow, _case_id(case_id))
    if row is None:
        raise NotFound(f"no case {case_id}; check the number in History")
    return row
