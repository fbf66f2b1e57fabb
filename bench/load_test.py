"""Load test: many people using the app at once, over loopback, as `gradio_client` sees it.

Starts the app (`python -m serve`) on 127.0.0.1 in a temporary data folder whose
models/current is the given bundle, creates one account per simulated user, then runs
`--users` threads for `--seconds`:

  officers  identify real photos one at a time (`/identify`) and save every fifth as a
            case with a shipment reference of its own (`/save_case`);
  trainees  start five-question quizzes and answer every question
            (`/quiz_start`, `/quiz_answer`, `/quiz_next`).

`--postgres` runs the records on a throwaway PostgreSQL server instead of SQLite
(scripts/postgres_throwaway.sh), and `--processes 2` starts two app processes on the
same database and data folder, as behind a load balancer: user i talks to process
i mod N.

Every call is timed from submit to result (upload and queue wait included) and bounded
by `--timeout`. Afterwards the database is read back: every answer sent must be stored
(`Store.answers_for`, cross-checked with `Store.cohort_answers`), and every case whose
save was acknowledged must be stored exactly once, none lost, none twice. Details go
to stderr; stdout gets exactly one line:

  requests N, errors E, p50 X ms, p95 Y ms, cases saved C, cases stored D,
  answers sent A, answers stored B

Exit status 0 when E = 0, C = D and A = B, else 1 (2 when the app does not start).

Run: python bench/load_test.py [--users 50] [--seconds 120] [--bundle data/models/current]
     python bench/load_test.py --postgres --processes 2 --users 40
"""
from __future__ import annotations

import argparse
import math
import random
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

try:
    from . import common as c
    from .load_app import Server, password, prepare_data, stored
except ImportError:  # run as a file
    import common as c  # type: ignore[no-redef]
    from load_app import Server, password, prepare_data, stored  # type: ignore[no-redef]
QUIZ_LENGTH = 5
MAX_ITERATIONS = 100_000  # per user: the loops end by time, and this bounds them anyway
PHOTOS_PER_CLASS = 3


@dataclass
class Tally:
    """What every user thread records (under one lock)."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    answers_sent: int = 0
    cases_saved: list[str] = field(default_factory=list)  # shipment refs acknowledged
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)

    def failed(self, kind: str, seconds: float, exc: BaseException) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            self.errors.append(f"{kind}: {type(exc).__name__}: {exc}"[:300])

    def wrong(self, kind: str, message: str) -> None:
        """A request that answered, but not what was asked (already timed by `ok`)."""
        with self.lock:
            self.errors.append(f"{kind}: {message}"[:300])

    def sent(self) -> None:
        with self.lock:
            self.answers_sent += 1

    def saved(self, shipment_ref: str) -> None:
        with self.lock:
            self.cases_saved.append(shipment_ref)

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())


@dataclass(frozen=True)
class Result:
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    answers_sent: int
    answers_stored: int
    cases_saved: int = 0
    cases_stored: int = 0

    @property
    def ok(self) -> bool:
        return (self.errors == 0 and self.answers_sent == self.answers_stored
                and self.cases_saved == self.cases_stored and self.requests > 0)

    def line(self) -> str:
        return (f"requests {self.requests}, errors {self.errors}, p50 {self.p50_ms:.0f} ms, "
                f"p95 {self.p95_ms:.0f} ms, cases saved {self.cases_saved}, "
                f"cases stored {self.cases_stored}, answers sent {self.answers_sent}, "
                f"answers stored {self.answers_stored}")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def officer_photos(root: Path) -> list[Path]:
    """A few real photos of every class (held-out split first: what officers would meet)."""
    from species_data.dataset import Split, scan

    by_class: dict[str, list] = defaultdict(list)
    for p in scan([root]).photos:
        by_class[p.label].append(p)
    chosen = []
    for label in sorted(by_class):
        photos = sorted(by_class[label], key=lambda p: (p.split is Split.TRAIN, p.path.name))
        chosen += [p.path for p in photos[:PHOTOS_PER_CLASS]]
    if not chosen:
        raise SystemExit(f"no photos under {root}; pass --photos <folder of class folders>")
    return chosen


# --- the simulated users -------------------------------------------------------------------


def client(url: str, name: str, downloads: Path, timeout: float):
    """A signed-in client; every HTTP call it makes waits at most `timeout` seconds (httpx's
    own default is 5 s, which would time out joining a busy queue rather than measure it)."""
    from gradio_client import Client

    return Client(url, auth=(name, password(name)), verbose=False, analytics_enabled=False,
                  download_files=str(downloads), httpx_kwargs={"timeout": timeout})


def probe(url: str, deadline: float, out: list[float]) -> None:
    """How fast the server answers a trivial GET while loaded (its event loop's health);
    reported on stderr, not counted as a request."""
    for _ in range(MAX_ITERATIONS):
        if time.monotonic() >= deadline:
            return
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(url + "gradio_api/app_id", timeout=60) as r:
                r.read()
            out.append(time.perf_counter() - start)
        except (urllib.error.URLError, OSError):
            out.append(float("inf"))
        time.sleep(0.5)


def call(tally: Tally, kind: str, job_of, timeout: float):
    """Submit one request, wait for its result (bounded); record its time. None on error."""
    start = time.perf_counter()
    try:
        out = job_of().result(timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - every failure is an error of the run
        tally.failed(kind, time.perf_counter() - start, exc)
        return None
    tally.ok(kind, time.perf_counter() - start)
    return out


SAVE_EVERY = 5  # officers save every fifth identification as a case


def officer(cl, name: str, photos: list[Path], tally: Tally, deadline: float, timeout: float,
            seed: int) -> None:
    from gradio_client import handle_file

    rng = random.Random(seed)
    for i in range(MAX_ITERATIONS):
        if time.monotonic() >= deadline:
            return
        photo = rng.choice(photos)
        out = call(tally, "identify", lambda: cl.submit([handle_file(str(photo))], None,
                                                         api_name="/identify"), timeout)
        if out is not None and (len(out.get("results", [])) != 1 or out.get("failures")):
            tally.wrong("identify", f"{photo.name}: unexpected result {out!r:.200}")
        elif out is not None and i % SAVE_EVERY == 0:
            ref = f"LOAD-{name}-{i}"
            sha = out["results"][0]["sha256"]
            saved = call(tally, "save_case", lambda: cl.submit(
                sha, ref, "", "detained", api_name="/save_case"), timeout)
            if saved is not None:
                tally.saved(ref)


def trainee(cl, tally: Tally, deadline: float, timeout: float, seed: int) -> None:
    rng = random.Random(seed)
    question = None
    for _ in range(MAX_ITERATIONS):
        if time.monotonic() >= deadline:
            return
        if question is None:
            out = call(tally, "quiz_start", lambda: cl.submit(
                "all", QUIZ_LENGTH, "medium", True, "common", api_name="/quiz_start"), timeout)
            question = out[2] if out and isinstance(out[2], dict) and out[2].get("choices") else None
            continue
        chosen = rng.choice(question["choices"])["value"]
        tally.sent()
        out = call(tally, "quiz_answer", lambda: cl.submit(
            question["session_id"], question["question_id"], chosen, False,
            api_name="/quiz_answer"), timeout)
        if out is None or out[0].get("finished"):
            question = None
            continue
        sid = question["session_id"]
        out = call(tally, "quiz_next", lambda: cl.submit(sid, api_name="/quiz_next"), timeout)
        question = out[2] if out and isinstance(out[2], dict) and out[2].get("choices") else None


def run(args) -> Result:
    n_officers = min(args.users, max(0, round(args.users * args.officers)))
    officers = [f"officer{i:03d}" for i in range(n_officers)]
    trainees = [f"trainee{i:03d}" for i in range(args.users - n_officers)]
    users = {**{n: "officer" for n in officers}, **{n: "trainee" for n in trainees}}
    photos = officer_photos(args.photos)
    workdir = Path(tempfile.mkdtemp(prefix="wildlife-load-"))
    postgres = None
    if args.postgres:
        from bench.postgres_server import PostgresServer

        postgres = PostgresServer.start()
    db_url = postgres.new_database() if postgres else args.db
    servers: list[Server] = []
    tally, probes, clients = Tally(), [], {}
    print(f"load test: {len(officers)} officers, {len(trainees)} trainees, {args.seconds:.0f} s, "
          f"{len(photos)} photos, model {Path(args.bundle).resolve().name}, "
          f"{args.processes} app process(es) on {'PostgreSQL' if postgres or (db_url or '').startswith('postgresql') else 'SQLite'}, "
          f"load average {c.load_average()}", file=sys.stderr)
    try:
        data, db_url = prepare_data(args.bundle, workdir, db_url, users)
        servers = [Server(data, db_url, args.photos, workdir / f"server{i}.log")
                   for i in range(args.processes)]
        try:
            for server in servers:
                server.start()
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        downloads = workdir / "downloads"
        server_of = {name: servers[i % len(servers)] for i, name in enumerate(users)}
        for name in users:  # sign everyone in first: logins are not part of the timing
            clients[name] = client(server_of[name].url, name, downloads, args.timeout)
        # Warm-up (not counted): the model, the quiz photos and the heat-map model load.
        from gradio_client import handle_file

        warm = Tally()
        if officers:
            call(warm, "identify", lambda: clients[officers[0]].submit(
                [handle_file(str(photos[0]))], None, api_name="/identify"), args.timeout * 4)
        if trainees:
            call(warm, "quiz_start", lambda: clients[trainees[0]].submit(
                "all", 1, "medium", True, "common", api_name="/quiz_start"), args.timeout * 4)
        if warm.errors:
            print(f"warning: warm-up failed: {warm.errors[0]}", file=sys.stderr)
        deadline = time.monotonic() + args.seconds
        threads = [threading.Thread(target=officer, name=n, daemon=True, args=(
                       clients[n], n, photos, tally, deadline, args.timeout, i))
                   for i, n in enumerate(officers)]
        threads += [threading.Thread(target=trainee, name=n, daemon=True, args=(
                        clients[n], tally, deadline, args.timeout, 1000 + i))
                    for i, n in enumerate(trainees)]
        threads.append(threading.Thread(target=probe, name="probe", daemon=True,
                                        args=(servers[0].url, deadline, probes)))
        for th in threads:
            th.start()
        for th in threads:  # every call is bounded by --timeout, so this ends
            th.join(timeout=max(0.0, deadline - time.monotonic()) + args.timeout + 30)
        stuck = [th.name for th in threads if th.is_alive()]
        if stuck:
            tally.errors.append(f"{len(stuck)} users still waiting after the run: {', '.join(stuck[:5])}")
        answers_stored, cases_stored, problems = stored(db_url, trainees, tally.cases_saved)
        tally.errors += problems
    finally:
        for cl in clients.values():
            cl.close()
        for server in servers:
            server.stop()
        if postgres is not None:
            postgres.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}", file=sys.stderr)

    every = [x for v in tally.latencies.values() for x in v]
    for kind, values in sorted(tally.latencies.items()):
        print(f"  {kind:<12} {len(values):>6} requests, p50 {1000 * percentile(values, 50):7.0f} ms, "
              f"p95 {1000 * percentile(values, 95):7.0f} ms", file=sys.stderr)
    if probes:
        print(f"  {'probe GET':<12} {len(probes):>6} requests, p50 {1000 * percentile(probes, 50):7.0f} ms, "
              f"p95 {1000 * percentile(probes, 95):7.0f} ms, max {1000 * max(probes):.0f} ms "
              "(not counted)", file=sys.stderr)
    for message in tally.errors[:10]:
        print(f"  error: {message}", file=sys.stderr)
    return Result(tally.requests, len(tally.errors), 1000 * percentile(every, 50),
                  1000 * percentile(every, 95), tally.answers_sent, answers_stored,
                  len(tally.cases_saved), cases_stored)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=50, help="simulated users (default 50)")
    p.add_argument("--seconds", type=float, default=120.0, help="how long they work (default 120)")
    p.add_argument("--officers", type=float, default=0.5,
                   help="share of users who are officers identifying photos (default 0.5)")
    p.add_argument("--bundle", type=Path, default=c.DEFAULT_BUNDLE,
                   help="model bundle to serve (default data/models/current)")
    p.add_argument("--photos", type=Path, default=c.PHOTOS, help="folder of <class>/<photo> folders")
    p.add_argument("--timeout", type=float, default=120.0, help="longest wait for one request (s)")
    p.add_argument("--keep", action="store_true", help="keep the temporary data folder and server log")
    p.add_argument("--processes", type=int, default=1,
                   help="app processes sharing the database and data folder (default 1)")
    db = p.add_mutually_exclusive_group()
    db.add_argument("--postgres", action="store_true",
                    help="records on a throwaway PostgreSQL server (scripts/postgres_throwaway.sh)")
    db.add_argument("--db", help="records database URL of your own (default: SQLite in the "
                                 "temporary data folder)")
    args = p.parse_args(argv)
    if (args.users < 1 or args.seconds <= 0 or not 0 <= args.officers <= 1 or args.timeout <= 0
            or not 1 <= args.processes <= 8):
        p.error("--users >= 1, --seconds > 0, 0 <= --officers <= 1, --timeout > 0 and "
                "1 <= --processes <= 8")
    return args


def main(argv: Sequence[str] | None = None) -> Result:
    result = run(parse(argv))
    print(result.line(), flush=True)
    return result


if __name__ == "__main__":
    sys.exit(0 if main().ok else 1)
