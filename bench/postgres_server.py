"""A throwaway PostgreSQL server for the `postgres` test tier and the load test
(`bench/load_test.py --postgres`), driven by
`scripts/postgres_throwaway.sh` (its own cluster in a temporary folder, 127.0.0.1 only).

    with PostgresServer.start() as pg:
        url = pg.new_database()        # an empty database of its own
        pg.kill(); pg.restart()        # crash tests
"""
from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "postgres_throwaway.sh"


def installed() -> bool:
    return any(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, folder: Path, url: str) -> None:
        self.folder, self.url = folder, url
        self._names = itertools.count()

    @classmethod
    def start(cls) -> PostgresServer:
        folder = Path(tempfile.mkdtemp(prefix="wildlife-pg-"))
        out = cls._run("start", str(folder), str(free_port()))
        return cls(folder, out.strip().splitlines()[-1])

    @staticmethod
    def _run(*args: str) -> str:
        proc = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                              timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"postgres_throwaway.sh {args[0]} failed: {proc.stderr[-2000:]}")
        return proc.stdout

    def new_database(self) -> str:
        """URL of a fresh, empty database on this server."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def sql(self, statement: str) -> str:
        psql = shutil.which("psql") or "psql"
        proc = subprocess.run([psql, self.url, "-tAc", statement], capture_output=True,
                              text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"psql {statement!r}: {proc.stderr}")
        return proc.stdout.strip()

    def kill(self) -> None:
        self._run("kill", str(self.folder))

    def restart(self) -> None:
        self._run("restart", str(self.folder))

    def stop(self) -> None:
        self._run("stop", str(self.folder))

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
