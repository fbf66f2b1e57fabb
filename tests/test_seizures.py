"""Seizure records: the fields and their checks (pure), the version 1 -> 2 migration of a
real version-1 database, editing, confirmation, the photo review queue and the exports.
Database tests run on SQLite and, in the `postgres` tier, on PostgreSQL."""
from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect
from sqlalchemy.exc import DBAPIError

from serve.records.auth import Role, hash_password
from serve.records.export import COLUMNS, cases_csv, cases_json
from serve.records.schema import SCHEMA_VERSION, PhotoReview
from serve.records.seizure import (Concealment, ConfirmationMethod, Direction, Outcome, Seizure,
                                   outcome, parse_country)
from serve.records.store import NotFound, Store
from species_data import PACKAGED_DIR, load_catalogue

FIXTURES = Path(__file__).parent / "fixtures"
PW = "correct horse battery"
SHA = {c: c * 64 for c in "abcdef"}


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue(PACKAGED_DIR)


def group_of(catalogue):
    return lambda entry_id: getattr(catalogue.get(entry_id), "group", None)


# --- the fields (pure) ----------------------------------------------------------------------

FULL = {"seizure_date": "2025-03-14", "place": "JKIA cargo terminal", "country": "ke",
        "direction": "export", "transport_mode": "air", "conveyance_ref": "KQ 310",
        "concealment": "mixed_with_goods", "concealment_detail": "under dried fish",
        "declared_description": "dried fish maw", "commodity": "pangolin_scales",
        "quantity": "120", "unit": "kg", "weight_kg": 121.5, "origin_country": "NG",
        "transit_countries": "ET, AE", "destination_country": "VN",
        "detection_method": "xray_scanner"}


def test_a_full_seizure_parses_into_typed_values(catalogue):
    s = Seizure.parse(FULL).with_commodity(catalogue)
    assert s.seizure_date == date(2025, 3, 14) and s.country == "KE"
    assert s.direction is Direction.EXPORT and s.concealment is Concealment.MIXED_WITH_GOODS
    assert (s.quantity, s.unit.value, s.weight_kg) == (120.0, "kg", 121.5)
    assert s.transit_countries == ("ET", "AE") and s.destination_country == "VN"
    assert (s.scientific_name, s.cites_appendix) == ("Manidae spp.", "I")  # from the catalogue
    assert Seizure.parse(s.to_dict()) == s  # round-trips through plain values


@pytest.mark.parametrize("field, value, message", [
    ("direction", "inbound", "direction 'inbound' is not one of: import, export, transit"),
    ("transport_mode", "ship", "'ship' is not one of: air, sea, road, rail, postal, courier"),
    ("concealment", "bag", "concealment 'bag' is not one of: not_concealed, baggage"),
    ("unit", "tonnes", "unit 'tonnes' is not one of: pieces, kg, g, litres"),
    ("detection_method", "dog", "'dog' is not one of: routine, risk_profile"),
    ("country", "UK", "'UK' is not an ISO 3166-1 alpha-2 .*did you mean 'GB'"),
    ("origin_country", "France", "origin_country 'France' .*did you mean 'FR'"),
    ("destination_country", "ZZ", "'ZZ' is not an ISO 3166-1 alpha-2 country code; use"),
    ("transit_countries", "ET, XX", "transit_countries 'XX'"),
    ("weight_kg", -3, "weight_kg -3 must be a number from 0"),
    ("quantity", "a dozen", "quantity 'a dozen' is not a number"),
    ("seizure_date", "14/03/2025", "seizure_date '14/03/2025' is not a date; write YYYY-MM-DD"),
    ("seizure_date", (date.today() + timedelta(days=5)).isoformat(), "in the future"),
    ("colour", "red", "unknown seizure field.*'colour'"),
])
def test_every_bad_value_is_named_with_the_choices(field, value, message):
    values = {"quantity": 1, "unit": "pieces", field: value}
    with pytest.raises(ValueError, match=message):
        Seizure.parse(values)


def test_quantity_needs_a_unit_and_commodity_must_be_in_the_catalogue(catalogue):
    with pytest.raises(ValueError, match="quantity 3 has no unit"):
        Seizure.parse({"quantity": 3})
    with pytest.raises(ValueError, match="commodity 'unicorn_horn' is not a catalogue entry"):
        Seizure.parse({"commodity": "unicorn_horn"}).with_commodity(catalogue)
    assert parse_country(" vn ") == "VN" and parse_country("") is None


def test_outcome_compares_the_model_with_the_confirmation(catalogue):
    g = group_of(catalogue)
    pangolin_group = catalogue.get("pangolin_scales").group
    assert outcome("identified", "pangolin_scales", "pangolin_scales", g) is Outcome.AGREED
    assert outcome("identified", "fish_maw", "pangolin_scales", g) is Outcome.WRONG
    assert outcome("group", pangolin_group, "pangolin_scales", g) is Outcome.GROUP_AGREED
    assert outcome("group", "no_such_group", "pangolin_scales", g) is Outcome.WRONG
    assert outcome("unknown", "unknown", "pangolin_scales", g) is Outcome.NO_ANSWER


# --- the migration of a real version-1 database ---------------------------------------------

V1_ROWS = [
    "INSERT INTO users (name, role, password_hash, weak_password, language, created_at) "
    "VALUES ('ana', 'officer', '{pw}', false, 'en', '2024-03-01 09:00:00')",
    "INSERT INTO users (name, role, password_hash, weak_password, language, created_at) "
    "VALUES ('tina', 'trainee', '{pw}', false, 'fr', '2024-03-01 09:05:00')",
    "INSERT INTO cases (created_at, officer, shipment_ref, note, action, photo_sha256, "
    "model_version, prediction, label, decision) VALUES ('2024-03-02 10:00:00', 'ana', "
    "'AWB 176-1', 'in a false bottom', 'detained', '{a}', 'v1', "
    "'{{\"top\": [[\"pangolin_scales\", 0.93]]}}', 'pangolin_scales', 'identified')",
    "INSERT INTO cases (created_at, officer, shipment_ref, note, action, photo_sha256, "
    "model_version, prediction, label, decision) VALUES ('2024-04-05 23:30:00', 'ana', "
    "'=cmd', '', 'released', NULL, 'v1', '{{}}', 'unknown', 'unknown')",
    "INSERT INTO quiz_sessions (trainee, syllabus, length, started_at) "
    "VALUES ('tina', '\"all\"', 1, '2024-03-03 08:00:00')",
    "INSERT INTO quiz_questions (session_id, position, public, answer, class_id, answered) "
    "VALUES (1, 0, '{{}}', 'elephant', 'elephant', true)",
    "INSERT INTO quiz_answers (question_id, trainee, chosen, correct, class_id, answered_at) "
    "VALUES (1, 'tina', 'elephant', true, 'elephant', '2024-03-03 08:01:00')",
    "INSERT INTO audit_log (at, who, action, detail) "
    "VALUES ('2024-03-02 10:00:01', 'ana', 'case.add', '{{\"case\": 1}}')",
    "INSERT INTO photos (sha256, class_id, ext, width, height, phash, source, licence, credit, "
    "uploader, added_at, removed) VALUES ('{b}', 'elephant', 'jpg', 640, 480, 'ff00', 's', "
    "'CC0', '', 'tr', '2024-03-01 12:00:00', false)",
]


def build_v1(url: str) -> None:
    """A version-1 database: the schema exactly as version 1 created it, and rows as the
    version-1 program wrote them."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    script = (FIXTURES / f"records_v1.{engine.dialect.name}.sql").read_text()
    pw = hash_password(PW, 4)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.connection.dbapi_connection.executescript(script)
        else:
            conn.exec_driver_sql(script)
        for sql in V1_ROWS:
            conn.exec_driver_sql(sql.format(pw=pw, a=SHA["a"], b=SHA["b"]))
    engine.dispose()


def _columns(engine, table):
    return {c["name"]: (str(c["type"]), c["nullable"]) for c in inspect(engine).get_columns(table)}


def test_a_version_1_database_migrates_with_nothing_lost(db_url, tmp_path, catalogue):
    build_v1(db_url)
    with Store.open(db_url, bcrypt_rounds=4) as store:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT value FROM schema_info").scalar() == "2"
        old, quiet = sorted(store.list_cases(), key=lambda c: c.id)
        assert (old.officer, old.shipment_ref, old.note, old.action.value, old.label) == (
            "ana", "AWB 176-1", "in a false bottom", "detained", "pangolin_scales")
        assert old.prediction == {"top": [["pangolin_scales", 0.93]]}
        assert old.photo_hashes == (SHA["a"],) and quiet.photo_hashes == ()
        assert old.seizure.seizure_date == date(2024, 3, 2)  # the day it was logged
        assert quiet.seizure.seizure_date == date(2024, 4, 5) and quiet.confirmation is None
        assert store.authenticate("ana", PW) is not None
        assert [a.chosen for a in store.answers_for("tina")] == ["elephant"]
        assert store.get_photo(SHA["b"]).class_id == "elephant"
        assert [e.action for e in store.audit_log()] == ["case.add"]
        # the old cases export, by seizure date too
        rows = list(csv.DictReader(io.StringIO(cases_csv(store.list_cases(
            seized_from=date(2024, 3, 1), seized_to=date(2024, 3, 31)), group_of(catalogue)))))
        assert [(r["id"], r["shipment_ref"], r["photos"]) for r in rows] == [
            (str(old.id), "AWB 176-1", SHA["a"])]
        data = json.loads(cases_json(store.list_cases(), group_of(catalogue)))
        assert {d["shipment_ref"] for d in data} == {"AWB 176-1", "=cmd"}
        # what version 2 adds works on the migrated database
        store.add_user("ida", Role.ANALYST, PW)
        store.add_case(officer="ana", action="referred", label="x", decision="unknown",
                       prediction={}, model_version="v2", photos=[SHA["c"]],
                       seizure=Seizure.parse(FULL).with_commodity(catalogue))
        with pytest.raises(DBAPIError, match="append-only"):
            with store.engine.begin() as conn:
                conn.exec_driver_sql("DELETE FROM audit_log")
    with Store.open(db_url) as again:  # a second start changes nothing
        assert len(again.list_cases()) == 3
    # the migrated schema is the schema a new database gets
    fresh_url = (f"sqlite:///{tmp_path}/fresh.db" if db_url.startswith("sqlite")
                 else _sibling_database(db_url))
    Store.open(fresh_url).close()
    migrated, fresh = (create_engine(u.replace("postgresql://", "postgresql+psycopg://"))
                       for u in (db_url, fresh_url))
    for table in ("users", "cases", "case_photos"):
        assert _columns(migrated, table) == _columns(fresh, table), table
        assert ({i["name"] for i in inspect(migrated).get_indexes(table)}
                == {i["name"] for i in inspect(fresh).get_indexes(table)}), table
    migrated.dispose(), fresh.dispose()


def _sibling_database(url: str) -> str:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"),
                           isolation_level="AUTOCOMMIT")
    name = engine.url.database + "_fresh"
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return url.rsplit("/", 1)[0] + "/" + name


def test_a_newer_program_refuses_nothing_and_an_older_one_is_refused(db_url):
    Store.open(db_url).close()
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE schema_info SET value = '{SCHEMA_VERSION + 1}'")
    engine.dispose()
    with pytest.raises(RuntimeError, match=f"schema version {SCHEMA_VERSION + 1}, newer"):
        Store.open(db_url)


# --- editing, confirming, reviewing, exporting ----------------------------------------------

@pytest.fixture
def store(db_url):
    s = Store.open(db_url, bcrypt_rounds=4)
    for name, role in (("ana", "officer"), ("bo", "officer"), ("tr", "trainer"),
                       ("ida", "analyst")):
        s.add_user(name, role, PW)
    yield s
    s.close()


def _case(store, catalogue, officer="ana", photos=("a", "b"), label="fish_maw",
          decision="identified", **fields):
    return store.add_case(officer=officer, action="detained", label=label, decision=decision,
                          prediction={"top": [[label, 0.8]]}, model_version="v1",
                          photos=[SHA[p] for p in photos],
                          seizure=Seizure.parse({**FULL, **fields}).with_commodity(catalogue))


def test_seizure_fields_round_trip_and_can_be_corrected(store, catalogue):
    case = _case(store, catalogue)
    assert store.get_case(case.id) == case and case.seizure.country == "KE"
    fixed = store.update_seizure(case.id, Seizure.parse({**FULL, "country": "TZ",
                                                          "place": "Dar es Salaam port"}),
                                 by="ana", note="corrected the port")
    assert fixed.seizure.country == "TZ" and fixed.note == "corrected the port"
    assert fixed.updated_by == "ana" and fixed.updated_at is not None
    assert fixed.photo_hashes == case.photo_hashes and fixed.created_at == case.created_at
    with pytest.raises(NotFound, match="no case 999"):
        store.update_seizure(999, Seizure(), by="ana")
    with pytest.raises(ValueError, match="'1; DROP TABLE cases' is not a case number"):
        store.get_case("1; DROP TABLE cases")


def test_confirmation_and_the_review_queue(store, catalogue):
    wrong = _case(store, catalogue, label="fish_maw")
    right = _case(store, catalogue, photos=("c",), label="pangolin_scales")
    _case(store, catalogue, photos=("d",))  # never confirmed: its photo never queues
    assert store.review_queue() == []
    with pytest.raises(ValueError, match="not confirmed yet"):
        store.review_photo(wrong.id, SHA["a"], "accepted", by="tr")
    with pytest.raises(ValueError, match="confirmation method 'x-ray'"):
        store.confirm(wrong.id, entry="pangolin_scales", scientific_name="Manidae spp.",
                      by="tr", method="x-ray", confirmed_on="2025-04-01")
    done = store.confirm(wrong.id, entry="pangolin_scales", scientific_name="Manidae spp.",
                         by="tr", method="dna", confirmed_on="2025-04-01", reference="LAB-17")
    store.confirm(right.id, entry="pangolin_scales", scientific_name="Manidae spp.", by="tr",
                  method=ConfirmationMethod.MORPHOLOGY, confirmed_on=date(2025, 4, 2))
    c = done.confirmation
    assert (c.entry, c.confirmed_by, c.method, c.confirmed_on, c.reference) == (
        "pangolin_scales", "tr", ConfirmationMethod.DNA, date(2025, 4, 1), "LAB-17")
    queue = store.review_queue()
    assert [(i.case.id, i.sha256) for i in queue] == [
        (wrong.id, SHA["a"]), (wrong.id, SHA["b"]), (right.id, SHA["c"])]
    assert queue[0].provenance == f"case {wrong.id}, confirmed by tr, method dna"
    store.review_photo(wrong.id, SHA["a"], PhotoReview.ACCEPTED, by="tr")
    store.review_photo(wrong.id, SHA["b"].upper(), "rejected", by="tr", note="blurred")
    with pytest.raises(ValueError, match="already accepted by tr"):
        store.review_photo(wrong.id, SHA["a"], "rejected", by="tr")
    assert [i.sha256 for i in store.review_queue()] == [SHA["c"]]
    reviewed = store.get_case(wrong.id).photos
    assert [(p.review, p.review_note) for p in reviewed] == [
        (PhotoReview.ACCEPTED, ""), (PhotoReview.REJECTED, "blurred")]
    assert [x.id for x in store.list_cases(confirmed=True)] == [right.id, wrong.id]


def test_export_filters_columns_and_outcomes(store, catalogue):
    kenya = _case(store, catalogue, label="fish_maw")
    _case(store, catalogue, officer="bo", country="VN", seizure_date="2025-01-02")
    store.confirm(kenya.id, entry="pangolin_scales", scientific_name="Manidae spp.", by="tr",
                  method="dna", confirmed_on="2025-04-01")
    rows = list(csv.DictReader(io.StringIO(cases_csv(
        store.list_cases(country="ke", limit=None), group_of(catalogue)))))
    assert list(rows[0]) == list(COLUMNS) and len(rows) == 1
    r = rows[0]
    assert (r["country"], r["commodity"], r["scientific_name"], r["cites_appendix"]) == (
        "KE", "pangolin_scales", "Manidae spp.", "I")
    assert r["transit_countries"] == "ET;AE" and r["photos"] == f"{SHA['a']};{SHA['b']}"
    assert (r["confirmed_entry"], r["model_outcome"]) == ("pangolin_scales", "wrong")
    by_date = store.list_cases(seized_from=date(2025, 1, 1), seized_to=date(2025, 1, 31))
    assert [c.officer for c in by_date] == ["bo"]
    data = json.loads(cases_json(store.list_cases(officer="bo"), group_of(catalogue)))
    assert data[0]["transit_countries"] == ["ET", "AE"] and data[0]["model_outcome"] is None
    with pytest.raises(ValueError, match="'Kenya' is not an ISO"):
        store.list_cases(country="Kenya")


def test_the_schema_document_defines_every_exported_column_in_order():
    import re

    from serve.records import seizure

    text = (Path(__file__).parents[1] / "docs" / "seizure_schema.md").read_text()
    documented = re.findall(r"^\| `(\w+)` \|", text, flags=re.M)
    assert tuple(documented) == COLUMNS
    for enum in (seizure.Direction, seizure.TransportMode, seizure.Concealment, seizure.Unit,
                 seizure.DetectionMethod, seizure.ConfirmationMethod, seizure.Outcome):
        line = next(l for l in text.splitlines() if f"`{next(iter(enum)).value}`" in l)
        assert all(f"`{m.value}`" in line for m in enum), enum.__name__
