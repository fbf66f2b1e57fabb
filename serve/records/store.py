"""The records database: users, case log, quizzes, certificates, audit log, photo metadata.

Open it once per process and share it between threads:

    store = Store.open("sqlite:///data/records.db")     # or postgresql://user@host/db

`Store` is a facade over five parts, each given the same `Database` (engine and
transactions, `serve.records.database`) when it is built:

    store.users     accounts                  (serve/records/users.py)
    store.cases     seizure records, confirmations, photo review (serve/records/cases.py)
    store.quizzes   quizzes, memory, certificates (serve/records/quiz.py)
    store.photos    photo metadata            (serve/records/photos.py)
    store.trail     the append-only audit log (serve/records/audit.py)

Their methods are also the store's own (`store.add_case` is `store.cases.add_case`), so
callers need one object. Every method is its own short transaction and returns frozen
dataclasses from `serve.records.schema`; ORM objects never leave the parts.

Role checks belong to the caller (`serve.records.auth.require`); the store enforces only
ownership rules that protect data: a quiz is answered once, in its own session, by its
own trainee.
"""
from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import Engine

from serve.records.audit import AuditRecords
from serve.records.auth import PermissionDenied
from serve.records.cases import CaseRecords, ReviewItem
from serve.records.checks import hamming
from serve.records.database import Database
from serve.records.errors import AlreadyAnswered, AlreadyExists, NotFound, QuizClosed, RecordError
from serve.records.migrations import prepare
from serve.records.photos import PhotoRecords
from serve.records.quiz import QuizRecords
from serve.records.schema import (AuditEntry, Case, CaseAction, CasePhoto, Certificate,
                                  PhotoMatch, PhotoRecord, PhotoReview, QuizAnswer, QuizQuestion,
                                  QuizQuestionSpec, QuizSession, User)
from serve.records.seizure import Confirmation, Seizure
from serve.records.users import UserRecords

__all__ = [
    "Store", "RecordError", "NotFound", "AlreadyExists", "AlreadyAnswered", "QuizClosed",
    "PermissionDenied", "User", "Case", "CaseAction", "QuizSession", "QuizQuestion",
    "QuizQuestionSpec", "QuizAnswer", "Certificate", "AuditEntry", "PhotoRecord", "PhotoMatch",
    "CasePhoto", "PhotoReview", "ReviewItem", "Seizure", "Confirmation", "hamming",
]


def _part(part: str, method: Callable[..., Any]) -> property:
    """`store.<name>` is `store.<part>.<name>` (same signature and docstring)."""
    name = method.__name__
    return property(lambda store: getattr(getattr(store, part), name), doc=method.__doc__)


class Store:
    """Facade over the records database. Thread-safe; create one per process."""

    def __init__(self, db: Database, *, bcrypt_rounds: int | None = None) -> None:
        self.db = db
        self.users = UserRecords(db, bcrypt_rounds)
        self.cases = CaseRecords(db)
        self.quizzes = QuizRecords(db)
        self.photos = PhotoRecords(db)
        self.trail = AuditRecords(db)

    @classmethod
    def open(cls, url: str, *, bcrypt_rounds: int | None = None,
             busy_timeout_s: float = 30.0) -> Store:
        """Connect, create missing tables and the audit-log guard, check the schema version."""
        db = Database.connect(url, busy_timeout_s)
        try:
            prepare(db, url)
        except BaseException:
            db.close()
            raise
        return cls(db, bcrypt_rounds=bcrypt_rounds)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def engine(self) -> Engine:
        """For maintenance and tests (PRAGMA checks); the app should not need it."""
        return self.db.engine

    # --- the parts' methods, as the store's own ----------------------------------------
    add_user = _part("users", UserRecords.add_user)
    set_password = _part("users", UserRecords.set_password)
    authenticate = _part("users", UserRecords.authenticate)
    get_user = _part("users", UserRecords.get_user)
    list_users = _part("users", UserRecords.list_users)
    set_language = _part("users", UserRecords.set_language)
    admin_password_is_default_or_empty = _part("users",
                                               UserRecords.admin_password_is_default_or_empty)

    add_case = _part("cases", CaseRecords.add_case)
    get_case = _part("cases", CaseRecords.get_case)
    list_cases = _part("cases", CaseRecords.list_cases)
    update_seizure = _part("cases", CaseRecords.update_seizure)
    confirm = _part("cases", CaseRecords.confirm)
    review_queue = _part("cases", CaseRecords.review_queue)
    review_photo = _part("cases", CaseRecords.review_photo)

    start_quiz = _part("quizzes", QuizRecords.start_quiz)
    get_quiz = _part("quizzes", QuizRecords.get_quiz)
    quizzes_of = _part("quizzes", QuizRecords.quizzes_of)
    record_answer = _part("quizzes", QuizRecords.record_answer)
    finish_quiz = _part("quizzes", QuizRecords.finish_quiz)
    open_quizzes = _part("quizzes", QuizRecords.open_quizzes)
    shown_photos = _part("quizzes", QuizRecords.shown_photos)
    answers_for = _part("quizzes", QuizRecords.answers_for)
    cohort_answers = _part("quizzes", QuizRecords.cohort_answers)
    get_memory = _part("quizzes", QuizRecords.get_memory)
    memory_of = _part("quizzes", QuizRecords.memory_of)
    put_memory = _part("quizzes", QuizRecords.put_memory)
    issue_certificate = _part("quizzes", QuizRecords.issue_certificate)
    get_certificate = _part("quizzes", QuizRecords.get_certificate)
    certificates_of = _part("quizzes", QuizRecords.certificates_of)

    add_photo = _part("photos", PhotoRecords.add_photo)
    get_photo = _part("photos", PhotoRecords.get_photo)
    photos_of = _part("photos", PhotoRecords.photos_of)
    all_photos = _part("photos", PhotoRecords.all_photos)
    find_by_phash = _part("photos", PhotoRecords.find_by_phash)
    remove_photo = _part("photos", PhotoRecords.remove_photo)
    restore_photo = _part("photos", PhotoRecords.restore_photo)

    audit = _part("trail", AuditRecords.audit)
    audit_log = _part("trail", AuditRecords.audit_log)
