"""Crash consistency: SIGKILL at random moments (and at every step of a bundle swap), then
check what a restarted app would find.

After every kill:
  * the published model loads and serves a real photo, and it is a version that was
    published (never a missing, half-written or mixed bundle);
  * no half-written file is visible: `list_versions` counts only complete bundles, no
    temporary file is taken for a photo, every stored photo hashes to its name;
  * the catalogue (packaged + overlay) parses and holds an acknowledged edit or the next;
  * the records database passes `PRAGMA integrity_check`;
  * every record acknowledged before the kill ("ack" printed by the worker after the call
    returned) is there.

Workers live in `tests/crash_workers.py`. Kills repeat on the same folders (crash, restart,
crash again), with delays drawn from a fixed seed so a failure can be replayed.

What a SIGKILL test can and cannot prove: a killed process leaves the kernel's page cache
intact, so a store that fsyncs nothing still keeps every record whose write() returned;
only a power cut shows missing fsyncs. The ack check catches an acknowledgement given
before the data reaches the kernel: a commit done later or in batches, an unflushed
buffer, "saved" shown before the write. `test_case_records_killed` therefore also reads
the connection's `PRAGMA synchronous` (FULL) and shows its ack check flags a lost record.
"""
from __future__ import annotations

import filecmp
import hashlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.crash_workers import EDIT_CUE, parse_acks

ROOT = Path(__file__).resolve().parents[1]
SEED = 20260211
KILLS = 3  # random kills per scenario

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL") or sys.platform == "win32",
                                reason="needs POSIX SIGKILL")


def delays(scenario: str, low: float, high: float, n: int = KILLS) -> list[float]:
    rng = random.Random(f"{SEED}-{scenario}")
    return [round(rng.uniform(low, high), 3) for _ in range(n)]


# --- running and killing a worker ---------------------------------------------------------

class Worker:
    """A `tests.crash_workers` subprocess whose stdout is collected as it comes."""

    def __init__(self, *args: object, env: dict[str, str] | None = None) -> None:
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.crash_workers", *map(str, args)],
                                     cwd=ROOT, stdout=subprocess.PIPE, stderr=self.stderr,
                                     env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in iter(self.proc.stdout.readline, b""):
            self._chunks.append(line)

    @property
    def text(self) -> str:
        return b"".join(self._chunks).decode("utf-8", "replace")

    def acks(self) -> list[str]:
        return parse_acks(self.text)

    def error(self) -> str:
        if self.stderr.closed:
            return self._error
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")[-3000:]

    def kill_after(self, min_acks: int, delay: float, timeout: float = 90.0) -> list[str]:
        """Wait for `min_acks` acknowledgements, then `delay` s, then SIGKILL; the acks."""
        try:
            deadline = time.monotonic() + timeout
            while len(self.acks()) < min_acks:
                assert self.proc.poll() is None, f"worker exited early ({self.proc.returncode}):\n{self.error()}"
                assert time.monotonic() < deadline, f"worker made no progress in {timeout} s:\n{self.error()}"
                time.sleep(0.01)
            time.sleep(delay)
            assert self.proc.poll() is None, f"worker exited before the kill ({self.proc.returncode}):\n{self.error()}"
        finally:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
        return self.finish()

    def finish(self, timeout: float = 90.0) -> list[str]:
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(10)
            self._error = self.error()
            self.stderr.close()
        return self.acks()


def killed_at_step(k: int, *args: object) -> list[str]:
    """Run a worker that SIGKILLs itself right before its k-th file-system step; the acks."""
    worker = Worker(*args, env={"CRASH_AT": str(k)})
    acks = worker.finish()
    assert worker.proc.returncode == -signal.SIGKILL, f"crash point {k} not reached:\n{worker.error()}"
    return acks


# --- checks shared by the scenarios -----------------------------------------------------------

def integrity(db: Path) -> str:
    con = sqlite3.connect(db)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def missing_acks(acked, present) -> set:
    """Acknowledged values that did not survive: must be empty."""
    return set(acked) - set(present)


@pytest.fixture(scope="module")
def photo(photos_root) -> Path:
    return sorted((photos_root / "tiger").glob("*.jpg"))[0]


def serving(models: Path, allowed: set[str], photo: Path) -> str:
    """The published version after a restart: it loads, identifies a real photo and is allowed."""
    from serve.identify.predictor import Predictor

    link = models / "current"
    assert link.is_symlink(), f"{link} is gone: nothing is published"
    name = os.readlink(link)
    assert name in allowed, f"current -> {name}, expected one of {sorted(allowed)}"
    result = Predictor.load(link).identify(photo)
    assert result.model_version == name and result.probabilities
    return name


def visible_versions(models: Path) -> set[str]:
    """The versions a restarted app lists; each must be a folder with a loadable bundle."""
    from train.bundle import Bundle, list_versions

    listed = {m.version for m in list_versions(models)}
    folders = {p.name for p in models.iterdir() if not p.name.startswith(".") and p.name != "current"}
    for name in folders:
        assert (models / name / "bundle.json").is_file(), f"half-written bundle visible: {models / name}"
        assert Bundle.load(models / name).meta.version == name
    assert listed == folders
    return listed


def light_copy(source: Path, dest: Path, version: str, marker: str | None = None) -> Path:
    """A bundle folder sharing `source`'s big files (symlinks) under another version name."""
    from dataclasses import replace

    from train.bundle import BundleMeta

    dest.mkdir(parents=True)
    meta = BundleMeta.from_dict(json.loads((source / "bundle.json").read_text()))
    meta.version = version
    if marker is not None:
        meta.training = replace(meta.training, details={**meta.training.details, "crash_marker": marker})
        (dest / "marker.txt").write_text(marker)
    (dest / "bundle.json").write_text(json.dumps(meta.to_dict()))
    for f in source.iterdir():
        if f.is_file() and f.name not in ("bundle.json", "marker.txt"):
            (dest / f.name).symlink_to(f.resolve())
    return dest


# --- (1) photo upload ----------------------------------------------------------------------------

PHOTO_NAME = re.compile(r"^([0-9a-f]{64})\.(jpg|png)$")


def test_photo_upload_killed(tmp_path):
    from species_data.photo_store import TEMP_PREFIX, PhotoStore
    from serve.records.store import Store

    root, db = tmp_path / "photos", tmp_path / "records.db"
    url = f"sqlite:///{db}"
    acked: list[str] = []
    # random moments, then once right before the rename of the 3rd photo (leaves its temp file)
    for round_, delay in enumerate(delays("photos", 0.0, 0.3) + [None]):
        args = ("photos", root, url, 1000 * round_)
        if delay is None:
            got = killed_at_step(3, *args)
            assert len(got) == 2
        else:
            got = Worker(*args).kill_after(3, delay)
        acked += got
        assert integrity(db) == "ok"
        with Store.open(url) as records:
            rows = {r.sha256 for r in records.all_photos(include_removed=True)}
        assert not missing_acks(acked, rows)
        store = PhotoStore(root)
        for sha in rows:  # the file is written before the row, so every row has its file
            assert store.find(sha) is not None and store.verify(sha), sha
        on_disk, temps = set(), []
        for f in root.rglob("*"):
            if f.is_dir():
                continue
            if f.name.startswith(TEMP_PREFIX):
                temps.append(f)
                continue
            m = PHOTO_NAME.match(f.name)
            assert m and f.parent.name == f.name[:2], f"unexpected file in the photo store: {f}"
            assert hashlib.sha256(f.read_bytes()).hexdigest() == m.group(1), f"torn photo {f}"
            on_disk.add(m.group(1))
        # a kill between `put` and `add_photo` leaves at most one stored file without a row
        assert len(on_disk - rows) <= round_ + 1
        if delay is None:  # the interrupted photo: complete bytes in a temp file, never a photo
            assert len(temps) == 1 and hashlib.sha256(temps[0].read_bytes()).hexdigest() not in rows
        assert store.sweep_temp(0) == len(temps) and not list(root.glob(f"??/{TEMP_PREFIX}*"))
    assert len(acked) >= 3 * KILLS + 2


# --- (4) case records -------------------------------------------------------------------------------

def test_case_records_killed(tmp_path):
    from serve.records.store import Store

    db = tmp_path / "records.db"
    url = f"sqlite:///{db}"
    acked: list[int] = []
    for delay in delays("cases", 0.0, 0.3):
        acked += [int(a) for a in Worker("cases", url).kill_after(3, delay)]
        assert integrity(db) == "ok"
        with Store.open(url) as records:
            present = {c.id for c in records.list_cases(limit=None)}
            assert not missing_acks(acked, present)
            # at most one committed-but-unacknowledged case per kill
            assert len(present) - len(acked) <= KILLS
    # the check is not vacuous: a store that lost an acknowledged case would be flagged
    assert missing_acks(acked + [max(acked) + 10**6], present) == {max(acked) + 10**6}
    with Store.open(url, bcrypt_rounds=4) as records:
        with records.engine.connect() as con:  # what makes acks survive a power cut too
            assert con.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert con.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        new = records.add_case(officer="ana", action="referred", label="tiger", decision="identified",
                               prediction={}, model_version="v1")
        assert new.id > max(acked)


# --- (5) catalogue edits ---------------------------------------------------------------------------

def test_catalogue_save_killed(tmp_path):
    from species_data import PACKAGED_DIR, load_catalogue, read_history

    overlay = tmp_path / "catalogue"
    acked: list[int] = []
    # random moments, then once right before the rename of the 2nd save (leaves its temp file)
    for round_, delay in enumerate(delays("catalogue", 0.0, 0.5) + [None]):
        args = ("catalogue", overlay, "tiger", 1000 * round_)
        if delay is None:
            got = [int(a) for a in killed_at_step(2, *args)]
            assert len(got) == 1 and any(overlay.glob(".tiger.yaml.*"))
        else:
            got = [int(a) for a in Worker(*args).kill_after(2, delay)]
        acked += got
        cue = load_catalogue(PACKAGED_DIR, overlay)["tiger"].cues_in("en").value[-1]
        assert cue in (EDIT_CUE.format(got[-1]), EDIT_CUE.format(got[-1] + 1)), cue
        history = read_history(overlay)
        assert all(h["id"] == "tiger" and h["author"] == "crash-test" for h in history)
        assert 0 <= len(history) - len(acked) <= round_ + 1
        for f in overlay.iterdir():
            assert f.name in ("tiger.yaml", "_history.jsonl") or f.name.startswith("."), f
    assert len(acked) >= 2 * KILLS + 1


# --- (3) publishing ------------------------------------------------------------------------------------

def test_publish_killed(tmp_path, model_bundle, photo):
    from train.bundle import publish

    models = tmp_path / "models"
    versions = ["v_a", "v_b", "v_c"]
    for v in versions:
        light_copy(model_bundle, models / v, v)
    publish(models, "v_a")
    for delay in delays("publish", 0.0, 0.2):
        acked = Worker("publish", models, ",".join(versions)).kill_after(3, delay)
        last = versions.index(acked[-1])
        # the last acknowledged publish, or the next one if it got through before the ack
        serving(models, {versions[last], versions[(last + 1) % 3]}, photo)
        assert visible_versions(models) == set(versions)


# --- (3) writing a bundle over the published version ---------------------------------------------

@pytest.fixture
def bundle_folders(tmp_path, model_bundle):
    """models/v_a (published, marker "initial") and models/v_b, the source of every save."""
    from train.bundle import publish

    models = tmp_path / "models"
    light_copy(model_bundle, models / "v_b", "v_b")
    light_copy(model_bundle, models / "v_a", "v_a", marker="initial")
    publish(models, "v_a")
    return models


def whole_bundle(path: Path, source: Path, allowed_markers: set[str]) -> str:
    """The bundle's files all come from one save (same marker) and are complete."""
    from train.bundle import Bundle

    bundle = Bundle.load(path)
    marker = bundle.meta.training.details.get("crash_marker")
    assert marker in allowed_markers, f"{path} holds save {marker!r}, expected one of {sorted(allowed_markers)}"
    assert (path / "marker.txt").read_text() == marker, f"{path} mixes files of two saves"
    from train.weights import load_arrays, weights_file

    for name in ("model.onnx", "manifest.json"):
        assert filecmp.cmp(path / name, source / name, shallow=False), f"{path / name} differs from its source"
    got, want = load_arrays(weights_file(path)), load_arrays(weights_file(source))
    assert got.keys() == want.keys() and all(np.array_equal(got[k], want[k]) for k in want), \
        f"{weights_file(path)} holds other weights than {weights_file(source)}"
    bundle.ood_reference()
    return marker


def test_save_bundle_over_published_version_killed(bundle_folders, photo):
    models = bundle_folders
    marker = "initial"
    for delay in delays("save_bundle", 0.0, 1.0):
        worker = Worker("save_bundle", models, "v_a", models / "v_b")
        acked = worker.kill_after(1, delay)
        # the last acknowledged save, or the next one if it got through before the ack
        marker = whole_bundle(models / "v_a", models / "v_b",
                              {acked[-1], f"{worker.proc.pid}-{len(acked) + 1}"})
        assert serving(models, {"v_a"}, photo) == "v_a"
        assert visible_versions(models) == {"v_a", "v_b"}
    assert marker != "initial"


@pytest.mark.parametrize("exchange", [True, False], ids=["atomic-swap", "two-renames"])
def test_save_bundle_killed_at_every_step(bundle_folders, photo, exchange):
    """Kill right before the 1st, 2nd, ... file-system step of save_bundle until one run
    gets through: every gap between two steps is a moment a crash can happen."""
    models, previous = bundle_folders, "initial"
    env = {} if exchange else {"CRASH_NO_EXCHANGE": "1"}
    for k in range(1, 12):
        worker = Worker("save_bundle", models, "v_a", models / "v_b", 1, env={**env, "CRASH_AT": str(k)})
        acked = worker.finish()
        completed = worker.proc.returncode == 0
        assert completed or worker.proc.returncode == -signal.SIGKILL, worker.error()
        new = f"{worker.proc.pid}-1"
        assert acked == ([new] if completed else [])  # killed inside save_bundle: no ack
        marker = whole_bundle(models / "v_a", models / "v_b", {previous, new})
        assert serving(models, {"v_a"}, photo) == "v_a"
        assert visible_versions(models) == {"v_a", "v_b"}
        if completed:
            assert marker == new
            break
        previous = marker
    else:
        pytest.fail("save_bundle never completed: more steps than expected")
    assert k >= 3, "the crash points were not reached (did train.bundle stop using os.replace?)"


# --- (2) a training job ------------------------------------------------------------------------------

CLASSES = ["small_wild_cat", "seahorse"]  # 91 photos: the smallest pair


def wait_until(jobs, job, condition, what: str, timeout: float = 600.0) -> bool:
    """True once `condition()` holds while the job runs; False if the job succeeded first
    (a short phase such as the bundle write can pass between two polls)."""
    deadline = time.monotonic() + timeout
    while not condition():
        state = jobs.get(job.id)
        if state.status is state.status.SUCCEEDED:
            return False
        assert not state.status.finished, f"job ended ({state.status.value}) before {what}:\n{state.log_tail}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{state.log_tail}"
        time.sleep(0.01)
    return True


@pytest.mark.model
def test_training_job_killed(tmp_path, photos_root, model_bundle, photo):
    """A real `python -m train fit`, run as the app's background job, killed three times
    at moments chosen by what it is doing (so the kills land in every phase however
    loaded the machine is): while embedding, after embedding, and while writing its
    bundle over the published version. Then the same job runs to the end on the
    interrupted embedding cache, and its bundle is published and serves."""
    from train.bundle import publish
    from train.jobs import JobManager, JobStatus

    data = tmp_path / "data"
    models = data / "models"
    light_copy(model_bundle, models / "v1", "v1")  # the shipped model, published
    publish(models, "v1")
    fit = [sys.executable, "-m", "train", "fit", "--data", str(photos_root), "--data-dir", str(data),
           "--card-dir", str(tmp_path / "cards"), "--classes", *CLASSES, "--workers", "0"]
    jobs = JobManager(tmp_path / "jobs")

    moments = [  # (version written, moment to kill after, its name)
        ("v2", lambda job: jobs.get(job.id).progress is not None, "embedding"),
        ("v2", lambda job: (jobs.get(job.id).progress or 0) >= 1.0, "embedding done"),
        ("v1", lambda job: any(models.glob(".v1-*")), "bundle write"),  # save_bundle's temp folder
    ]
    for (out, moment, what), delay in zip(moments, delays("training", 0.0, 1.5)):
        for attempt in range(6):  # a job that got through the moment unseen is run again
            job = jobs.start(fit + ["--out", str(models / out)], who="crash-test", out=out)
            try:
                caught = wait_until(jobs, job, lambda: moment(job), what)
                time.sleep(delay if caught else 0.0)
            finally:
                try:
                    os.killpg(job.pid, signal.SIGKILL)  # the job's wrapper and the training process
                except ProcessLookupError:
                    pass  # it finished first: still a state to check
            after = jobs.wait(job.id, timeout_s=60)
            assert after.status in (JobStatus.LOST, JobStatus.SUCCEEDED), after
            # the published model is whole (the old one, or the new one if the swap happened)
            assert serving(models, {"v1"}, photo) == "v1"
            assert visible_versions(models) <= {"v1", "v2"}
            if caught:
                break
        else:
            pytest.fail(f"never caught the job {what}: it ran through six times")
    # restart: nothing is left running, and the job runs to the end on the same cache
    assert jobs.active() is None
    job = jobs.start(fit + ["--out", str(models / "v3")], who="crash-test", out="v3")
    done = jobs.wait(job.id, timeout_s=600)
    assert done.status is JobStatus.SUCCEEDED, done.log_tail
    publish(models, "v3")
    assert serving(models, {"v3"}, photo) == "v3"
    assert visible_versions(models) >= {"v1", "v3"}
