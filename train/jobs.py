"""Long training runs as background jobs: one at a time, survive a page reload, cancellable.

    jobs = JobManager(Path("data/jobs"))
    job = jobs.start(["python", "-m", "train", "fit", "--mode", "finetune", ...], who="ana", out="v7")
    jobs.status()   # the latest job: status, progress, log tail (read from disk every time)
    jobs.cancel()

Each job has a JSON state file `data/jobs/<id>.json` and a log `data/jobs/<id>.log`.
The command runs under a small wrapper (`python -m train.jobs --rc-file ... -- cmd`)
in its own process group; the wrapper writes the command's exit code to a file, so
the outcome is known even when the app that started the job has restarted. Progress
is read from the log: the last tqdm percentage and its description.

Nothing here imports torch: the app stays responsive while the job computes.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Iterator, Sequence

from species_data.atomic import write_text_atomic
from species_data.dataset import Photo

LOG_TAIL = 4000  # characters of log returned with a status
_TQDM = re.compile(r"(?:^|[\r\n])([^\r\n|]*?):?\s*(\d{1,3})%\|")


class JobStatus(str, Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"  # the process vanished without leaving its exit code (machine restart)

    @property
    def finished(self) -> bool:
        return self is not JobStatus.RUNNING


class JobBusy(RuntimeError):
    """A job is already running; one at a time."""

    def __init__(self, job: "Job"):
        super().__init__(f"job {job.id} ({job.kind}, started by {job.who} at {job.started_at}) is still running; "
                         "wait for it or cancel it first")
        self.job = job


@dataclass(frozen=True)
class Job:
    id: str
    kind: str  # e.g. "retrain"
    argv: tuple[str, ...]
    who: str
    started_at: str
    pid: int
    status: JobStatus = JobStatus.RUNNING
    out: str = ""  # what the job produces (e.g. the bundle version)
    finished_at: str | None = None
    returncode: int | None = None
    cancel_requested: bool = False
    progress: float | None = None  # 0..1 from the last tqdm line, None before the first
    stage: str = ""  # the tqdm description of that line
    log_tail: str = field(default="", compare=False)

    def to_json(self) -> dict:
        d = asdict(self)
        d["status"] = self.status.value
        d.pop("log_tail")
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Job":
        d = dict(d)
        d["status"] = JobStatus(d["status"])
        d["argv"] = tuple(d["argv"])
        d.pop("log_tail", None)
        return cls(**d)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of this process counts as finished
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def parse_progress(log_text: str) -> tuple[float | None, str]:
    """(fraction, description) of the last tqdm bar in a log, (None, "") if there is none."""
    matches = list(_TQDM.finditer(log_text[-20000:]))
    if not matches:
        return None, ""
    desc, pct = matches[-1].group(1).strip(), int(matches[-1].group(2))
    return min(pct, 100) / 100.0, desc


class JobManager:
    def __init__(self, root: Path, *, python: str = sys.executable, cwd: Path | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.python = python
        self.cwd = Path(cwd) if cwd else Path(__file__).resolve().parents[1]

    # --- files -----------------------------------------------------------------------
    def _state(self, job_id: str) -> Path:
        return self.root / f"{job_id}.json"

    def log_path(self, job_id: str) -> Path:
        return self.root / f"{job_id}.log"

    def _rc(self, job_id: str) -> Path:
        return self.root / f"{job_id}.rc"

    def _save(self, job: Job) -> Job:
        write_text_atomic(self._state(job.id), json.dumps(job.to_json(), indent=1))
        return job

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.root / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # --- reading ---------------------------------------------------------------------
    def jobs(self) -> list[Job]:
        """Every job, oldest first, each brought up to date."""
        found = []
        for path in sorted(self.root.glob("*.json")):
            try:
                found.append(self._refresh(Job.from_json(json.loads(path.read_text()))))
            except (ValueError, KeyError, TypeError):
                continue  # a damaged state file is skipped, not fatal
        return sorted(found, key=lambda j: (j.started_at, j.id))

    def get(self, job_id: str) -> Job:
        path = self._state(job_id)
        if not path.exists():
            raise KeyError(f"no job {job_id!r} under {self.root}")
        return self._refresh(Job.from_json(json.loads(path.read_text())))

    def status(self) -> Job | None:
        """The running job, else the latest one, else None."""
        jobs = self.jobs()
        running = [j for j in jobs if j.status is JobStatus.RUNNING]
        return (running or jobs or [None])[-1]

    def active(self) -> Job | None:
        return next((j for j in self.jobs() if j.status is JobStatus.RUNNING), None)

    def _refresh(self, job: Job) -> Job:
        log_text = ""
        log = self.log_path(job.id)
        if log.exists():
            with open(log, "rb") as fh:
                fh.seek(max(0, log.stat().st_size - 20000))
                log_text = fh.read().decode("utf-8", "replace")
        progress, stage = parse_progress(log_text)
        tail = log_text[-LOG_TAIL:].replace("\r", "\n")
        updated = replace(job, progress=progress if progress is not None else job.progress,
                          stage=stage or job.stage, log_tail=tail)
        if job.status is JobStatus.RUNNING:
            rc_file = self._rc(job.id)
            if rc_file.exists():
                rc = int(rc_file.read_text().strip() or "1")
                status = (JobStatus.CANCELLED if job.cancel_requested else
                          JobStatus.SUCCEEDED if rc == 0 else JobStatus.FAILED)
                updated = replace(updated, status=status, returncode=rc, finished_at=_now(),
                                  progress=1.0 if rc == 0 else updated.progress)
            elif not _alive(job.pid):
                updated = replace(updated, status=JobStatus.CANCELLED if job.cancel_requested else JobStatus.LOST,
                                  finished_at=_now())
        if updated.to_json() != job.to_json():
            self._save(updated)
        return updated

    # --- acting ----------------------------------------------------------------------
    def start(self, argv: Sequence[str], *, who: str, kind: str = "retrain", out: str = "",
              env: dict[str, str] | None = None) -> Job:
        """Run `argv` in the background; raises `JobBusy` while another job runs."""
        if not argv:
            raise ValueError("a job needs a command to run")
        with self._locked():
            busy = self.active()
            if busy is not None:
                raise JobBusy(busy)
            job_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + f"-{os.getpid() % 10000:04d}"
            while self._state(job_id).exists():
                job_id += "x"
            wrapper = [self.python, "-m", "train.jobs", "--rc-file", str(self._rc(job_id).resolve()), "--", *argv]
            with open(self.log_path(job_id), "ab") as log:
                proc = subprocess.Popen(wrapper, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        cwd=self.cwd, start_new_session=True,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
            return self._save(Job(job_id, kind, tuple(argv), who, _now(), proc.pid, out=out))

    def cancel(self, job_id: str | None = None, *, grace_s: float = 10.0) -> Job | None:
        """Stop the running job (SIGTERM to its process group, SIGKILL after `grace_s`)."""
        job = self.get(job_id) if job_id else self.active()
        if job is None or job.status is not JobStatus.RUNNING:
            return job
        job = self._save(replace(job, cancel_requested=True))
        try:
            os.killpg(job.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace_s
        while _alive(job.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(job.pid):
            try:
                os.killpg(job.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            while _alive(job.pid) and time.monotonic() < deadline + 5:
                time.sleep(0.05)
        return self.get(job.id)

    def wait(self, job_id: str, timeout_s: float = 600.0) -> Job:
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.get(job_id)
            if job.status.finished or time.monotonic() > deadline:
                return job
            time.sleep(0.1)


# --- the photos of a full retrain, as the folder tree `train fit --data` reads ------------

def photo_tree(photos: Sequence[Photo], root: Path) -> Path:
    """`root/<class>/<sha>.<ext>` symlinks to every photo, and a MANIFEST.csv naming sources, so a
    full retrain sees exactly the photos a quick update would (uploads in, removed photos out)."""
    import csv

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "MANIFEST.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "cls", "source_repo"])
        for p in photos:
            folder = root / p.label
            folder.mkdir(exist_ok=True)
            name = f"{p.sha256}{Path(p.path).suffix.lower() or '.jpg'}"
            link = folder / name
            if not link.is_symlink():
                link.symlink_to(Path(p.path).resolve())
            writer.writerow([f"{p.label}/{name}", p.label, p.source])
    return root


# --- the wrapper process -----------------------------------------------------------------

def _wrapper(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.jobs", description="run a command, record its exit code")
    parser.add_argument("--rc-file", type=Path, required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    child = subprocess.Popen(command)

    def forward(signum, _frame):
        child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    rc = child.wait()
    write_text_atomic(args.rc_file, str(rc))
    return 0


if __name__ == "__main__":
    sys.exit(_wrapper())
