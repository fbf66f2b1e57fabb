"""Value checks shared by the records store: each error names the bad value and the fix.

Also the small helpers the store's queries use (UTC now, timezone checks, Hamming
distance of perceptual hashes, escaping for LIKE searches).
"""
from __future__ import annotations

import json
import re
import unicodedata
from datetime import datetime, timezone
from typing import Any

from serve.records.schema import CaseAction

_NAME_RE = re.compile(r"^[\w][\w.@-]{0,63}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_PHASH_RE = re.compile(r"^[0-9a-f]{1,64}$")
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


def now() -> datetime:
    return datetime.now(timezone.utc)


def check_name(name: str, what: str = "user name") -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"{what} {name!r} is not valid; use 1-64 letters, digits, '.', '_', "
                         "'@' or '-', starting with a letter or digit")
    return name


def parse_action(action: CaseAction | str) -> CaseAction:
    try:
        return CaseAction(action)
    except ValueError:
        raise ValueError(f"unknown case action {action!r}; choose one of "
                         f"{', '.join(a.value for a in CaseAction)}") from None


def check_language(language: str) -> str:
    if not isinstance(language, str) or not _LANGUAGE_RE.match(language):
        raise ValueError(f"language {language!r} is not a language code; use e.g. 'en', "
                         "'fr', 'pt'")
    return language


# Text may hold line breaks and tabs, but no other control character (NUL, ESC, DEL...),
# no bidirectional embedding/override/isolate marks (they make a note or a file name
# read differently from what it holds), and no lone surrogate (not valid Unicode).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def forbidden_character(value: str) -> tuple[int, str] | None:
    """(position, character) of the first character text fields refuse, else None."""
    for i, ch in enumerate(value):
        category = unicodedata.category(ch)
        if (category == "Cc" and ch not in "\n\t") or category == "Cs" or ch in _BIDI_CONTROLS:
            return i, ch
    return None


def check_text(value: str, what: str, *, max_len: int, required: bool = False) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be text, not {type(value).__name__} ({value!r})")
    if required and not value.strip():
        raise ValueError(f"{what} is empty; it is required")
    if len(value) > max_len:
        raise ValueError(f"{what} has {len(value)} characters; shorten it to {max_len}")
    bad = forbidden_character(value)
    if bad is not None:
        i, ch = bad
        raise ValueError(f"{what} contains the control character U+{ord(ch):04X} at position {i + 1}; "
                         "remove it (only line breaks and tabs are allowed)")
    return value


MAX_ID = 2**63 - 1  # the largest row id a database integer holds


def check_int(value: Any, what: str, low: int, high: int) -> int:
    """A whole number in low..high, from an int, a whole float or ASCII digits; a clear
    error for anything else (a bool, 1e30, NaN, inf, '12abc')."""
    number = value
    if isinstance(value, str) and value.strip().isascii() and value.strip().lstrip("-").isdigit():
        number = int(value.strip()) if len(value.strip()) <= 20 else None
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if isinstance(number, bool) or not isinstance(number, int):
        raise ValueError(f"{what} {value!r} is not a whole number; pass one from {low} to {high}")
    if not low <= number <= high:
        raise ValueError(f"{what} {value!r} is out of range; pass a whole number from {low} to {high}")
    return number


def check_id(value: Any, what: str = "id") -> int:
    """A database row id: a whole number from 1 to MAX_ID."""
    return check_int(value, what, 1, MAX_ID)


def check_sha256(value: str) -> str:
    v = value.lower() if isinstance(value, str) else value
    if not isinstance(v, str) or not _SHA256_RE.match(v):
        raise ValueError(f"{value!r} is not a SHA-256 hex digest (64 hex characters)")
    return v


def check_phash(value: str) -> str:
    v = value.lower() if isinstance(value, str) else value
    if not isinstance(v, str) or not _PHASH_RE.match(v):
        raise ValueError(f"perceptual hash {value!r} is not hex; pass str(imagehash.phash(img))")
    return v


def check_json(value: Any, what: str) -> Any:
    """The value as it will read back from JSON; a clear error if it is not JSON data."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} is not JSON data ({e}); convert numpy values with "
                         "float()/int()/.tolist() and replace NaN") from None


def aware(value: datetime | None, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{what}={value!r} must be a timezone-aware datetime, e.g. "
                         "datetime.now(timezone.utc)")
    return value


def hamming(a: str, b: str) -> int:
    """Bits that differ between two equal-length hex hashes."""
    if len(a) != len(b):
        raise ValueError(f"hashes {a!r} and {b!r} differ in length; compare like with like")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
