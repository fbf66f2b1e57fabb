"""The records database: users, case log, quizzes, certificates, audit log, photo metadata.

Open it once per process and share it between threads:

    store = Store.open("sqlite:///data/records.db")     # or postgresql+psycopg://...

Every method is its own short transaction and returns frozen dataclasses from
`serve.records.schema` (re-exported here); ORM objects never leave this module.

SQLite settings (per connection): WAL journal, `synchronous=FULL` (a record whose method
has returned survives SIGKILL and power loss), foreign keys on, a busy timeout. Writes
start with `BEGIN IMMEDIATE`, so concurrent writers queue on the busy timeout instead of
failing on a read-to-write lock upgrade. Reads use plain deferred transactions.

Role checks belong to the caller (`serve.records.auth.require`); the store enforces only
ownership rules that protect data: a quiz is answered once, in its own session, by its
own trainee.
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import Engine, create_engine, event, func, or_, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from serve.csv_safe import csv_text
from serve.records.auth import (PermissionDenied, Role, hash_password, is_weak_default, parse_role,
                        verify_password)
from serve.records.schema import (AUDIT_GUARD_POSTGRESQL, AUDIT_GUARD_SQLITE, SCHEMA_VERSION,
                                  AuditEntry, AuditRow, Base, Case, CaseAction, CaseRow,
                                  Certificate, PhotoMatch,
                                  PhotoRecord, PhotoRow, QuizAnswer,
                                  QuizQuestion, QuizQuestionSpec, QuizSession,
                                  SchemaInfoRow, User, UserRow)
from serve.records.checks import (aware, check_json, check_language, check_name, check_phash, check_sha256,
                                  check_text, hamming, like_pattern, now, parse_action)

__all__ = [
    "Store", "RecordError", "NotFound", "AlreadyExists", "AlreadyAnswered", "QuizClosed",
    "PermissionDenied", "User", "Case", "CaseAction", "QuizSession", "QuizQuestion",
    "QuizQuestionSpec", "QuizAnswer", "Certificate", "AuditEntry", "PhotoRecord", "PhotoMatch",
    "CASE_CSV_COLUMNS", "hamming",
]


from serve.records.errors import AlreadyAnswered, AlreadyExists, NotFound, QuizClosed, RecordError  # noqa: E402,F401
from serve.records.quiz import QuizRecords  # noqa: E402


# --- engine ---------------------------------------------------------------------------

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


def _make_engine(url: str, busy_timeout_s: float) -> Engine:
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return create_engine(u, pool_pre_ping=True, pool_size=10, max_overflow=40)
    if not u.database or u.database == ":memory:" or u.query.get("mode") == "memory":
        raise ValueError(f"{url!r} is an in-memory SQLite database, private to one connection; "
                         "use a file, e.g. sqlite:///data/records.db (tests: a tmp_path file)")
    Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(u, pool_size=10, max_overflow=40, pool_timeout=busy_timeout_s,
                           connect_args={"timeout": busy_timeout_s})
    event.listen(engine, "connect", _sqlite_connect(busy_timeout_s))
    event.listen(engine, "begin", _sqlite_begin)
    return engine


CASE_CSV_COLUMNS = ("id", "created_at", "officer", "shipment_ref", "action", "label",
                    "decision", "model_version", "photo_sha256", "note", "prediction")


class Store(QuizRecords):
    """Facade over the records database. Thread-safe; create one per process."""

    def __init__(self, engine: Engine, *, bcrypt_rounds: int | None = None) -> None:
        self._engine = engine
        self._rounds = bcrypt_rounds
        self._read = sessionmaker(engine, expire_on_commit=False)
        writer = engine.execution_options(sqlite_begin="IMMEDIATE")
        self._write = sessionmaker(writer, expire_on_commit=False)
        self._dummy_hash: str | None = None

    @classmethod
    def open(cls, url: str, *, bcrypt_rounds: int | None = None,
             busy_timeout_s: float = 30.0) -> Store:
        """Connect, create missing tables and the audit-log guard, check the schema version."""
        store = cls(_make_engine(url, busy_timeout_s), bcrypt_rounds=bcrypt_rounds)
        try:
            store._prepare(url)
        except BaseException:
            store.close()
            raise
        return store

    def _prepare(self, url: str) -> None:
        dialect = self._engine.dialect.name
        with self._write.begin() as s:
            Base.metadata.create_all(s.connection())
            guard = {"sqlite": AUDIT_GUARD_SQLITE, "postgresql": AUDIT_GUARD_POSTGRESQL}
            for sql in guard.get(dialect, ()):
                s.execute(text(sql))
            row = s.get(SchemaInfoRow, "version")
            if row is None:
                s.add(SchemaInfoRow(key="version", value=str(SCHEMA_VERSION)))
            elif int(row.value) > SCHEMA_VERSION:
                raise RuntimeError(f"{url} holds schema version {row.value}, newer than this "
                                   f"program's {SCHEMA_VERSION}; upgrade the program")

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def engine(self) -> Engine:
        """For maintenance and tests (PRAGMA checks); the app should not need it."""
        return self._engine

    # --- users ------------------------------------------------------------------------

    def add_user(self, name: str, role: Role | str, password: str, language: str = "en") -> User:
        name, role = check_name(name), parse_role(role)
        language = check_language(language)
        pw_hash = hash_password(password, self._rounds)  # slow: outside the transaction
        try:
            with self._write.begin() as s:
                if s.get(UserRow, name) is not None:
                    raise AlreadyExists(f"user {name!r} already exists; to change the password "
                                        f"use `users reset {name}`")
                row = UserRow(name=name, role=role, password_hash=pw_hash, language=language,
                              weak_password=is_weak_default(password), created_at=now())
                s.add(row)
                s.flush()
                return row.record()
        except IntegrityError:
            raise AlreadyExists(f"user {name!r} already exists") from None

    def set_password(self, name: str, password: str) -> None:
        pw_hash = hash_password(password, self._rounds)
        with self._write.begin() as s:
            row = self._user_row(s, name)
            row.password_hash, row.weak_password = pw_hash, is_weak_default(password)

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if the password matches, else None. Takes one bcrypt check either way,
        so response time does not reveal whether the name exists."""
        with self._read() as s:
            row = s.get(UserRow, name) if isinstance(name, str) else None
            stored, user = (row.password_hash, row.record()) if row else (None, None)
        if stored is None:
            if self._dummy_hash is None:
                self._dummy_hash = hash_password("not-a-real-password", self._rounds)
            stored = self._dummy_hash
        ok = verify_password(password, stored)
        return user if ok and user is not None else None

    def get_user(self, name: str) -> User | None:
        if not isinstance(name, str):
            return None
        with self._read() as s:
            row = s.get(UserRow, name)
            return row.record() if row else None

    def list_users(self) -> list[User]:
        with self._read() as s:
            return [r.record() for r in s.scalars(select(UserRow).order_by(UserRow.name))]

    def set_language(self, name: str, language: str) -> User:
        language = check_language(language)
        with self._write.begin() as s:
            row = self._user_row(s, name)
            row.language = language
            return row.record()

    def admin_password_is_default_or_empty(self) -> bool:
        """True if any admin's password is weak (for `auth.check_bind_safety`).
        No admin account at all is False: there is no admin password to guess."""
        with self._read() as s:
            q = select(func.count()).select_from(UserRow).where(
                UserRow.role == Role.ADMIN, UserRow.weak_password.is_(True))
            return s.scalar(q) > 0

    @staticmethod
    def _user_row(s: Session, name: str, what: str = "user") -> UserRow:
        row = s.get(UserRow, name) if isinstance(name, str) else None
        if row is None:
            raise NotFound(f"no {what} named {name!r}; add one with "
                           f"`python -m serve users add {name} --role ...`")
        return row

    # --- cases ------------------------------------------------------------------------

    def add_case(self, *, officer: str, action: CaseAction | str, label: str, decision: str,
                 prediction: Mapping[str, Any], model_version: str, shipment_ref: str = "",
                 note: str = "", photo_sha256: str | None = None) -> Case:
        """Log one case; `created_at` is the server's UTC clock, not the caller's."""
        row = CaseRow(
            officer=officer, action=parse_action(action), created_at=now(),
            label=check_text(label, "label", max_len=200, required=True),
            decision=check_text(decision, "decision", max_len=50, required=True),
            prediction=check_json(dict(prediction), "prediction"),
            model_version=check_text(model_version, "model_version", max_len=100, required=True),
            shipment_ref=check_text(shipment_ref, "shipment_ref", max_len=200),
            note=check_text(note, "note", max_len=10_000),
            photo_sha256=None if photo_sha256 is None else check_sha256(photo_sha256))
        with self._write.begin() as s:
            self._user_row(s, officer, "officer")
            s.add(row)
            s.flush()
            return row.record()

    def list_cases(self, *, officer: str | None = None, label: str | None = None,
                   action: CaseAction | str | None = None, since: datetime | None = None,
                   until: datetime | None = None, text: str | None = None,
                   limit: int | None = 500) -> list[Case]:
        """Newest first. `since` inclusive, `until` exclusive; `text` is a case-insensitive
        substring of shipment_ref, note, label or officer; `limit=None` means all."""
        q = select(CaseRow).order_by(CaseRow.created_at.desc(), CaseRow.id.desc())
        if officer is not None:
            q = q.where(CaseRow.officer == officer)
        if label is not None:
            q = q.where(CaseRow.label == label)
        if action is not None:
            q = q.where(CaseRow.action == parse_action(action))
        if since is not None:
            q = q.where(CaseRow.created_at >= aware(since, "since"))
        if until is not None:
            q = q.where(CaseRow.created_at < aware(until, "until"))
        if text:
            p = like_pattern(text)
            q = q.where(or_(*(c.ilike(p, escape="\\") for c in (
                CaseRow.shipment_ref, CaseRow.note, CaseRow.label, CaseRow.officer))))
        if limit is not None:
            if limit < 1:
                raise ValueError(f"limit={limit}; use a positive number, or None for all")
            q = q.limit(limit)
        with self._read() as s:
            return [r.record() for r in s.scalars(q)]

    def export_cases_csv(self, **filters: Any) -> str:
        """CSV of `list_cases(**filters)` (default: all cases); formula-like cells are
        prefixed with ' so spreadsheets show them as text."""
        filters.setdefault("limit", None)
        rows = []
        for case in self.list_cases(**filters):
            d = case.to_dict()
            d["prediction"] = json.dumps(case.prediction, ensure_ascii=False, sort_keys=True)
            rows.append([d[c] for c in CASE_CSV_COLUMNS])
        return csv_text(CASE_CSV_COLUMNS, rows)

    def export_cases_json(self, **filters: Any) -> str:
        """JSON array of `list_cases(**filters)` (default: all cases), values unaltered."""
        filters.setdefault("limit", None)
        return json.dumps([c.to_dict() for c in self.list_cases(**filters)],
                          ensure_ascii=False, indent=2)

    # --- audit log (append-only) ------------------------------------------------------

    def audit(self, who: str, action: str, detail: Mapping[str, Any] | None = None) -> AuditEntry:
        row = AuditRow(at=now(), who=check_text(who, "who", max_len=64, required=True),
                       action=check_text(action, "audit action", max_len=100, required=True),
                       detail=check_json(dict(detail or {}), "audit detail"))
        with self._write.begin() as s:
            s.add(row)
            s.flush()
            return row.record()

    def audit_log(self, *, who: str | None = None, action: str | None = None,
                  since: datetime | None = None, limit: int | None = 500) -> list[AuditEntry]:
        """Newest first."""
        q = select(AuditRow).order_by(AuditRow.at.desc(), AuditRow.id.desc())
        if who is not None:
            q = q.where(AuditRow.who == who)
        if action is not None:
            q = q.where(AuditRow.action == action)
        if since is not None:
            q = q.where(AuditRow.at >= aware(since, "since"))
        with self._read() as s:
            return [r.record() for r in s.scalars(q if limit is None else q.limit(limit))]

    # --- photo metadata ---------------------------------------------------------------

    def add_photo(self, *, sha256: str, class_id: str, ext: str, width: int, height: int,
                  phash: str, uploader: str, source: str = "", licence: str = "",
                  credit: str = "") -> PhotoRecord:
        sha256 = check_sha256(sha256)
        if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
            raise ValueError(f"photo size {width!r}x{height!r} is not a positive pixel size")
        row = PhotoRow(
            sha256=sha256, width=width, height=height, phash=check_phash(phash),
            class_id=check_text(class_id, "class_id", max_len=200, required=True),
            ext=check_text(ext, "ext", max_len=8, required=True).lower().lstrip("."),
            uploader=check_text(uploader, "uploader", max_len=64, required=True),
            source=check_text(source, "source", max_len=200),
            licence=check_text(licence, "licence", max_len=200),
            credit=check_text(credit, "credit", max_len=300), added_at=now(), removed=False)
        try:
            with self._write.begin() as s:
                old = s.get(PhotoRow, sha256)
                if old is not None:
                    raise AlreadyExists(f"photo {sha256[:12]}… is already in the catalogue as "
                                        f"{old.class_id!r}" + (" (removed)" if old.removed else ""))
                s.add(row)
                s.flush()
                return row.record()
        except IntegrityError:
            raise AlreadyExists(f"photo {sha256[:12]}… is already in the catalogue") from None

    def get_photo(self, sha256: str) -> PhotoRecord | None:
        with self._read() as s:
            row = s.get(PhotoRow, check_sha256(sha256))
            return row.record() if row else None

    def photos_of(self, class_id: str, *, include_removed: bool = False) -> list[PhotoRecord]:
        return self._photos(PhotoRow.class_id == class_id, include_removed=include_removed)

    def all_photos(self, *, include_removed: bool = False) -> list[PhotoRecord]:
        return self._photos(include_removed=include_removed)

    def find_by_phash(self, phash: str, *, max_distance: int = 8,
                      include_removed: bool = False) -> list[PhotoMatch]:
        """Near-duplicates: photos whose perceptual hash (same length) is within
        `max_distance` bits, closest first. Scans hashes only (fine for ~10^5 photos)."""
        phash = check_phash(phash)
        q = select(PhotoRow.sha256, PhotoRow.phash)
        if not include_removed:
            q = q.where(PhotoRow.removed.is_(False))
        with self._read() as s:
            near = {sha: hamming(phash, h) for sha, h in s.execute(q) if len(h) == len(phash)}
            near = {sha: d for sha, d in near.items() if d <= max_distance}
            rows = s.scalars(select(PhotoRow).where(PhotoRow.sha256.in_(list(near)))) if near else []
            matches = [PhotoMatch(r.record(), near[r.sha256]) for r in rows]
        return sorted(matches, key=lambda m: (m.distance, m.photo.sha256))

    def remove_photo(self, sha256: str, *, by: str, reason: str) -> PhotoRecord:
        """Soft delete (kept for the record, left out of training and listings)."""
        reason = check_text(reason, "reason", max_len=2000, required=True)
        return self._set_removed(sha256, True, by=by, reason=reason)

    def restore_photo(self, sha256: str, *, by: str) -> PhotoRecord:
        return self._set_removed(sha256, False, by=by, reason=None)

    def _set_removed(self, sha256: str, removed: bool, *, by: str,
                     reason: str | None) -> PhotoRecord:
        by = check_text(by, "by", max_len=64, required=True)
        with self._write.begin() as s:
            row = s.get(PhotoRow, check_sha256(sha256))
            if row is None:
                raise NotFound(f"no photo {sha256!r} in the catalogue")
            row.removed, row.removed_by, row.removed_reason = removed, by, reason
            row.removed_at = now() if removed else None
            return row.record()

    def _photos(self, *where: Any, include_removed: bool) -> list[PhotoRecord]:
        q = select(PhotoRow).where(*where).order_by(PhotoRow.added_at, PhotoRow.sha256)
        if not include_removed:
            q = q.where(PhotoRow.removed.is_(False))
        with self._read() as s:
            return [r.record() for r in s.scalars(q)]
