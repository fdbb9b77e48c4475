"""The metadata database: sessions for reading, transactions for writing, schema checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from loopline.db._engine import create_engine_for, display_url
from loopline.db._migrations import HEAD_REVISION, UpgradeResult, current_revision, upgrade
from loopline.errors import LooplineError, SchemaOutOfDate, StorageError

__all__ = ["Database"]


class Database:
    """One metadata database (SQLite or PostgreSQL), shared by every domain's service.

    Reads go through :meth:`session`; writes through :meth:`transaction`, which commits on success
    and rolls back on any exception, so a failed write never leaves half its rows behind.

    Example:
        >>> db = Database.open("sqlite:////tmp/ll-doc/loopline.db", auto_upgrade=True)
        >>> with db.session() as s:
        ...     s.execute(text("SELECT 1")).scalar()
        1
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = display_url(engine.url)
        self.dialect = engine.dialect.name
        self._reads = sessionmaker(engine, expire_on_commit=False, autoflush=False)
        writer = engine.execution_options(sqlite_begin="IMMEDIATE") if self.is_sqlite else engine
        self._writes = sessionmaker(writer, expire_on_commit=False, autoflush=False)

    @classmethod
    def connect(cls, url: str) -> Database:
        """An engine on ``url`` without looking at the schema (for ``loopline db`` itself)."""
        return cls(create_engine_for(url))

    @classmethod
    def open(cls, url: str, *, auto_upgrade: bool) -> Database:
        """Connect, then migrate (``auto_upgrade``) or check that the schema is current.

        Raises:
            StorageError: the database cannot be reached.
            SchemaOutOfDate: the schema is not the one this Loopline needs and ``auto_upgrade``
                is off (or the database is newer than this Loopline).
        """
        db = cls.connect(url)
        try:
            if auto_upgrade:
                db.upgrade()
            else:
                db.check_schema()
        except BaseException:
            db.close()
            raise
        return db

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read session; anything it changed is rolled back at the end."""
        with self._translate_errors(), self._reads() as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction: committed when the block succeeds, rolled back when it raises."""
        with self._translate_errors(), self._writes() as session, session.begin():
            yield session

    def revision(self) -> str | None:
        """The schema revision the database is at (``None``: never migrated)."""
        with self._translate_errors(), self.engine.connect() as conn:
            return current_revision(conn)

    def check_schema(self) -> None:
        """Raise :class:`SchemaOutOfDate` unless the schema is exactly the one this code needs."""
        found = self.revision()
        if found == HEAD_REVISION:
            return
        self._refuse_unknown(found)
        state = "has no Loopline tables yet" if found is None else f"is at revision {found}"
        raise SchemaOutOfDate(
            f"Database {self.url} {state}; this Loopline needs revision {HEAD_REVISION}. "
            f"Run `loopline db upgrade --db {self._url_for_commands()}`.",
            details={"found": found, "needed": HEAD_REVISION},
        )

    def upgrade(self) -> UpgradeResult:
        """Apply pending migrations (safe to call from several processes at once)."""
        with self._translate_errors():
            found = self.revision()
            if found == HEAD_REVISION:
                return UpgradeResult(before=found, after=found)
            self._refuse_unknown(found)
            return upgrade(self.engine)

    def _refuse_unknown(self, found: str | None) -> None:
        """A revision this Loopline does not ship was written by a newer one: never touch it."""
        from loopline.db._migrations import known_revisions

        if found is not None and found not in known_revisions():
            raise SchemaOutOfDate(
                f"Database {self.url} is at schema revision {found!r}, which this Loopline does "
                f"not know: a newer Loopline has upgraded it. Upgrade Loopline to use it.",
                details={"found": found, "needed": HEAD_REVISION},
            )

    def _url_for_commands(self) -> str:
        # A masked password cannot be pasted back: name the setting instead.
        return "<your database URI>" if "***" in self.url else f"'{self.url}'"

    def ping(self) -> None:
        """Raise :class:`StorageError` unless the database answers a trivial query."""
        with self._translate_errors(), self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except LooplineError:
            raise
        except OperationalError as exc:
            reason = _first_line(exc.orig if exc.orig is not None else exc)
            if "locked" in reason or "busy" in reason:
                raise StorageError(
                    f"Database {self.url} stayed locked by another writer past the busy timeout "
                    f"({reason}). Retry; if it persists, another process is holding a long "
                    f"transaction open."
                ) from exc
            raise StorageError(
                f"Cannot use database {self.url}: {reason}. Check that it is running and that "
                f"LOOPLINE_URI points at it."
            ) from exc
        except IntegrityError:
            raise  # a constraint said no: the domain service turns it into Conflict
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise StorageError(
                    f"Lost the connection to database {self.url}: {_first_line(exc.orig)}. Retry."
                ) from exc
            raise StorageError(
                f"Database {self.url} refused the operation: {_first_line(exc.orig)}. "
                f"Check the database user's permissions and that the schema is current."
            ) from exc
        except SQLAlchemyError as exc:
            raise StorageError(f"Database {self.url}: {_first_line(exc)}.") from exc
        except Exception as exc:
            # Alembic's CommandError and friends, from `db upgrade`.
            if type(exc).__module__.startswith("alembic"):
                raise StorageError(f"Migrating {self.url} failed: {_first_line(exc)}.") from exc
            raise


def _first_line(exc: object) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
