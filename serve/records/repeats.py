"""When saving a case is a repeat of the case just saved, not a second case.

Why: an officer at a counter presses Save twice, or a phone resends the request on a
flaky network, and the records would hold two cases of one seizure (the counts an
analyst reads would double). The page disables Save once a case is saved, but the
server decides, for every client.

The rule: a save is a repeat when the same officer saved a case of the same photos (in
the same order) with the same shipment reference, action, note and seizure fields less
than REPEAT_WINDOW ago; the answer is the first case, and nothing new is stored. An
officer who really means a second case of the same photo (another shipment, another
action, a different note or seizure detail) changes one of those fields, and the page
enables Save again when they do. After REPEAT_WINDOW the
same save is a new case (the same item seen again on another day is a new event).

Pure: cases in, a case (or None) out.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable, Sequence

from serve.records.case_schema import Case, CaseAction
from serve.records.seizure import Seizure

REPEAT_WINDOW = timedelta(minutes=10)


def _same_text(a: str | None, b: str | None) -> bool:
    return (a or "").strip() == (b or "").strip()


def _as_stored(seizure: Seizure, case: Case) -> dict:
    """The seizure fields as the store keeps them: a case without a seizure date takes
    the day it was logged."""
    d = seizure.to_dict()
    d["seizure_date"] = d["seizure_date"] or case.created_at.date().isoformat()
    return d


def repeat_of(recent: Iterable[Case], *, officer: str, photos: Sequence[str], shipment_ref: str,
              action: CaseAction | str, note: str, seizure: Seizure | None = None,
              now: datetime, window: timedelta = REPEAT_WINDOW) -> Case | None:
    """The newest case in `recent` this save repeats, else None (see the module docstring).

    recent:  cases to look among (any order; others' and older cases are skipped).
    photos:  the photos' SHA-256, the one whose model answer is the case's first.
    seizure: the seizure fields as they would be stored (None: not compared).
    now:     the server's clock, timezone-aware like the cases' `created_at`."""
    if not photos:
        return None
    action_value = action.value if isinstance(action, CaseAction) else str(action)
    found = [c for c in recent
             if c.officer == officer and c.photo_hashes == tuple(photos)
             and now - window <= c.created_at <= now
             and c.action.value == action_value
             and _same_text(c.shipment_ref, shipment_ref) and _same_text(c.note, note)
             and (seizure is None or _as_stored(c.seizure, c) == _as_stored(seizure, c))]
    return max(found, key=lambda c: (c.created_at, c.id), default=None)


def saved_recently(recent: Iterable[Case], *, officer: str, photo_sha256: str, now: datetime,
                   window: timedelta = REPEAT_WINDOW) -> Case | None:
    """The newest case holding this photo that this officer saved within `window`
    (whatever its fields): the page shows Save as done ("saved as case #2") for it."""
    found = [c for c in recent if c.officer == officer and photo_sha256 in c.photo_hashes
             and now - window <= c.created_at <= now]
    return max(found, key=lambda c: (c.created_at, c.id), default=None)
