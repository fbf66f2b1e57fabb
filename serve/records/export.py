"""Seizure records out: CSV for spreadsheets, JSON for programs. One row per case, the
columns of `docs/seizure_schema.md` in its order, plus `model_outcome`: how the model's
tentative answer compares with the confirmed identity (empty until confirmed).

CSV cells that a spreadsheet would run as a formula are prefixed with ' so they show as
text (`serve.csv_safe`, the one guard every CSV writer uses); lists are joined with ";".
JSON keeps every value as it is (lists as lists, the prediction as an object).
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable

from serve.csv_safe import csv_text
from serve.records.case_schema import Case
from serve.records.seizure import outcome

GroupOf = Callable[[str], "str | None"]  # catalogue entry id -> its group id

COLUMNS = (
    "id", "created_at", "updated_at", "updated_by", "officer", "shipment_ref", "action",
    "seizure_date", "place", "country", "direction", "transport_mode", "conveyance_ref",
    "concealment", "concealment_detail", "declared_description", "detection_method",
    "commodity", "scientific_name", "cites_appendix", "quantity", "unit", "weight_kg",
    "origin_country", "transit_countries", "destination_country", "photos",
    "model_version", "label", "decision", "prediction", "confirmed_entry",
    "confirmed_scientific_name", "confirmed_by", "confirmation_method", "confirmed_on",
    "confirmation_reference", "confirmation_recorded_at", "model_outcome", "note",
)


def case_row(case: Case, group_of: GroupOf) -> dict[str, Any]:
    """The case as one flat JSON-ready mapping with `COLUMNS` as keys."""
    d = case.to_dict()
    c = case.confirmation
    d["model_outcome"] = None if c is None else outcome(case.decision, case.label, c.entry,
                                                        group_of).value
    return {k: d[k] for k in COLUMNS}


def _flat(value: Any) -> Any:
    """Lists joined with ";", the prediction as compact JSON text."""
    if isinstance(value, list):
        return ";".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


def cases_csv(cases: Iterable[Case], group_of: GroupOf) -> str:
    rows = ([_flat(row[c]) for c in COLUMNS] for row in (case_row(k, group_of) for k in cases))
    return csv_text(COLUMNS, rows)


def cases_json(cases: Iterable[Case], group_of: GroupOf) -> str:
    return json.dumps([case_row(c, group_of) for c in cases], ensure_ascii=False, indent=2)
