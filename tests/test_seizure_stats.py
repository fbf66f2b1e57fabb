"""The analyst tab's numbers, counted from hand-built seizure records (pure, no database)."""
from __future__ import annotations

from datetime import date, datetime, timezone

from serve.records.case_schema import Case, CaseAction
from serve.records.seizure import Confirmation, ConfirmationMethod, Seizure
from serve.records.seizure_stats import (by_commodity_and_month, concealment_methods,
                                         confirmation_outcomes, model_wrong, top_routes)

GROUPS = {"pangolin_scales": "pangolins", "ivory_carving": "ivory", "bone_carving": "ivory"}


def case(n, day, commodity=None, route=(None, None), concealment=None, label="x",
         decision="identified", confirmed=None):
    seizure = Seizure.parse({"seizure_date": day, "commodity": commodity,
                             "origin_country": route[0], "destination_country": route[1],
                             "concealment": concealment})
    confirmation = None if confirmed is None else Confirmation(
        confirmed, None, "tr", ConfirmationMethod.DNA, date(2025, 5, 1), "",
        datetime(2025, 5, n, tzinfo=timezone.utc))
    return Case(n, datetime(2025, 1, 1, tzinfo=timezone.utc), "ana", "", "", CaseAction.DETAINED,
                "v1", {}, label, decision, seizure, (), confirmation, None, None)


CASES = [
    case(1, "2025-01-05", "pangolin_scales", ("NG", "VN"), "mixed_with_goods",
         label="pangolin_scales", confirmed="pangolin_scales"),
    case(2, "2025-01-20", "pangolin_scales", ("NG", "VN"), "container", label="fish_maw",
         confirmed="pangolin_scales"),
    case(3, "2025-02-02", "ivory_carving", ("KE", "CN"), "baggage", label="ivory",
         decision="group", confirmed="bone_carving"),
    case(4, "2025-02-09", None, ("KE", None), None, label="unknown", decision="unknown",
         confirmed="ivory_carving"),
    case(5, "2025-02-10", "ivory_carving", ("NG", "VN"), "baggage"),
]


def test_seizures_by_commodity_and_month():
    table = by_commodity_and_month(CASES, top=2)
    assert table.rows == (("2025-01", "pangolin_scales", 2), ("2025-02", "ivory_carving", 2),
                          ("2025-02", "others", 1))
    assert table.total() == len(CASES)


def test_routes_need_both_ends_and_are_ranked():
    assert top_routes(CASES).rows == (("NG", "VN", 3), ("KE", "CN", 1))


def test_concealment_methods_count_the_unrecorded_too():
    assert concealment_methods(CASES).rows == (
        ("baggage", 2), ("container", 1), ("mixed_with_goods", 1), ("unrecorded", 1))


def test_confirmation_outcomes_and_the_cases_the_model_got_wrong():
    group_of = GROUPS.get
    assert dict(confirmation_outcomes(CASES, group_of).rows) == {
        "agreed": 1, "wrong": 1, "group_agreed": 1, "no_answer": 1, "unconfirmed": 1}
    assert [c.id for c in model_wrong(CASES, group_of)] == [2]
