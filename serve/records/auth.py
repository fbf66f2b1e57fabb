"""Who may do what, and how passwords are kept.

Three things live here, all free of any web framework or database:

1. `Role` and `Permission`, and `PERMISSIONS`, the one table saying which role may do
   what. `require(user, permission)` is the single gate the app calls before acting.
2. Password handling: `validate_password`, `hash_password`, `verify_password` (bcrypt),
   and `is_weak_default` (passwords an attacker would try first).
3. `check_bind_safety`: the app refuses to listen on a network address while the
   admin password is a default or empty one.

Why trainees may IDENTIFY: trainees learn by running the identifier on practice photos
and comparing its answer with their own. Identifying writes nothing; what is kept out of
their reach is LOG_CASE, so practice never ends up in the case log that officers rely on.
"""
from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import unicodedata
from enum import StrEnum
from typing import Mapping, Protocol

import bcrypt


class Role(StrEnum):
    OFFICER = "officer"
    TRAINEE = "trainee"
    TRAINER = "trainer"
    ADMIN = "admin"
    ANALYST = "analyst"  # reads and exports every seizure record; no training rights


class Permission(StrEnum):
    IDENTIFY = "identify"
    LOG_CASE = "log_case"
    VIEW_OWN_CASES = "view_own_cases"
    VIEW_ALL_CASES = "view_all_cases"
    CONFIRM_CASES = "confirm_cases"
    ANALYSE_SEIZURES = "analyse_seizures"
    TAKE_QUIZ = "take_quiz"
    VIEW_COHORT = "view_cohort"
    EDIT_CATALOGUE = "edit_catalogue"
    UPLOAD_PHOTOS = "upload_photos"
    TRAIN = "train"
    PUBLISH = "publish"
    MANAGE_USERS = "manage_users"


# What each permission lets a person do, worded for error messages.
ACTIONS: Mapping[Permission, str] = {
    Permission.IDENTIFY: "identify specimens",
    Permission.LOG_CASE: "log cases",
    Permission.VIEW_OWN_CASES: "view their own cases",
    Permission.VIEW_ALL_CASES: "view every officer's cases",
    Permission.CONFIRM_CASES: "record expert or laboratory confirmations",
    Permission.ANALYSE_SEIZURES: "analyse seizure records",
    Permission.TAKE_QUIZ: "take quizzes",
    Permission.VIEW_COHORT: "view the cohort's quiz results",
    Permission.EDIT_CATALOGUE: "edit the species catalogue",
    Permission.UPLOAD_PHOTOS: "upload reference photos",
    Permission.TRAIN: "retrain the model",
    Permission.PUBLISH: "publish a model",
    Permission.MANAGE_USERS: "manage user accounts",
}

PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.TRAINER: frozenset(Permission) - {Permission.MANAGE_USERS},
    Role.OFFICER: frozenset({
        Permission.IDENTIFY, Permission.LOG_CASE, Permission.VIEW_OWN_CASES, Permission.TAKE_QUIZ,
    }),
    Role.TRAINEE: frozenset({Permission.TAKE_QUIZ, Permission.IDENTIFY}),
    Role.ANALYST: frozenset({Permission.VIEW_ALL_CASES, Permission.ANALYSE_SEIZURES}),
}


class PermissionDenied(Exception):
    """Someone tried something their role (or ownership) does not allow."""

    def __init__(self, message: str, *, user: str | None = None, role: Role | None = None,
                 permission: Permission | None = None) -> None:
        super().__init__(message)
        self.user = user
        self.role = role
        self.permission = permission


class HasRole(Protocol):
    """Anything with a name and a role, e.g. `serve.records.store.User`."""

    name: str
    role: Role


def parse_role(role: Role | str) -> Role:
    """`Role` from a role or its name; a clear error naming the choices otherwise."""
    try:
        return Role(role.lower() if isinstance(role, str) else role)
    except (ValueError, AttributeError):
        choices = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {role!r}; choose one of {choices}") from None


def can(who: HasRole | Role | str | None, permission: Permission) -> bool:
    """True if this user (or role) holds the permission. Nobody signed in holds none."""
    if who is None:
        return False
    role = parse_role(who if isinstance(who, (Role, str)) else who.role)
    return Permission(permission) in PERMISSIONS[role]


def may_edit_case(user: HasRole | None, officer: str) -> bool:
    """The officer who logged a case may correct its seizure fields; so may those who
    confirm cases (trainers, admins). Analysts read, never write."""
    if user is None:
        return False
    return ((user.name == officer and can(user, Permission.LOG_CASE))
            or can(user, Permission.CONFIRM_CASES))


def require(user: HasRole | None, permission: Permission) -> None:
    """Raise `PermissionDenied` unless `user` may do `permission`."""
    permission = Permission(permission)
    action = ACTIONS[permission]
    if user is None:
        raise PermissionDenied(f"sign in to {action}", permission=permission)
    if not can(user, permission):
        role = parse_role(user.role)
        allowed = sorted(r.value for r, perms in PERMISSIONS.items() if permission in perms)
        raise PermissionDenied(
            f"user {user.name!r} (role {role.value}) may not {action}; "
            f"this needs one of the roles: {', '.join(allowed)} — ask an admin",
            user=user.name, role=role, permission=permission)


# --- passwords ------------------------------------------------------------------------

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
DEFAULT_BCRYPT_ROUNDS = 12
BCRYPT_ROUNDS_ENV = "WILDLIFE_BCRYPT_ROUNDS"  # e.g. 4 in tests; never lower in production

# Passwords tried first by anyone guessing; compared case-insensitively.
COMMON_DEFAULTS = frozenset({
    "admin", "administrator", "adminadmin", "admin123", "admin1234", "password", "password1",
    "passw0rd", "p@ssw0rd", "changeme", "change-me", "change_me", "letmein", "welcome",
    "default", "secret", "root", "toor", "guest", "test", "testtest", "qwerty", "qwertyui",
    "12345678", "123456789", "1234567890", "87654321", "wildlife", "wildlife-id", "customs",
    "officer", "trainee", "trainer",
})


class WeakPassword(ValueError):
    """A password refused before hashing (empty, too short, too long)."""


def validate_password(password: str) -> str:
    """Return the password (NFC-normalised) or raise `WeakPassword` saying what to fix."""
    if not isinstance(password, str):
        raise WeakPassword(f"password must be text, not {type(password).__name__}")
    password = unicodedata.normalize("NFC", password)
    if not password.strip():
        raise WeakPassword("password is empty; choose one of at least "
                           f"{MIN_PASSWORD_LENGTH} characters")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"password has {len(password)} characters; use at least "
                           f"{MIN_PASSWORD_LENGTH}")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"password has {len(password)} characters; use at most "
                           f"{MAX_PASSWORD_LENGTH}")
    return password


def bcrypt_rounds(rounds: int | None = None) -> int:
    """The bcrypt cost to use: `rounds`, else $WILDLIFE_BCRYPT_ROUNDS, else 12."""
    if rounds is None:
        raw = os.environ.get(BCRYPT_ROUNDS_ENV, "").strip()
        if not raw:
            return DEFAULT_BCRYPT_ROUNDS
        try:
            rounds = int(raw)
        except ValueError:
            raise ValueError(f"{BCRYPT_ROUNDS_ENV}={raw!r} is not a whole number; "
                             f"use 4..31 (default {DEFAULT_BCRYPT_ROUNDS})") from None
    if not 4 <= rounds <= 31:
        raise ValueError(f"bcrypt cost {rounds} is out of range; use 4..31 "
                         f"(default {DEFAULT_BCRYPT_ROUNDS})")
    return rounds


def _prehash(password: str) -> bytes:
    # bcrypt reads at most 72 bytes (bcrypt 5 refuses longer input). A SHA-256 digest,
    # base64-encoded (44 bytes, no NUL), keeps every character of a long passphrase.
    digest = hashlib.sha256(unicodedata.normalize("NFC", password).encode("utf-8")).digest()
    return base64.b64encode(digest)


def hash_password(password: str, rounds: int | None = None) -> str:
    """Validate, then bcrypt-hash a password. Returns the `$2b$...` string to store."""
    password = validate_password(password)
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(bcrypt_rounds(rounds))).decode("ascii")


def verify_password(password: str, hashed: str) -> bool:
    """Constant-time check of a password against a stored hash; False on any malformed input."""
    if not isinstance(password, str) or not isinstance(hashed, str):
        return False
    try:
        return bcrypt.checkpw(_prehash(password), hashed.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return False


def is_weak_default(password: str | None) -> bool:
    """True for empty, short, well-known default, or single-repeated-character passwords."""
    if not password or not password.strip():
        return True
    p = unicodedata.normalize("NFC", password).strip()
    return (len(p) < MIN_PASSWORD_LENGTH or p.lower() in COMMON_DEFAULTS
            or len(set(p)) == 1)


# --- network exposure -----------------------------------------------------------------

class UnsafeBind(RuntimeError):
    """The app would be reachable from the network with a guessable admin password."""


def is_loopback(host: str) -> bool:
    """True only for addresses reachable from this machine alone (127.0.0.0/8, ::1, localhost).

    Empty, 0.0.0.0 and :: mean "every interface" and are not loopback; so is any other
    host name, since it may resolve to a public address.
    """
    host = (host or "").strip().strip("[]").lower()
    if host in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind_safety(host: str, admin_password_is_default_or_empty: bool) -> None:
    """Refuse (raise `UnsafeBind`) to serve on a network address with a weak admin password."""
    if admin_password_is_default_or_empty and not is_loopback(host):
        raise UnsafeBind(
            f"refusing to listen on {host or '<all interfaces>'!r}: the admin password is "
            "empty or a well-known default, so anyone on the network could take over. "
            "Set a strong one first (python -m serve users reset admin), or listen on "
            "127.0.0.1 only.")
