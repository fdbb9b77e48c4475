"""The metadata database: migrations, SQLite tuning, schema checks, clear connection errors."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

import loopline
import loopline.db
import loopline.projects
import loopline.server
import loopline.tracking._tables
from loopline.db import HEAD_REVISION, Base, Database
from loopline.errors import SchemaOutOfDate, StorageError

# Every module that declares tables must be imported for Base.metadata to be complete.
assert loopline.projects
assert loopline.server


def test_head_constant_matches_the_migration_scripts() -> None:
    scripts = ScriptDirectory(str(Path(loopline.db.__file__).with_name("migrations")))
    assert scripts.get_current_head() == HEAD_REVISION


def _import_every_table_module() -> None:
    """Every domain's tables, whatever the other imports load lazily: each ``*_tables``
    module under loopline declares its tables on ``Base.metadata`` when imported."""
    import importlib
    import pkgutil

    for found in pkgutil.walk_packages(loopline.__path__, "loopline."):
        if found.name.rsplit(".", 1)[-1].endswith("_tables"):
            importlib.import_module(found.name)


def test_migrations_create_exactly_the_declared_tables(empty_database_url: str) -> None:
    _import_every_table_module()
    db = Database.open(empty_database_url, auto_upgrade=True)
    try:
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == [], f"models and migrations disagree; write a migration for: {diff}"
    finally:
        db.close()


def test_upgrade_is_idempotent_and_reports_what_it_did(empty_database_url: str) -> None:
    db = Database.connect(empty_database_url)
    try:
        first = db.upgrade()
        assert (first.before, first.after, first.changed) == (None, HEAD_REVISION, True)
        again = db.upgrade()
        assert (again.before, again.after, again.changed) == (HEAD_REVISION, HEAD_REVISION, False)
    finally:
        db.close()


def test_concurrent_first_starts_migrate_once(empty_database_url: str) -> None:
    failures: list[BaseException] = []
    results: list[bool] = []

    def start() -> None:
        try:
            db = Database.connect(empty_database_url)
            results.append(db.upgrade().changed)
            db.close()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert sorted(results) == [False] * 5 + [True], "exactly one start applies the migrations"
    db = Database.connect(empty_database_url)
    assert db.revision() == HEAD_REVISION
    db.close()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    db = Database.open(f"sqlite:///{tmp_path / 'x.db'}", auto_upgrade=True)
    with db.session() as s:
        assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert s.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
        assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.close()


def test_an_unmigrated_database_says_to_run_db_upgrade(empty_database_url: str) -> None:
    with pytest.raises(SchemaOutOfDate) as info:
        Database.open(empty_database_url, auto_upgrade=False)
    assert "loopline db upgrade" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_database_from_a_newer_loopline_is_refused_and_left_alone(
    empty_database_url: str,
) -> None:
    db = Database.open(empty_database_url, auto_upgrade=True)
    with db.transaction() as s:
        s.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    db.close()
    for auto in (True, False):
        with pytest.raises(SchemaOutOfDate, match="newer Loopline"):
            Database.open(empty_database_url, auto_upgrade=auto)
    db = Database.connect(empty_database_url)
    assert db.revision() == "9999", "an unknown schema must not be touched"
    db.close()


def test_an_unreachable_postgres_is_one_clear_line() -> None:
    from tests.fixtures.server import free_port

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing?connect_timeout=2"
    with pytest.raises(StorageError) as info:
        Database.open(url, auto_upgrade=False)
    message = str(info.value)
    assert "Cannot use database postgresql://postgres@127.0.0.1" in message
    assert "LOOPLINE_URI" in message
    assert "\n" not in message


def test_write_transactions_roll_back_on_error(empty_database_url: str) -> None:
    db = Database.open(empty_database_url, auto_upgrade=True)

    def insert_then_fail() -> None:
        with db.transaction() as s:
            s.execute(
                text(
                    "INSERT INTO projects (id, name, description, created_at, updated_at) "
                    "VALUES ('a', 'kept-out', '', :t, :t)"
                ),
                {"t": datetime(2026, 1, 1, tzinfo=UTC)},
            )
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        insert_then_fail()
    with db.session() as s:
        assert s.execute(text("SELECT count(*) FROM projects")).scalar() == 0
    db.close()


def test_timestamps_come_back_as_aware_utc(empty_database_url: str) -> None:
    from loopline.projects import ProjectService

    db = Database.open(empty_database_url, auto_upgrade=True)
    created = ProjectService(db).create("tz")
    fetched = ProjectService(db).get("tz")
    assert fetched.created_at.tzinfo is not None
    assert fetched.created_at.utcoffset() == timedelta(0)
    assert fetched.created_at == created.created_at
    assert abs(fetched.created_at - datetime.now(UTC)) < timedelta(minutes=5)
    db.close()


def test_naive_datetimes_are_refused() -> None:
    from loopline.db import UTCDateTime

    sqlite = Database.connect("sqlite://").engine.dialect
    with pytest.raises(ValueError, match="naive datetime"):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1), sqlite)
    aware = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert UTCDateTime().process_bind_param(aware, sqlite) == datetime(2026, 1, 1, 10)
