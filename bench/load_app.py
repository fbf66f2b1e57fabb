"""The app under load (`bench/load_test.py`): a data folder whose model is the bundle under
test, the records database with the simulated users, one or more `python -m serve`
processes on loopback, and the read-back that checks nothing was lost or stored twice."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Sequence

try:
    from . import common as c
except ImportError:  # run as a file
    import common as c  # type: ignore[no-redef]

HOST = "127.0.0.1"  # loopback only: this drives a real server hard


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def password(name: str) -> str:
    return f"load-{name}-password"


def prepare_data(bundle: Path, workdir: Path, db_url: str | None, users: dict[str, str],
                 bcrypt_rounds: int = 4) -> tuple[Path, str]:
    """A data folder whose models/current is `bundle`, and the records database (SQLite in
    it unless `db_url`) holding `users`. Returns (data folder, database URL)."""
    bundle = Path(bundle).resolve()
    if not (bundle / "bundle.json").exists():
        raise SystemExit(f"no model bundle at {bundle}; train one (README) or pass --bundle DIR")
    data = workdir / "data"
    (data / "models").mkdir(parents=True)
    (data / "models" / "current").symlink_to(bundle)
    db_url = db_url or f"sqlite:///{(data / 'records.db').resolve()}"
    from serve.records.store import Store

    with Store.open(db_url, bcrypt_rounds=bcrypt_rounds) as store:
        for name, role in users.items():
            store.add_user(name, role, password(name))
    return data, db_url


class Server:
    """One `python -m serve` process on loopback over a data folder and database."""

    def __init__(self, data: Path, db_url: str, photos: Path, log_path: Path) -> None:
        self.data, self.db_url = data, db_url
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}/"
        self.log_path = log_path
        self.photos = Path(photos)
        self.proc: subprocess.Popen | None = None

    @classmethod
    def fresh(cls, bundle: Path, photos: Path, users: dict[str, str], workdir: Path,
              bcrypt_rounds: int = 4) -> Server:
        """One server over a new data folder under `workdir` (SQLite) holding `users`."""
        data, db_url = prepare_data(bundle, workdir, None, users, bcrypt_rounds)
        return cls(data, db_url, photos, workdir / "server.log")

    def start(self, timeout: float = 180.0) -> None:
        env = dict(os.environ, PYTHONPATH=str(c.ROOT), GRADIO_ANALYTICS_ENABLED="False")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "serve", "--host", HOST, "--port", str(self.port),
             "--data-dir", str(self.data), "--photos", str(self.photos), "--db", self.db_url],
            cwd=c.ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited with status {self.proc.returncode}; "
                                   f"see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        raise RuntimeError(f"the app did not answer on {self.url} within {timeout:.0f} s; "
                           f"see {self.log_path}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        if getattr(self, "_log", None):
            self._log.close()



def stored(db_url: str, trainees: Sequence[str], saved: Sequence[str]) -> tuple[int, int, list[str]]:
    """(answers stored, acknowledged cases stored exactly once, problems) read back from
    the database."""
    from collections import Counter

    from serve.records.store import Store

    with Store.open(db_url) as store:
        per_trainee = sum(len(store.answers_for(name)) for name in trainees)
        cohort = len(store.cohort_answers())
        refs = Counter(case.shipment_ref for case in store.list_cases(limit=None))
    problems = []
    if cohort != per_trainee:
        problems.append(f"{cohort} answers in the cohort, {per_trainee} for the load-test trainees")
    twice = sorted(r for r, n in refs.items() if n > 1)
    lost = sorted(set(saved) - set(refs))
    unacknowledged = sorted(set(refs) - set(saved))
    if twice:
        problems.append(f"{len(twice)} cases stored twice: {', '.join(twice[:5])}")
    if lost:
        problems.append(f"{len(lost)} acknowledged cases lost: {', '.join(lost[:5])}")
    if unacknowledged:  # a save that timed out on the client but landed: not an error
        print(f"note: {len(unacknowledged)} cases stored whose save was not acknowledged",
              file=sys.stderr)
    return per_trainee, sum(1 for r in saved if refs.get(r) == 1), problems
