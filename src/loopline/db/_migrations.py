"""Applying and checking Alembic migrations, safely under concurrent starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, text

__all__ = ["HEAD_REVISION", "UpgradeResult", "current_revision", "known_revisions", "upgrade"]

# The newest migration. Kept as a constant so that checking the schema on start-up costs one
# query and no Alembic import; a test pins it to what Alembic computes from the scripts.
HEAD_REVISION = "0017"

_SCRIPTS = Path(__file__).with_name("migrations")
# Any fixed 64-bit number: PostgreSQL's advisory lock that serialises concurrent upgrades.
_PG_UPGRADE_LOCK = 0x10_0B_11_4E


@dataclass(frozen=True, slots=True)
class UpgradeResult:
    """What an upgrade did: the revision before and after (``None`` is an empty database)."""

    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or ``None`` when it has never been migrated."""
    from sqlalchemy import inspect

    if not inspect(connection).has_table("alembic_version"):
        return None
    rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return rows[0] if rows else None


def known_revisions() -> set[str]:
    """Every revision this version of Loopline ships (imports Alembic; not for hot paths)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(_SCRIPTS))
    return {rev.revision for rev in scripts.walk_revisions()}


def upgrade(engine: Engine, target: str = "head") -> UpgradeResult:
    """Migrate the database to ``target``, holding a lock so concurrent starts do it once.

    On SQLite the lock is the write lock (``BEGIN IMMEDIATE``); on PostgreSQL an advisory lock
    held for the transaction. The revision is read again under the lock, so a process that
    waited finds the work done and changes nothing.
    """
    from alembic import command
    from alembic.config import Config

    options = {"sqlite_begin": "IMMEDIATE"} if engine.dialect.name == "sqlite" else {}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_UPGRADE_LOCK})
        before = current_revision(conn)
        config = Config()
        config.set_main_option("script_location", str(_SCRIPTS))
        config.attributes["connection"] = conn
        command.upgrade(config, target)
        after = current_revision(conn)
    assert after is not None, "alembic upgrade left no revision behind"
    return UpgradeResult(before=before, after=after)
