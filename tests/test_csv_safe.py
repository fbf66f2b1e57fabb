"""The one CSV formula guard (`serve.csv_safe`) and the exports that must use it."""
from __future__ import annotations

import csv
import io

import pytest

from serve.csv_safe import csv_text, is_formula_like, safe_cell

FORMULAS = [
    "=1+1", "+1", "-2", "@SUM(A1)", "\t=1", "\r=1", "\n=1",
    " =HYPERLINK(\"http://x\")",     # leading blank (the gap issue 14 found)
    "\n\n=cmd|' /C calc'!A0",         # leading newlines
    "\u3000=1",                      # ideographic space
    "\u200b=1", "\ufeff=1",          # zero-width space, byte-order mark
    "\uff1d1+1",                     # full-width equals sign
    "\ufe661+1",                     # small equals sign
    "\uff0bcmd", "\uff0d1", "\uff20SUM(A1)",  # full-width + - @
]
SAFE = ["", "tiger", "AWB-777-001", "1-2", "a = b", "0.75", "Panthera tigris", "\u00e9l\u00e9phant"]


@pytest.mark.parametrize("text", FORMULAS)
def test_formula_like_cells_are_prefixed(text):
    assert is_formula_like(text)
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", SAFE)
def test_ordinary_cells_are_left_alone(text):
    assert not is_formula_like(text)
    assert safe_cell(text) == text


def test_csv_text_round_trips_and_guards_header_and_every_cell():
    text = csv_text(["name", "=head"], [[" =1", 'ok, "quoted"\nline'], [None, 3]])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["name", "'=head"], ["' =1", 'ok, "quoted"\nline'], ["", "3"]]


def test_every_csv_writer_uses_the_one_guard():
    """The identify tab, the case export, the batch command and the cohort report."""
    from types import SimpleNamespace

    from serve.identify.batch import Row, to_csv
    from serve.ui.cohort import cohort_csv
    from serve.ui.results import results_csv

    evil = "\uff1dHYPERLINK(1)"
    assert "'" + evil in to_csv([Row(evil)])
    assert "'" + evil in results_csv([], [{"name": evil, "reason": " =1"}], "en")
    assert "' =1" in results_csv([], [{"name": "a.jpg", "reason": " =1"}], "en")
    report = SimpleNamespace(per_class=[], confused=[], trainees=[(evil, 1, 2)], below=[])
    assert "'" + evil in cohort_csv(report, str)


def test_case_export_guards_leading_blanks(tmp_path):
    from serve.records.export import cases_csv
    from serve.records.store import Store

    store = Store.open(f"sqlite:///{tmp_path / 'r.db'}", bcrypt_rounds=4)
    store.add_user("olga", "officer", "a-long-enough-password-1")
    store.add_case(officer="olga", action="detained", label="tiger", decision="identified",
                   prediction={}, model_version="v1", shipment_ref="\n=cmd", note="\uff1d1")
    rows = list(csv.DictReader(io.StringIO(cases_csv(store.list_cases(), lambda e: None))))
    assert rows[0]["shipment_ref"] == "'\n=cmd" and rows[0]["note"] == "'\uff1d1"
    store.close()
