"""The column types every table of the records database shares, and its declarative base.

Only portable column types are used (String, Text, Integer, Float, Boolean, Date,
DateTime, JSON), so the same schema runs on SQLite and PostgreSQL. Times are stored as
naive UTC and come back timezone-aware (UTC); enums are stored as their values.
"""
from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Enum, String, TypeDecorator
from sqlalchemy.orm import DeclarativeBase


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out; stored naive UTC (portable)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}; pass a timezone-aware one")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


def enum_column(cls: type[StrEnum], name: str) -> Enum:
    # Stored as its value in a VARCHAR with a CHECK constraint: no native ENUM type,
    # so adding a member later needs no PostgreSQL type migration.
    # Length: at least 16 (version 1's columns), more for longer values.
    length = max(16, *(len(m.value) for m in cls))
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=length,
                values_callable=lambda members: [m.value for m in members])


NAME = String(64)  # user names; foreign keys point at users.name


class Base(DeclarativeBase):
    pass
