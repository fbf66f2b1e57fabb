"""Login flood: wrong passwords posted as fast as they go while an officer identifies photos.

Starts the app (`python -m serve`, as in production, default sign-in policy) on loopback
with an officer whose password hash has the production bcrypt cost (12), signs the officer
in, then for `--seconds` runs `--attackers` threads posting wrong passwords to /login (half
for the officer's name, half for random names) while the officer identifies real photos
one after another. Afterwards: the officer's identify latency, the attackers' answers by
HTTP status, the audit rows written, and (unless --no-wait) whether the officer can sign in
again once the sign-in lock of the burst has lifted.

Before issue 14 each failed check ran bcrypt inside Gradio's event loop, and the officer's
identify went from 0.1 s to 11 s at p95. stdout gets one line:

  login flood: attempts N (429: X, 400: Y, other: Z), identify p50 A ms, p95 B ms (before the flood C ms), audit rows R, officer signs in again after the burst: yes|no|not tried

The officer first identifies for half as long without attackers: that p95 is the baseline
(a shared machine's own load shows there).

Run: python bench/login_flood.py [--attackers 6] [--seconds 12] [--no-wait]
"""
from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

try:
    from . import common as c
    from .load_test import Server, officer_photos, password, percentile
except ImportError:  # run as a file
    import common as c  # type: ignore[no-redef]
    from load_test import Server, officer_photos, password, percentile  # type: ignore[no-redef]

OFFICER = "olga"
LOCK_WAIT_S = 75.0  # the default lock (60 s after the last failure) plus margin


@dataclass(frozen=True)
class Result:
    statuses: dict[int, int]
    baseline_s: list[float]  # the officer's identify times before the flood
    identify_s: list[float]  # ...and during it
    identify_errors: int
    audit_rows: int
    signed_in_after: bool | None

    @property
    def attempts(self) -> int:
        return sum(self.statuses.values())

    def line(self) -> str:
        other = self.attempts - self.statuses.get(429, 0) - self.statuses.get(400, 0)
        again = {True: "yes", False: "no", None: "not tried"}[self.signed_in_after]
        return (f"login flood: attempts {self.attempts} (429: {self.statuses.get(429, 0)}, "
                f"400: {self.statuses.get(400, 0)}, other: {other}), identify p50 "
                f"{1000 * percentile(self.identify_s, 50):.0f} ms, p95 "
                f"{1000 * percentile(self.identify_s, 95):.0f} ms (before the flood "
                f"{1000 * percentile(self.baseline_s, 95):.0f} ms), audit rows {self.audit_rows}, "
                f"officer signs in again after the burst: {again}")


def attacker(url: str, deadline: float, statuses: Counter, lock: threading.Lock, seed: int) -> None:
    import httpx

    rng = random.Random(seed)
    with httpx.Client(timeout=60) as http:
        while time.monotonic() < deadline:
            name = OFFICER if rng.random() < 0.5 else f"user{rng.randrange(10_000)}"
            try:
                code = http.post(url + "login", data={"username": name,
                                                      "password": f"guess-{rng.random()}"}).status_code
            except Exception:  # noqa: BLE001 - a refused connection counts as "other"
                code = 0
            with lock:
                statuses[code] += 1


def officer(client, photos: list[Path], deadline: float, times: list[float], errors: list[str]) -> None:
    from gradio_client import handle_file

    rng = random.Random(1)
    while time.monotonic() < deadline:
        start = time.perf_counter()
        try:
            client.predict([handle_file(str(rng.choice(photos)))], None, api_name="/identify")
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
        times.append(time.perf_counter() - start)


def run(args) -> Result:
    from gradio_client import Client
    from gradio_client import handle_file

    from serve.records.store import Store

    photos = officer_photos(args.photos)
    workdir = Path(tempfile.mkdtemp(prefix="wildlife-flood-"))
    server = Server.fresh(args.bundle, args.photos, {OFFICER: "officer"}, workdir, bcrypt_rounds=12)
    try:
        server.start()
        client = Client(server.url, auth=(OFFICER, password(OFFICER)), verbose=False,
                        download_files=str(workdir / "downloads"), httpx_kwargs={"timeout": 120})
        client.predict([handle_file(str(photos[0]))], None, api_name="/identify")  # warm-up
        statuses: Counter = Counter()
        lock = threading.Lock()
        baseline: list[float] = []
        times: list[float] = []
        errors: list[str] = []
        officer(client, photos, time.monotonic() + args.seconds / 2, baseline, errors)
        deadline = time.monotonic() + args.seconds
        threads = [threading.Thread(target=attacker, args=(server.url, deadline, statuses, lock, i), daemon=True)
                   for i in range(args.attackers)]
        threads.append(threading.Thread(target=officer, args=(client, photos, deadline, times, errors), daemon=True))
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=args.seconds + 180)
        client.close()
        again = None
        if not args.no_wait:
            import httpx

            time.sleep(LOCK_WAIT_S)
            again = httpx.post(server.url + "login", data={"username": OFFICER, "password": password(OFFICER)},
                               timeout=60).status_code == 200
        store = Store.open(server.db_url)
        try:
            audit = len(store.audit_log(action="login.failed", limit=None))
        finally:
            store.close()
        for message in errors[:5]:
            print(f"  identify error: {message}", file=sys.stderr)
        return Result(dict(statuses), baseline, times, len(errors), audit, again)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--attackers", type=int, default=6, help="threads posting wrong passwords (default 6)")
    p.add_argument("--seconds", type=float, default=12.0, help="how long the flood lasts (default 12)")
    p.add_argument("--no-wait", action="store_true",
                   help="do not wait for the lock to lift to check the officer can sign in again")
    p.add_argument("--bundle", type=Path, default=c.DEFAULT_BUNDLE)
    p.add_argument("--photos", type=Path, default=c.PHOTOS)
    args = p.parse_args(argv)
    if args.attackers < 1 or args.seconds <= 0:
        p.error("--attackers >= 1 and --seconds > 0")
    return args


def main(argv: Sequence[str] | None = None) -> Result:
    result = run(parse(argv))
    print(result.line(), flush=True)
    return result


if __name__ == "__main__":
    r = main()
    sys.exit(0 if r.identify_errors == 0 and percentile(r.identify_s, 95) <= 2.0
             and r.statuses.get(429, 0) > 0 and r.audit_rows > 0 and r.signed_in_after is not False else 1)
