"""The case log: what an officer saw, decided and did, with the model's tentative answer.

Each method is one short transaction returning frozen `Case` records; exports are
CSV (formula-like cells neutralised for spreadsheets) and JSON (values unaltered).
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import or_, select

from serve.csv_safe import csv_text

from serve.records.checks import (aware, check_json, check_sha256, check_text, like_pattern, now,
                                  parse_action)
from serve.records.database import Database
from serve.records.schema import Case, CaseAction, CaseRow
from serve.records.users import existing_user

CASE_CSV_COLUMNS = ("id", "created_at", "officer", "shipment_ref", "action", "label",
                    "decision", "model_version", "photo_sha256", "note", "prediction")


class CaseRecords:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add_case(self, *, officer: str, action: CaseAction | str, label: str, decision: str,
                 prediction: Mapping[str, Any], model_version: str, shipment_ref: str = "",
                 note: str = "", photo_sha256: str | None = None) -> Case:
        """Log one case; `created_at` is the server's UTC clock, not the caller's."""
        row = CaseRow(
            officer=officer, action=parse_action(action), created_at=now(),
            label=check_text(label, "label", max_len=200, required=True),
            decision=check_text(decision, "decision", max_len=50, required=True),
            prediction=check_json(dict(prediction), "prediction"),
            model_version=check_text(model_version, "model_version", max_len=100, required=True),
            shipment_ref=check_text(shipment_ref, "shipment_ref", max_len=200),
            note=check_text(note, "note", max_len=10_000),
            photo_sha256=None if photo_sha256 is None else check_sha256(photo_sha256))
        with self._db.writing() as s:
            existing_user(s, officer, "officer")
            s.add(row)
            s.flush()
            return row.record()

    def list_cases(self, *, officer: str | None = None, label: str | None = None,
                   action: CaseAction | str | None = None, since: datetime | None = None,
                   until: datetime | None = None, text: str | None = None,
                   limit: int | None = 500) -> list[Case]:
        """Newest first. `since` inclusive, `until` exclusive; `text` is a case-insensitive
        substring of shipment_ref, note, label or officer; `limit=None` means all."""
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
        if text:
            p = like_pattern(text)
            q = q.where(or_(*(c.ilike(p, escape="\\") for c in (
                CaseRow.shipment_ref, CaseRow.note, CaseRow.label, CaseRow.officer))))
        if limit is not None:
            if limit < 1:
                raise ValueError(f"limit={limit}; use a positive number, or None for all")
            q = q.limit(limit)
        with self._db.reading() as s:
            return [r.record() for r in s.scalars(q)]

    def export_cases_csv(self, **filters: Any) -> str:
        """CSV of `list_cases(**filters)` (default: all cases); formula-like cells are
        prefixed with ' so spreadsheets show them as text."""
        filters.setdefault("limit", None)
        rows = []
        for case in self.list_cases(**filters):
            d = case.to_dict()
            d["prediction"] = json.dumps(case.prediction, ensure_ascii=False, sort_keys=True)
            rows.append([d[c] for c in CASE_CSV_COLUMNS])
        return csv_text(CASE_CSV_COLUMNS, rows)

    def export_cases_json(self, **filters: Any) -> str:
        """JSON array of `list_cases(**filters)` (default: all cases), values unaltered."""
        filters.setdefault("limit", None)
        return json.dumps([c.to_dict() for c in self.list_cases(**filters)],
                          ensure_ascii=False, indent=2)
