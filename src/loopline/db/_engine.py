"""Engines for the two databases Loopline supports: SQLite (embedded) and PostgreSQL (shared)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry

from loopline.errors import ConfigError

__all__ = ["create_engine_for", "display_url"]

# How long a SQLite writer waits for another writer's lock before giving up, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def create_engine_for(url: str | URL) -> Engine:
    """Create an engine, tuned per backend.

    SQLite gets WAL (readers never block the writer), a busy timeout (writers queue instead of
    failing), foreign keys on, and explicit ``BEGIN`` handling so that write transactions can
    take the lock up front (see :data:`WRITE_OPTIONS`). PostgreSQL gets pre-ping so a restarted
    server does not surface as a failed request.

    Raises:
        ConfigError: the URL is not one SQLAlchemy understands, or names another database.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"Database URL {url!r} is malformed: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        try:
            return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)
        except ImportError as exc:
            raise ConfigError(
                f"LOOPLINE_URI {display_url(parsed)} needs the PostgreSQL driver: "
                f"pip install 'loopline[postgres]'."
            ) from exc
    raise ConfigError(
        f"Database URL {display_url(parsed)!r}: Loopline supports sqlite and postgresql, "
        f"not {backend!r}."
    )


def display_url(url: str | URL) -> str:
    """The URL as a user would write it (no driver suffix), with any password masked."""
    parsed = make_url(url)
    plain = parsed.set(drivername=parsed.get_backend_name())
    return plain.render_as_string(hide_password=True)


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database and database != ":memory:":
        try:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"Cannot create the folder of SQLite database {database}: {exc.strerror}. "
                f"Point LOOPLINE_URI (or LOOPLINE_HOME) at a writable place."
            ) from exc
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # NORMAL is durable across application crashes in WAL mode; only a power cut can lose
        # the last transactions, never corrupt the file.
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Up to 64 MiB of pages per connection (the default is 2 MiB), taken only as used:
        # searches and run pages read the same index pages again and again.
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred transaction that reads and then writes can fail at once with "database is
        # locked" (SQLite cannot upgrade its lock while another writer waits). Writers ask for
        # IMMEDIATE, which takes the write lock first and honours the busy timeout.
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode not in ("DEFERRED", "IMMEDIATE"):
            raise ValueError(f"sqlite_begin must be DEFERRED or IMMEDIATE, not {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine
