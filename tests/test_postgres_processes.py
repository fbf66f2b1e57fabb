"""Several app processes on one PostgreSQL database, and a PostgreSQL server that dies
mid-write (`postgres` tier: a real server from scripts/postgres_throwaway.sh)."""
from __future__ import annotations

import threading
import time

import pytest

from serve.records.errors import DatabaseUnavailable
from serve.records.store import Store

pytestmark = pytest.mark.postgres


@pytest.mark.app
def test_two_processes_keep_every_answer_and_case(postgres_server, model_bundle, photos_root):
    """Two `python -m serve` on one database; 20 trainees answer quizzes and 4 officers save
    cases through both (user i talks to process i mod 2)."""
    from bench import load_test

    url = postgres_server.new_database()
    result = load_test.main(["--db", url, "--processes", "2", "--users", "24",
                             "--officers", str(4 / 24), "--seconds", "20",
                             "--bundle", str(model_bundle), "--photos", str(photos_root)])
    assert result.errors == 0, result.line()
    assert result.answers_sent > 0 and result.answers_sent == result.answers_stored
    assert result.cases_saved > 0 and result.cases_saved == result.cases_stored
    # answers arrived through both processes (trainee j talked to process j mod 2)
    with Store.open(url) as store:
        per_process = [sum(len(store.answers_for(f"trainee{j:03d}")) for j in range(p, 20, 2))
                       for p in (0, 1)]
    assert all(n > 0 for n in per_process), per_process


def test_server_killed_during_writes_then_restarted(postgres_server):
    url = postgres_server.new_database()
    store = Store.open(url, bcrypt_rounds=4, busy_timeout_s=3)
    store.add_user("ana", "officer", "correct horse battery")
    acknowledged, refused, stop = [], [], threading.Event()

    def officer(n: int) -> None:
        for i in range(100_000):
            if stop.is_set():
                return
            try:
                case = store.add_case(officer="ana", action="detained", label="x",
                                      decision="unknown", prediction={}, model_version="m",
                                      shipment_ref=f"W{n}-{i}")
                acknowledged.append(case.shipment_ref)
            except DatabaseUnavailable as exc:
                refused.append(str(exc))
                time.sleep(0.05)

    writers = [threading.Thread(target=officer, args=(n,)) for n in range(4)]
    for w in writers:
        w.start()
    try:
        while len(acknowledged) < 50:
            time.sleep(0.05)
        postgres_server.kill()  # SIGKILL, in the middle of the writers' transactions
        down_since = len(refused)
        time.sleep(1.5)
        assert len(refused) > down_since, "writes while the server is down must be refused"
        assert "did not answer" in refused[-1] and "Try again in a moment" in refused[-1]
        with pytest.raises(DatabaseUnavailable, match="did not answer.*Try again in a moment"):
            store.list_cases()  # reads too: a clear error, not a traceback
        postgres_server.restart()
        before = len(acknowledged)
        deadline = time.monotonic() + 30
        while len(acknowledged) < before + 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(acknowledged) >= before + 20, "the app must recover by itself"
    finally:
        stop.set()
        for w in writers:
            w.join(timeout=30)
    stored = [c.shipment_ref for c in store.list_cases(limit=None)]
    assert set(acknowledged) <= set(stored)  # nothing acknowledged is lost
    assert len(stored) == len(set(stored))  # and nothing is stored twice
    store.close()
