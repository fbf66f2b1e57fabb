"""The connection to the records database, and the two kinds of transaction every
part of the store uses.

Why its own module: the store's parts (users, cases, quizzes, photos, audit) each take a
`Database` in their constructor, so what they need is written in code, not in a comment.

SQLite settings (per connection): WAL journal, `synchronous=FULL` (a record whose method
has returned survives SIGKILL and power loss), foreign keys on, a busy timeout. Writes
start with `BEGIN IMMEDIATE`, so concurrent writers queue on the busy timeout instead of
failing on a read-to-write lock upgrade. Reads use plain deferred transactions.

PostgreSQL: `postgresql://...` is driven by psycopg 3; pooled connections are pinged
before use, so the app recovers by itself once a restarted server answers again.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from serve.records.errors import DatabaseUnavailable

_BEGIN_MODES = {"DEFERRED", "IMMEDIATE"}


def _sqlite_connect(busy_timeout_s: float):
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _sqlite_begin)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        mode = cur.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"SQLite refused WAL mode (got {mode!r}); keep records.db on a "
                               "local disk, not a network share")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()
    return on_connect


def _sqlite_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode if mode in _BEGIN_MODES else 'DEFERRED'}")


def make_engine(url: str, busy_timeout_s: float = 30.0) -> Engine:
    """An engine for `url` with the settings above; in-memory SQLite is refused."""
    u = make_url(url)
    if u.get_backend_name() == "postgresql":
        if u.drivername == "postgresql":  # plain postgresql:// means psycopg 3 here
            u = u.set(drivername="postgresql+psycopg")
        return create_engine(u, pool_pre_ping=True, pool_size=10, max_overflow=40,
                             connect_args={"connect_timeout": int(busy_timeout_s)})
    if u.get_backend_name() != "sqlite":
        raise ValueError(f"{u.render_as_string(hide_password=True)!r}: the records database is "
                         "SQLite (sqlite:///path) or PostgreSQL (postgresql://user@host/db)")
    if not u.database or u.database == ":memory:" or u.query.get("mode") == "memory":
        raise ValueError(f"{url!r} is an in-memory SQLite database, private to one connection; "
                         "use a file, e.g. sqlite:///data/records.db (tests: a tmp_path file)")
    Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(u, pool_size=10, max_overflow=40, pool_timeout=busy_timeout_s,
                           connect_args={"timeout": busy_timeout_s})
    event.listen(engine, "connect", _sqlite_connect(busy_timeout_s))
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _is_unavailable(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if type(orig).__module__.startswith("psycopg"):
        import psycopg

        return isinstance(orig, (psycopg.OperationalError, psycopg.InterfaceError))
    return "database is locked" in str(orig)


class Database:
    """An engine and its transactions: `reading()` and `writing()` (commits on success).

    Every store method is one such short transaction; sessions never outlive it, and
    objects loaded in it stay readable afterwards (`expire_on_commit=False`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(sqlite_begin="IMMEDIATE"),
                                   expire_on_commit=False)

    @classmethod
    def connect(cls, url: str, busy_timeout_s: float = 30.0) -> Database:
        return cls(make_engine(url, busy_timeout_s))

    @property
    def dialect(self) -> str:
        """"sqlite" or "postgresql"."""
        return self.engine.dialect.name

    @property
    def where(self) -> str:
        """The database's URL without its password, for messages."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self.unavailable_as_error(), self._read() as s:
            yield s

    @contextmanager
    def writing(self) -> Iterator[Session]:
        with self.unavailable_as_error(), self._write.begin() as s:
            yield s

    @contextmanager
    def unavailable_as_error(self) -> Iterator[None]:
        """A server that is down (or SQLite locked past its timeout) becomes
        `DatabaseUnavailable`, a message a person can act on; other errors pass."""
        try:
            yield
        except DBAPIError as exc:
            if not _is_unavailable(exc):
                raise
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise DatabaseUnavailable(
                f"the records database {self.where} did not answer ({first}), so this request "
                "did not complete. Try again in a moment; if it persists, tell the "
                "administrator to check the database server") from exc

    def close(self) -> None:
        self.engine.dispose()
