"""The declarative base every domain's tables derive from, and column types they share."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, String
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = ["Base", "UTCDateTime", "new_id", "utcnow", "IdColumn", "CreatedAt"]

# Constraint names are spelled out so that migrations are identical on SQLite and PostgreSQL
# and Alembic can find the constraints again later.
_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of all Loopline tables. Each domain package declares its own tables on it."""

    metadata = MetaData(naming_convention=_NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database keeps.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value is stored as naive
    UTC and made aware again on the way out. Naive datetimes are refused on the way in: guessing
    their zone is how timestamps silently shift by hours.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware one, e.g. tz=UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        # SQLite hands back the text SQLAlchemy stored ("2026-11-23 05:25:01.123456"): parse it
        # in C. The generic path (a regular expression, then process_result_value) was a tenth
        # of a large search's time.
        def parse(value: Any) -> datetime | None:
            if value is None:
                return None
            if isinstance(value, str):
                return datetime.fromisoformat(value).replace(tzinfo=UTC)
            return self.process_result_value(value, dialect)

        return parse


def new_id() -> str:
    """A new random identifier: 32 lowercase hex characters (a UUID4 without dashes)."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(UTC)


def IdColumn() -> Mapped[str]:
    """A primary-key column holding :func:`new_id` values."""
    return mapped_column(String(32), primary_key=True, default=new_id)


def CreatedAt() -> Mapped[datetime]:
    """A creation timestamp set by Python (so SQLite and PostgreSQL agree to the microsecond)."""
    return mapped_column(UTCDateTime(), nullable=False, default=utcnow)
