"""The audit log: who did what, when. Append-only, enforced by the database itself
(`schema.AUDIT_GUARD_SQLITE` / `AUDIT_GUARD_POSTGRESQL`), so no code path can edit it."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import select

from serve.records.checks import aware, check_json, check_text, now
from serve.records.database import Database
from serve.records.schema import AuditEntry, AuditRow


class AuditRecords:
    def __init__(self, db: Database) -> None:
        self._db = db

    def audit(self, who: str, action: str, detail: Mapping[str, Any] | None = None) -> AuditEntry:
        row = AuditRow(at=now(), who=check_text(who, "who", max_len=64, required=True),
                       action=check_text(action, "audit action", max_len=100, required=True),
                       detail=check_json(dict(detail or {}), "audit detail"))
        with self._db.writing() as s:
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
        with self._db.reading() as s:
            return [r.record() for r in s.scalars(q if limit is None else q.limit(limit))]
