"""Creating the records schema, and bringing an older database up to this program's
version. Run by `Store.open` on every start, on SQLite and PostgreSQL alike.

The version lives in the `schema_info` table (key "version"). A database newer than the
program is refused: an old program must not write into a schema it does not know. Each
upgrade runs in the same transaction as the version change, so a crash leaves the
database at the old version, untouched. Several processes starting at once queue: SQLite
on its write lock, PostgreSQL on an advisory lock.

Version 1 -> 2 (cases become seizure records, the analyst role):
  1. each case's photo (`cases.photo_sha256`) becomes its first row in `case_photos`;
  2. `cases` gets the seizure and confirmation columns, loses `photo_sha256`, and its
     seizure date starts as the day the case was logged;
  3. `users.role` accepts `analyst`.
SQLite cannot change a column's CHECK constraint or drop a column that easily, so there
the two tables are rebuilt (SQLite's documented 12-step procedure, foreign keys checked
before commit); PostgreSQL changes them in place with ALTER TABLE.
"""
from __future__ import annotations

from sqlalchemy import CheckConstraint, Connection, Table, inspect, select, text, update
from sqlalchemy.schema import AddConstraint, CreateColumn, CreateIndex, CreateTable

from serve.records.database import Database
from serve.records.schema import (AUDIT_GUARD_POSTGRESQL, AUDIT_GUARD_SQLITE, SCHEMA_VERSION, Base,
                                  CaseRow, SchemaInfoRow, UserRow)

AUDIT_GUARDS = {"sqlite": AUDIT_GUARD_SQLITE, "postgresql": AUDIT_GUARD_POSTGRESQL}
PG_LOCK = 0x57494C44  # pg_advisory_xact_lock key of schema changes ("WILD")


def prepare(db: Database, url: str) -> None:
    """Create missing tables and the audit-log guard; upgrade an older schema; refuse a
    newer one."""
    with db.unavailable_as_error():
        _prepare_in_transaction(db, url)


def _prepare_in_transaction(db: Database, url: str) -> None:
    if db.dialect == "sqlite":
        writer = db.engine.execution_options(sqlite_begin="IMMEDIATE")
        with writer.connect() as conn:
            raw = conn.connection.dbapi_connection  # PRAGMA foreign_keys is a no-op inside a
            raw.execute("PRAGMA foreign_keys = OFF")  # transaction: set it before BEGIN
            try:
                with conn.begin():
                    _prepare(conn, url)
                    problems = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if problems:
                        raise RuntimeError(f"{url}: the upgrade would break foreign keys "
                                           f"{problems[:5]}; nothing was changed")
            finally:
                raw.execute("PRAGMA foreign_keys = ON")
        return
    with db.engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK})
        _prepare(conn, url)


def schema_version(conn: Connection) -> int | None:
    """The stored version, or None for an empty database."""
    if not inspect(conn).has_table(SchemaInfoRow.__tablename__):
        return None
    value = conn.execute(select(SchemaInfoRow.value).where(SchemaInfoRow.key == "version")).scalar()
    return None if value is None else int(value)


def _prepare(conn: Connection, url: str) -> None:
    version = schema_version(conn)
    if version is not None and version > SCHEMA_VERSION:
        raise RuntimeError(f"{url} holds schema version {version}, newer than this "
                           f"program's {SCHEMA_VERSION}; upgrade the program")
    Base.metadata.create_all(conn)  # new tables only; existing ones are upgraded below
    if version is not None and version < 2:
        _upgrade_1_to_2(conn)
    for sql in AUDIT_GUARDS.get(conn.dialect.name, ()):
        conn.execute(text(sql))
    if version is None:
        conn.execute(SchemaInfoRow.__table__.insert().values(key="version",
                                                             value=str(SCHEMA_VERSION)))
    elif version < SCHEMA_VERSION:
        conn.execute(update(SchemaInfoRow).where(SchemaInfoRow.key == "version")
                     .values(value=str(SCHEMA_VERSION)))


# --- 1 -> 2 -------------------------------------------------------------------------------

def _upgrade_1_to_2(conn: Connection) -> None:
    conn.execute(text(
        "INSERT INTO case_photos (case_id, position, sha256, review, review_note) "
        "SELECT id, 0, photo_sha256, 'pending', '' FROM cases WHERE photo_sha256 IS NOT NULL"))
    if conn.dialect.name == "sqlite":
        _rebuild_sqlite(conn, UserRow.__table__)
        _rebuild_sqlite(conn, CaseRow.__table__)
    else:
        _alter_postgresql(conn, UserRow.__table__)
        _alter_postgresql(conn, CaseRow.__table__, drop=("photo_sha256",))
    created = conn.execute(select(CaseRow.id, CaseRow.created_at)).all()
    for case_id, created_at in created:
        conn.execute(update(CaseRow).where(CaseRow.id == case_id)
                     .values(seizure_date=created_at.date()))


def _rebuild_sqlite(conn: Connection, table: Table) -> None:
    """Rebuild `table` to the current definition, keeping the columns both versions share
    (new ones take their server default or NULL; dropped ones go)."""
    old = {c["name"] for c in inspect(conn).get_columns(table.name)}
    shared = [c.name for c in table.columns if c.name in old]
    temp = f"{table.name}__v{SCHEMA_VERSION}"
    ddl = str(CreateTable(table).compile(dialect=conn.dialect)).strip()
    conn.exec_driver_sql(ddl.replace(f"CREATE TABLE {table.name} ", f"CREATE TABLE {temp} ", 1))
    cols = ", ".join(shared)
    conn.exec_driver_sql(f"INSERT INTO {temp} ({cols}) SELECT {cols} FROM {table.name}")
    conn.exec_driver_sql(f"DROP TABLE {table.name}")  # its indexes go with it
    conn.exec_driver_sql(f"ALTER TABLE {temp} RENAME TO {table.name}")
    for index in table.indexes:
        conn.execute(CreateIndex(index))


def _alter_postgresql(conn: Connection, table: Table, drop: tuple[str, ...] = ()) -> None:
    """Add missing columns and indexes, replace the CHECK constraints, drop `drop`."""
    insp = inspect(conn)
    old = {c["name"] for c in insp.get_columns(table.name)}
    for column in table.columns:
        if column.name not in old:
            spec = CreateColumn(column).compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {spec}")
    for name in drop:
        if name in old:
            conn.exec_driver_sql(f"ALTER TABLE {table.name} DROP COLUMN {name}")
    for check in (c for c in table.constraints if isinstance(c, CheckConstraint)):
        conn.exec_driver_sql(f'ALTER TABLE {table.name} DROP CONSTRAINT IF EXISTS "{check.name}"')
        conn.execute(AddConstraint(check))
    indexes = {i["name"] for i in insp.get_indexes(table.name)}
    for index in table.indexes:
        if index.name not in indexes:
            conn.execute(CreateIndex(index))
