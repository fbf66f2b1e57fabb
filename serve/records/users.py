"""User accounts in the records database: create, authenticate, change password or
language. Roles and password hashing themselves live in `serve.records.auth`.

`existing_user(session, name)` is the one lookup every other part uses to check that an
officer or trainee exists before writing in their name.
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serve.records.auth import Role, hash_password, is_weak_default, parse_role, verify_password
from serve.records.checks import check_language, check_name, now
from serve.records.database import Database
from serve.records.errors import AlreadyExists, NotFound
from serve.records.schema import User, UserRow


def existing_user(s: Session, name: str, what: str = "user") -> UserRow:
    """The user row named `name` inside session `s`; `NotFound` naming the fix otherwise."""
    row = s.get(UserRow, name) if isinstance(name, str) else None
    if row is None:
        raise NotFound(f"no {what} named {name!r}; add one with "
                       f"`python -m serve users add {name} --role ...`")
    return row


class UserRecords:
    """Accounts. `bcrypt_rounds` None means `auth.bcrypt_rounds()`'s default."""

    def __init__(self, db: Database, bcrypt_rounds: int | None = None) -> None:
        self._db = db
        self._rounds = bcrypt_rounds
        self._dummy_hash: str | None = None

    def add_user(self, name: str, role: Role | str, password: str, language: str = "en") -> User:
        name, role = check_name(name), parse_role(role)
        language = check_language(language)
        pw_hash = hash_password(password, self._rounds)  # slow: outside the transaction
        try:
            with self._db.writing() as s:
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
        with self._db.writing() as s:
            row = existing_user(s, name)
            row.password_hash, row.weak_password = pw_hash, is_weak_default(password)

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if the password matches, else None. Takes one bcrypt check either way,
        so response time does not reveal whether the name exists."""
        with self._db.reading() as s:
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
        with self._db.reading() as s:
            row = s.get(UserRow, name)
            return row.record() if row else None

    def list_users(self) -> list[User]:
        with self._db.reading() as s:
            return [r.record() for r in s.scalars(select(UserRow).order_by(UserRow.name))]

    def set_language(self, name: str, language: str) -> User:
        language = check_language(language)
        with self._db.writing() as s:
            row = existing_user(s, name)
            row.language = language
            return row.record()

    def admin_password_is_default_or_empty(self) -> bool:
        """True if any admin's password is weak (for `auth.check_bind_safety`).
        No admin account at all is False: there is no admin password to guess."""
        with self._db.reading() as s:
            q = select(func.count()).select_from(UserRow).where(
                UserRow.role == Role.ADMIN, UserRow.weak_password.is_(True))
            return s.scalar(q) > 0
