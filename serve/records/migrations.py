"""Creating the records schema, and bringing an older database up to this program's
version. Run by `Store.open` on every start, on SQLite and PostgreSQL alike.

The version lives in the `schema_info` table (key "version"). A database newer than the
program is refused: an old program must not write into a schema it does not know.
"""
from __future__ import annotations

from sqlalchemy import text

from serve.records.database import Database
from serve.records.schema import (AUDIT_GUARD_POSTGRESQL, AUDIT_GUARD_SQLITE, SCHEMA_VERSION, Base,
                                  SchemaInfoRow)

AUDIT_GUARDS = {"sqlite": AUDIT_GUARD_SQLITE, "postgresql": AUDIT_GUARD_POSTGRESQL}


def prepare(db: Database, url: str) -> None:
    """Create missing tables and the audit-log guard; check the schema version."""
    with db.writing() as s:
        Base.metadata.create_all(s.connection())
        for sql in AUDIT_GUARDS.get(db.dialect, ()):
            s.execute(text(sql))
        row = s.get(SchemaInfoRow, "version")
        if row is None:
            s.add(SchemaInfoRow(key="version", value=str(SCHEMA_VERSION)))
        elif int(row.value) > SCHEMA_VERSION:
            raise RuntimeError(f"{url} holds schema version {row.value}, newer than this "
                               f"program's {SCHEMA_VERSION}; upgrade the program")
