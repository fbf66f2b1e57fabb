"""Background jobs: start, progress from the log, one at a time, cancel, state that outlives the manager."""
from __future__ import annotations

import csv
import os
import sys
import time
from pathlib import Path

import pytest

from species_data.dataset import Photo, scan, split_of
from train.jobs import JobBusy, JobManager, JobStatus, parse_progress, photo_tree

PY = sys.executable
# A fake training run: prints tqdm-style progress, waits for a file (so tests control when it ends).
FAKE = ("import sys, time, pathlib\n"
        "print('embedding photos:  40%|####      | 4/10', flush=True)\n"
        "gate = pathlib.Path(sys.argv[1])\n"
        "while not gate.exists():\n"
        "    time.sleep(0.02)\n"
        "print('embedding photos: 100%|##########| 10/10', flush=True)\n"
        "sys.exit(int(sys.argv[2]))\n")


def fake(tmp_path: Path, rc: int = 0) -> tuple[list[str], Path]:
    gate = tmp_path / f"go-{time.monotonic_ns()}"
    return [PY, "-c", FAKE, str(gate), str(rc)], gate


def wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_job_runs_reports_progress_and_succeeds(tmp_path):
    jobs = JobManager(tmp_path / "jobs")
    argv, gate = fake(tmp_path)
    job = jobs.start(argv, who="ana", out="v7")
    assert job.status is JobStatus.RUNNING and job.who == "ana" and job.out == "v7"
    running = wait_for(lambda: (j := jobs.get(job.id)).progress is not None and j)
    assert running.progress == pytest.approx(0.4) and running.stage == "embedding photos"
    gate.touch()
    done = jobs.wait(job.id)
    assert done.status is JobStatus.SUCCEEDED and done.returncode == 0 and done.progress == 1.0
    assert "10/10" in done.log_tail and done.finished_at


def test_a_failing_command_is_reported_as_failed(tmp_path):
    jobs = JobManager(tmp_path / "jobs")
    argv, gate = fake(tmp_path, rc=3)
    gate.touch()
    done = jobs.wait(jobs.start(argv, who="ana").id)
    assert done.status is JobStatus.FAILED and done.returncode == 3


def test_only_one_job_at_a_time(tmp_path):
    jobs = JobManager(tmp_path / "jobs")
    argv, gate = fake(tmp_path)
    first = jobs.start(argv, who="ana")
    with pytest.raises(JobBusy, match=first.id):
        JobManager(tmp_path / "jobs").start(fake(tmp_path)[0], who="ben")
    gate.touch()
    jobs.wait(first.id)
    argv2, gate2 = fake(tmp_path)
    second = jobs.start(argv2, who="ben")  # free again once the first finished
    gate2.touch()
    assert jobs.wait(second.id).status is JobStatus.SUCCEEDED


def test_cancel_stops_the_process_group(tmp_path):
    jobs = JobManager(tmp_path / "jobs")
    argv, _ = fake(tmp_path)  # never released: only cancel ends it
    job = jobs.start(argv, who="ana")
    wait_for(lambda: jobs.get(job.id).progress is not None)
    cancelled = jobs.cancel(grace_s=10)
    assert cancelled.status is JobStatus.CANCELLED and cancelled.cancel_requested
    with pytest.raises(ProcessLookupError):
        os.killpg(job.pid, 0)
    assert jobs.active() is None and jobs.cancel() is None


def test_state_survives_a_new_manager(tmp_path):
    root = tmp_path / "jobs"
    argv, gate = fake(tmp_path)
    job = JobManager(root).start(argv, who="ana", out="v9")
    again = JobManager(root)  # e.g. the app restarted, or the page was reloaded
    status = again.status()
    assert status.id == job.id and status.status is JobStatus.RUNNING and status.out == "v9"
    gate.touch()
    wait_for(lambda: JobManager(root).status().status is JobStatus.SUCCEEDED)
    final = JobManager(root).get(job.id)
    assert final.returncode == 0 and (root / f"{job.id}.json").is_file() and (root / f"{job.id}.log").is_file()
    assert [j.id for j in JobManager(root).jobs()] == [job.id]


def test_an_empty_command_is_refused(tmp_path):
    with pytest.raises(ValueError):
        JobManager(tmp_path / "jobs").start([], who="ana")


def test_parse_progress_reads_the_last_tqdm_bar():
    log = "start\nembedding photos:  10%|#  | 1/10\rembedding photos:  70%|#######   | 7/10\nepoch 2: 55%|###"
    assert parse_progress(log) == (0.55, "epoch 2")
    assert parse_progress("no bars here") == (None, "")


def test_photo_tree_is_what_a_full_retrain_scans(tmp_path):
    photos = []
    for i, label in enumerate(["a", "a", "b"]):
        src = tmp_path / "src" / f"{i}.jpg"
        src.parent.mkdir(exist_ok=True)
        src.write_bytes(b"\xff\xd8\xff" + bytes([i]) * 50)
        import hashlib

        sha = hashlib.sha256(src.read_bytes()).hexdigest()
        photos.append(Photo(src, label, sha, split_of(sha), source=f"src{i}"))
    root = photo_tree(photos, tmp_path / "tree")
    found = scan([root])
    assert {(p.label, p.sha256, p.source) for p in found.photos} == {(p.label, p.sha256, p.source) for p in photos}
    with open(root / "MANIFEST.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 3
