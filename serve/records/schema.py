"""What the records database holds, and the typed records it hands out.

Each table has two faces:

* an ORM row class (`...Row`), private to the persistence layer, and
* a frozen dataclass (`User`, `Case`, ...), the only thing callers ever see;
  `row.record()` converts one into the other while its session is still open.

The column types they share are in `serve.records.columns`; the seizure record (cases
and their photos) in `serve.records.case_schema`, re-exported here.

Version history (`serve.records.migrations` brings an older database up to date):
  1  users, cases, quizzes, memory, certificates, audit log, photos.
  2  cases become seizure records (seizure fields, several photos in `case_photos`,
     confirmation); the `analyst` role.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from serve.records.auth import Role
from serve.records.case_schema import (Case, CaseAction, CasePhoto, CasePhotoRow,  # noqa: F401
                                       CaseRow, PhotoReview)
from serve.records.columns import NAME, Base, UTCDateTime, enum_column

SCHEMA_VERSION = 2


# --- typed records (what callers get) --------------------------------------------------

@dataclass(frozen=True)
class User:
    name: str
    role: Role
    language: str
    created_at: datetime
    weak_password: bool  # set when the password was chosen; the hash is never exposed


@dataclass(frozen=True)
class QuizQuestion:
    """A question as the trainee may see it: never carries the answer."""

    id: int
    session_id: int
    position: int
    public: dict[str, Any]
    answered: bool


@dataclass(frozen=True)
class QuizSession:
    id: int
    trainee: str
    syllabus: Any
    length: int
    started_at: datetime
    finished_at: datetime | None
    questions: tuple[QuizQuestion, ...]


@dataclass(frozen=True)
class QuizQuestionSpec:
    """Input to `Store.start_quiz`: what to show, the right answer, and the class it tests
    (defaults to the answer)."""

    public: Mapping[str, Any]
    answer: str
    class_id: str | None = None


@dataclass(frozen=True)
class QuizAnswer:
    question_id: int
    session_id: int
    trainee: str
    chosen: str
    correct: bool
    expected: str
    class_id: str | None
    answered_at: datetime


@dataclass(frozen=True)
class Certificate:
    id: int
    trainee: str
    syllabus: str
    issued_at: datetime
    score: dict[str, Any]


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    who: str
    action: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class PhotoRecord:
    sha256: str
    class_id: str
    ext: str
    width: int
    height: int
    phash: str
    source: str
    licence: str
    credit: str
    uploader: str
    added_at: datetime
    removed: bool
    removed_by: str | None
    removed_at: datetime | None
    removed_reason: str | None


@dataclass(frozen=True)
class PhotoMatch:
    photo: PhotoRecord
    distance: int  # Hamming distance between perceptual hashes, in bits


# --- tables ---------------------------------------------------------------------------

class SchemaInfoRow(Base):
    __tablename__ = "schema_info"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class UserRow(Base):
    __tablename__ = "users"
    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    password_hash: Mapped[str] = mapped_column(String(100))
    weak_password: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str] = mapped_column(String(16), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    def record(self) -> User:
        return User(self.name, Role(self.role), self.language, self.created_at,
                    bool(self.weak_password))


class QuizSessionRow(Base):
    __tablename__ = "quiz_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trainee: Mapped[str] = mapped_column(NAME, ForeignKey("users.name"), index=True)
    syllabus: Mapped[Any] = mapped_column(JSON)
    length: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def record(self, questions: list[QuizQuestionRow]) -> QuizSession:
        return QuizSession(self.id, self.trainee, self.syllabus, self.length, self.started_at,
                           self.finished_at, tuple(q.record() for q in questions))


class QuizQuestionRow(Base):
    __tablename__ = "quiz_questions"
    __table_args__ = (UniqueConstraint("session_id", "position"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("quiz_sessions.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    public: Mapped[dict] = mapped_column(JSON)
    answer: Mapped[str] = mapped_column(String(200))  # never leaves the server unanswered
    class_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    answered: Mapped[bool] = mapped_column(Boolean, default=False)

    def record(self) -> QuizQuestion:
        return QuizQuestion(self.id, self.session_id, self.position, dict(self.public),
                            bool(self.answered))


class QuizAnswerRow(Base):
    __tablename__ = "quiz_answers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("quiz_questions.id"), unique=True)
    trainee: Mapped[str] = mapped_column(NAME, ForeignKey("users.name"), index=True)
    chosen: Mapped[str] = mapped_column(String(200))
    correct: Mapped[bool] = mapped_column(Boolean)
    class_id: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    def record(self, question: QuizQuestionRow) -> QuizAnswer:
        return QuizAnswer(self.question_id, question.session_id, self.trainee, self.chosen,
                          bool(self.correct), question.answer, self.class_id, self.answered_at)


class MemoryRow(Base):
    __tablename__ = "memory_states"
    trainee: Mapped[str] = mapped_column(NAME, ForeignKey("users.name"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str] = mapped_column(Text)  # JSON text, opaque to this layer
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CertificateRow(Base):
    __tablename__ = "certificates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trainee: Mapped[str] = mapped_column(NAME, ForeignKey("users.name"), index=True)
    syllabus: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    score: Mapped[dict] = mapped_column(JSON)

    def record(self) -> Certificate:
        return Certificate(self.id, self.trainee, self.syllabus, self.issued_at, dict(self.score))


class AuditRow(Base):
    """Append-only: see `AUDIT_GUARD_SQLITE` / `AUDIT_GUARD_POSTGRESQL`."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    who: Mapped[str] = mapped_column(NAME, index=True)  # no FK: may be "system", "cli", unknown
    action: Mapped[str] = mapped_column(String(100), index=True)
    detail: Mapped[dict] = mapped_column(JSON)

    def record(self) -> AuditEntry:
        return AuditEntry(self.id, self.at, self.who, self.action, dict(self.detail or {}))


class PhotoRow(Base):
    __tablename__ = "photos"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    class_id: Mapped[str] = mapped_column(String(200), index=True)
    ext: Mapped[str] = mapped_column(String(8))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    phash: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(200), default="")
    licence: Mapped[str] = mapped_column(String(200), default="")
    credit: Mapped[str] = mapped_column(String(300), default="")
    uploader: Mapped[str] = mapped_column(NAME)  # no FK: bulk imports use a script name
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    removed: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    removed_by: Mapped[str | None] = mapped_column(NAME, nullable=True)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    removed_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    def record(self) -> PhotoRecord:
        return PhotoRecord(self.sha256, self.class_id, self.ext, self.width, self.height,
                           self.phash, self.source, self.licence, self.credit, self.uploader,
                           self.added_at, bool(self.removed), self.removed_by, self.removed_at,
                           self.removed_reason)


# --- append-only guard for the audit log ----------------------------------------------

AUDIT_GUARD_SQLITE = (
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
)

# PostgreSQL equivalent (applied by Store.open on PostgreSQL; tested in the `postgres`
# tier). A stronger alternative is to run the app as a role that was never granted
# UPDATE/DELETE:  REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM app;
AUDIT_GUARD_POSTGRESQL = (
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
    "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
)
