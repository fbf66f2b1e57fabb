"""The records store: round-trips, SQLite durability settings, quiz rules, audit guard,
concurrency. Every test that is not about SQLite itself runs on SQLite and, in the
`postgres` tier, on a real PostgreSQL server (the `db_url` fixture)."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from serve.records.auth import PermissionDenied, Role
from serve.records.export import cases_csv, cases_json
from serve.records.store import (AlreadyAnswered, AlreadyExists, CaseAction, NotFound,
                           QuizClosed, QuizQuestionSpec, Store, User)

ROOT = Path(__file__).resolve().parents[1]
PW = "correct horse battery"


@pytest.fixture
def url(db_url):
    return db_url


@pytest.fixture
def sqlite_store(tmp_path):
    with Store.open(f"sqlite:///{tmp_path}/records.db", bcrypt_rounds=4) as s:
        yield s


@pytest.fixture
def store(url):
    s = Store.open(url, bcrypt_rounds=4)
    s.add_user("ana", Role.OFFICER, PW)
    s.add_user("tina", Role.TRAINEE, PW)
    s.add_user("tom", Role.TRAINEE, PW)
    yield s
    s.close()


def _case(store, **kw):
    args = dict(officer="ana", action="detained", label="Python regius", decision="confident",
                prediction={"top_k": [["Python regius", 0.91], ["Python bivittatus", 0.05]],
                            "group": "reptiles"}, model_version="m-2024.1")
    return store.add_case(**{**args, **kw})


# --- the facade -----------------------------------------------------------------------

def test_the_store_offers_every_public_method_of_its_parts(store):
    from serve.records.audit import AuditRecords
    from serve.records.cases import CaseRecords
    from serve.records.photos import PhotoRecords
    from serve.records.quiz import QuizRecords
    from serve.records.users import UserRecords

    for attr, part in (("users", UserRecords), ("cases", CaseRecords), ("quizzes", QuizRecords),
                       ("photos", PhotoRecords), ("trail", AuditRecords)):
        for name, member in vars(part).items():
            if not name.startswith("_") and callable(member):
                assert getattr(store, name) == getattr(getattr(store, attr), name), name


# --- engine settings ------------------------------------------------------------------

def test_sqlite_runs_wal_full_sync_foreign_keys_and_busy_timeout(sqlite_store):
    with sqlite_store.engine.connect() as conn:
        pragma = {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar()
                  for p in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")}
    assert pragma == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1,
                      "busy_timeout": 30000}


def test_in_memory_sqlite_is_refused_with_advice():
    with pytest.raises(ValueError, match="in-memory.*sqlite:///"):
        Store.open("sqlite://")


def test_newer_schema_is_refused(url, store):
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE schema_info SET value = '99' WHERE key = 'version'")
    with pytest.raises(RuntimeError, match="schema version 99.*upgrade"):
        Store.open(url)


def test_data_survives_reopen(url, store):
    _case(store)
    store.close()
    with Store.open(url) as again:
        assert len(again.list_cases()) == 1 and again.get_user("ana").role is Role.OFFICER


def test_acknowledged_case_survives_sigkill(url, store):
    script = ("import os, signal, sys; from serve.records.store import Store; "
              "s = Store.open(sys.argv[1]); "
              "c = s.add_case(officer='ana', action='referred', label='Testudo graeca', "
              "decision='uncertain', prediction={}, model_version='m'); "
              "print(c.id, flush=True); os.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", script, url], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    case_id = int(proc.stdout.split()[0])
    assert [c.id for c in store.list_cases(label="Testudo graeca")] == [case_id]


# --- users ----------------------------------------------------------------------------

def test_user_round_trip_and_records_are_frozen(store):
    ana = store.get_user("ana")
    assert type(ana) is User and ana.role is Role.OFFICER and ana.language == "en"
    assert ana.created_at.tzinfo is timezone.utc and not ana.weak_password
    assert not hasattr(ana, "password_hash")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ana.role = Role.ADMIN  # type: ignore[misc]
    assert [u.name for u in store.list_users()] == ["ana", "tina", "tom"]
    assert store.get_user("nobody") is None


def test_authenticate(store):
    assert store.authenticate("ana", PW) == store.get_user("ana")
    assert store.authenticate("ana", PW + "x") is None
    assert store.authenticate("nobody", PW) is None
    assert store.authenticate("ana", "") is None
    store.set_password("ana", "another long one")
    assert store.authenticate("ana", PW) is None
    assert store.authenticate("ana", "another long one") is not None


def test_duplicate_and_invalid_users_are_named(store):
    with pytest.raises(AlreadyExists, match="'ana'"):
        store.add_user("ana", "trainer", PW)
    with pytest.raises(ValueError, match="'captain'"):
        store.add_user("bob", "captain", PW)
    with pytest.raises(ValueError, match="'bad name'"):
        store.add_user("bad name", "officer", PW)
    with pytest.raises(ValueError, match="'english'"):
        store.set_language("ana", "english")
    with pytest.raises(NotFound, match="'ghost'"):
        store.set_password("ghost", PW)


def test_language_and_weak_admin_flag(store):
    assert store.set_language("tina", "pt").language == "pt"
    assert store.get_user("tina").language == "pt"
    assert not store.admin_password_is_default_or_empty()
    store.add_user("root", "admin", "changeme")
    assert store.get_user("root").weak_password and store.admin_password_is_default_or_empty()
    store.set_password("root", "Tr4de-Watch!2031")
    assert not store.admin_password_is_default_or_empty()


# --- cases ----------------------------------------------------------------------------

def test_case_round_trip(store):
    case = _case(store, shipment_ref="AWB 176-1234", note="in false bottom",
                 photos=["AB" * 32, "cd" * 32, "ab" * 32])
    got = store.list_cases()[0]
    assert got == case and got.action is CaseAction.DETAINED
    assert got.prediction["top_k"][0] == ["Python regius", 0.91]
    assert got.photo_hashes == ("ab" * 32, "cd" * 32)  # lower case, each once, in order
    assert got.created_at.tzinfo is timezone.utc


def test_case_filters(store):
    _case(store, action="released", label="Testudo graeca", note="legal, CITES II permit ok")
    _case(store, shipment_ref="100%_genuine")
    store.add_user("bo", "officer", PW)
    _case(store, officer="bo", action="referred")
    assert len(store.list_cases()) == 3
    assert [c.officer for c in store.list_cases(officer="bo")] == ["bo"]
    assert [c.label for c in store.list_cases(action=CaseAction.RELEASED)] == ["Testudo graeca"]
    assert len(store.list_cases(label="Python regius")) == 2
    assert len(store.list_cases(text="cites ii")) == 1        # case-insensitive
    assert len(store.list_cases(text="0%_g")) == 1            # % and _ are literal
    assert store.list_cases(text="0%xg") == []
    assert len(store.list_cases(limit=2)) == 2
    future = datetime.now(timezone.utc) + timedelta(minutes=1)
    assert store.list_cases(since=future) == [] and len(store.list_cases(until=future)) == 3
    with pytest.raises(ValueError, match="timezone-aware"):
        store.list_cases(since=datetime.now())


def test_bad_case_input_is_named(store):
    with pytest.raises(ValueError, match="'seized'.*released, detained, referred"):
        _case(store, action="seized")
    with pytest.raises(NotFound, match="officer named 'ghost'"):
        _case(store, officer="ghost")
    with pytest.raises(ValueError, match="prediction is not JSON"):
        _case(store, prediction={"p": {1, 2}})
    with pytest.raises(ValueError, match="SHA-256"):
        _case(store, photos=["../../etc/passwd"])
    assert store.list_cases() == []


def test_csv_export_neutralises_formulas_and_json_export_round_trips(store):
    _case(store, shipment_ref="=HYPERLINK(\"http://x\")", note="line1\nline2, with comma")
    no_groups = lambda entry: None  # noqa: E731
    rows = list(csv.DictReader(io.StringIO(cases_csv(store.list_cases(), no_groups))))
    assert len(rows) == 1
    assert rows[0]["shipment_ref"] == "'=HYPERLINK(\"http://x\")"
    assert rows[0]["note"] == "line1\nline2, with comma"
    assert json.loads(rows[0]["prediction"])["group"] == "reptiles"
    data = json.loads(cases_json(store.list_cases(officer="ana"), no_groups))
    assert data[0]["shipment_ref"] == "=HYPERLINK(\"http://x\")" and data[0]["action"] == "detained"
    assert json.loads(cases_json(store.list_cases(officer="nobody"), no_groups)) == []


def test_twenty_threads_writing_cases_all_land(store):
    threads, per_thread, errors = 20, 5, []
    barrier = threading.Barrier(threads)

    def work(n):
        try:
            barrier.wait()
            for i in range(per_thread):
                _case(store, shipment_ref=f"T{n}-{i}")
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    refs = [c.shipment_ref for c in store.list_cases(limit=None)]
    assert sorted(refs) == sorted(f"T{n}-{i}" for n in range(threads) for i in range(per_thread))
    if store.db.dialect == "sqlite":
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


# --- quiz -----------------------------------------------------------------------------

def _quiz(store, trainee="tina"):
    specs = [QuizQuestionSpec({"photo": "a" * 64, "choices": ["py_regius", "py_bivittatus"]},
                              "py_regius"),
             QuizQuestionSpec({"photo": "b" * 64}, "released", class_id="testudo_graeca")]
    return store.start_quiz(trainee, {"name": "reptiles-1"}, specs)


def test_quiz_round_trip_never_exposes_answers(store):
    quiz = _quiz(store)
    assert quiz.length == 2 and quiz.syllabus == {"name": "reptiles-1"}
    assert [q.position for q in quiz.questions] == [0, 1]
    assert all(not hasattr(q, "answer") and "py_regius" != q.public.get("answer")
               for q in quiz.questions)
    q0, q1 = quiz.questions
    right = store.record_answer(q0.id, session_id=quiz.id, trainee="tina", chosen="py_regius")
    wrong = store.record_answer(q1.id, session_id=quiz.id, trainee="tina", chosen="detained")
    assert right.correct and not wrong.correct and wrong.expected == "released"
    assert right.class_id == "py_regius" and wrong.class_id == "testudo_graeca"
    assert all(q.answered for q in store.get_quiz(quiz.id).questions)
    assert store.answers_for("tina") == [right, wrong]
    assert store.answers_for("tom") == []


def test_answering_twice_is_refused(store):
    quiz = _quiz(store)
    q = quiz.questions[0]
    store.record_answer(q.id, session_id=quiz.id, trainee="tina", chosen="py_bivittatus")
    with pytest.raises(AlreadyAnswered, match=f"question {q.id}"):
        store.record_answer(q.id, session_id=quiz.id, trainee="tina", chosen="py_regius")
    assert [a.correct for a in store.answers_for("tina")] == [False]


def test_unique_answer_constraint_backs_up_the_answered_flag(store):
    quiz = _quiz(store)
    q = quiz.questions[0]
    store.record_answer(q.id, session_id=quiz.id, trainee="tina", chosen="py_regius")
    with store.engine.begin() as conn:  # simulate a lost flag / racing writer
        conn.exec_driver_sql("UPDATE quiz_questions SET answered = false")
    with pytest.raises(AlreadyAnswered):
        store.record_answer(q.id, session_id=quiz.id, trainee="tina", chosen="py_bivittatus")
    assert len(store.answers_for("tina")) == 1


def test_answering_for_another_trainee_or_session_is_refused(store):
    mine, theirs = _quiz(store, "tina"), _quiz(store, "tom")
    with pytest.raises(PermissionDenied, match="belongs to 'tina'.*'tom'"):
        store.record_answer(mine.questions[0].id, session_id=mine.id, trainee="tom",
                            chosen="py_regius")
    with pytest.raises(PermissionDenied, match=f"belongs to quiz {theirs.id}"):
        store.record_answer(theirs.questions[0].id, session_id=mine.id, trainee="tina",
                            chosen="py_regius")
    with pytest.raises(NotFound):
        store.record_answer(10_000, session_id=mine.id, trainee="tina", chosen="x")
    assert store.cohort_answers() == []


def test_finished_quiz_takes_no_answers_and_cohort_sees_all(store):
    a, b = _quiz(store, "tina"), _quiz(store, "tom")
    store.record_answer(b.questions[0].id, session_id=b.id, trainee="tom", chosen="py_regius")
    with pytest.raises(PermissionDenied):
        store.finish_quiz(a.id, "tom")
    finished = store.finish_quiz(a.id, "tina")
    assert finished.finished_at is not None
    assert store.finish_quiz(a.id, "tina").finished_at == finished.finished_at
    with pytest.raises(QuizClosed, match="start a new one"):
        store.record_answer(a.questions[0].id, session_id=a.id, trainee="tina", chosen="x")
    assert [x.trainee for x in store.cohort_answers()] == ["tom"]
    assert [q.id for q in store.quizzes_of("tina")] == [a.id]


# --- memory, certificates, audit ------------------------------------------------------

def test_memory_upsert(store):
    assert store.get_memory("tina", "py_regius") is None
    store.put_memory("tina", "py_regius", json.dumps({"ease": 2.5}))
    store.put_memory("tina", "py_regius", json.dumps({"ease": 2.6}))
    store.put_memory("tina", "testudo", "{}")
    assert json.loads(store.get_memory("tina", "py_regius")) == {"ease": 2.6}
    assert store.memory_of("tina") == {"py_regius": '{"ease": 2.6}', "testudo": "{}"}
    assert store.memory_of("tom") == {}
    with pytest.raises(ValueError, match="not JSON text"):
        store.put_memory("tina", "x", "{ease: 2}")
    with pytest.raises(NotFound):
        store.put_memory("ghost", "x", "{}")


def test_certificate_round_trip(store):
    cert = store.issue_certificate("tina", "reptiles-1", {"correct": 18, "of": 20})
    assert store.get_certificate(cert.id) == cert and cert.score == {"correct": 18, "of": 20}
    assert store.certificates_of("tina") == [cert] and store.certificates_of("tom") == []


def test_audit_log_is_append_only(store):
    first = store.audit("ana", "case.add", {"case": 1})
    store.audit("root", "photo.remove", {"sha": "ab" * 32})
    assert [e.action for e in store.audit_log()] == ["photo.remove", "case.add"]
    assert store.audit_log(who="ana") == [first]
    for sql in ("UPDATE audit_log SET who = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            with store.engine.begin() as conn:
                conn.exec_driver_sql(sql)
    assert len(store.audit_log()) == 2 and store.audit_log(who="ana") == [first]
    assert not hasattr(store, "delete_audit") and not hasattr(store, "update_audit")


# --- photos ---------------------------------------------------------------------------

def _photo(store, sha_char, phash, class_id="py_regius"):
    return store.add_photo(sha256=sha_char * 64, class_id=class_id, ext="jpg", width=640,
                           height=480, phash=phash, uploader="tr", source="seizure",
                           licence="CC-BY-4.0", credit="Seizure ref 2024/17")


def test_photo_metadata_round_trip_and_soft_delete(store):
    p = _photo(store, "a", "ffff0000ffff0000")
    _photo(store, "b", "0000ffff0000ffff", class_id="testudo")
    assert store.get_photo("a" * 64) == p and p.credit == "Seizure ref 2024/17"
    assert store.photos_of("py_regius") == [p]
    with pytest.raises(AlreadyExists, match="'py_regius'"):
        _photo(store, "a", "ffff0000ffff0000", class_id="testudo")
    gone = store.remove_photo("a" * 64, by="tr", reason="blurred")
    assert gone.removed and gone.removed_by == "tr" and gone.removed_reason == "blurred"
    assert store.photos_of("py_regius") == []
    assert store.photos_of("py_regius", include_removed=True) == [gone]
    assert len(store.all_photos()) == 1
    with pytest.raises(ValueError, match="reason is empty"):
        store.remove_photo("b" * 64, by="tr", reason=" ")
    assert not store.restore_photo("a" * 64, by="tr").removed
    with pytest.raises(NotFound):
        store.remove_photo("c" * 64, by="tr", reason="x")


def test_find_by_phash_returns_near_duplicates_closest_first(store):
    _photo(store, "a", "ffff0000ffff0000")
    _photo(store, "b", "ffff0000ffff0003")   # 2 bits away
    _photo(store, "c", "0000ffff0000ffff")   # 64 bits away
    _photo(store, "d", "ffff0000ffff0001")   # 1 bit away, then removed
    store.remove_photo("d" * 64, by="tr", reason="dup")
    found = store.find_by_phash("FFFF0000FFFF0000", max_distance=4)
    assert [(m.photo.sha256[0], m.distance) for m in found] == [("a", 0), ("b", 2)]
    with_removed = store.find_by_phash("ffff0000ffff0000", max_distance=4, include_removed=True)
    assert [m.photo.sha256[0] for m in with_removed] == ["a", "d", "b"]
    with pytest.raises(ValueError, match="'zz'"):
        store.find_by_phash("zz")
