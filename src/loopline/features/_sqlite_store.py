"""The embedded online store: one SQLite file, a connection per thread, prepared statements.

A lookup is one indexed read on a ``WITHOUT ROWID`` table through a statement SQLite has
compiled already (the ``sqlite3`` module caches them per connection): no ORM, no pool, no lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from loopline.errors import ConfigError, StorageError

__all__ = ["SqliteOnlineStore"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS online_features ("
    " ns TEXT NOT NULL, key TEXT NOT NULL, ts INTEGER NOT NULL, value TEXT NOT NULL,"
    " PRIMARY KEY (ns, key)) WITHOUT ROWID"
)
_GET_ONE = "SELECT ts, value FROM online_features WHERE ns = ? AND key = ?"
# One statement for any number of keys (a JSON array), so it is compiled once. CROSS JOIN fixes
# the loop order: one primary-key probe per key (the planner otherwise scans the namespace).
_GET_MANY = (
    "SELECT o.key, o.ts, o.value FROM json_each(?) AS j "
    "CROSS JOIN online_features AS o ON o.ns = ? AND o.key = j.value"
)
_PUT = (
    "INSERT INTO online_features (ns, key, ts, value) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (ns, key) DO UPDATE SET ts = excluded.ts, value = excluded.value "
    "WHERE excluded.ts >= online_features.ts"
)
_BATCH = 20_000


class SqliteOnlineStore:
    """Latest feature values in a SQLite file (the embedded default: ``<home>/online.db``).

    Example:
        >>> store = SqliteOnlineStore(Path("/tmp/online.db"))
        >>> store.read("demo/driver_stats", ["1001"])
        [None]
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.location = f"sqlite:///{self.path}"
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"Cannot create the folder of online store {self.path}: {exc}"
            ) from exc
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(_SCHEMA)

    @classmethod
    def open(cls, url: str, home: Path) -> SqliteOnlineStore:
        rest = url.partition("://")[2]
        if not rest.startswith("/") or rest == "/":
            raise ConfigError(
                f"LOOPLINE_ONLINE_STORE={url!r}: a SQLite store needs a file, like "
                f"sqlite:///online.db (relative to the home folder) or sqlite:////abs/online.db."
            )
        path = Path(rest[1:])
        return cls(path if path.is_absolute() else home / path)

    def _conn(self) -> sqlite3.Connection:
        try:
            conn: sqlite3.Connection = self._local.conn
            return conn
        except AttributeError:
            pass
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
        except sqlite3.Error as exc:
            raise StorageError(f"Cannot open online store {self.path}: {exc}.") from exc
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    def read(self, namespace: str, keys: Sequence[str]) -> list[tuple[int, str | bytes] | None]:
        conn = self._conn()
        if len(keys) == 1:
            return [conn.execute(_GET_ONE, (namespace, keys[0])).fetchone()]
        rows = conn.execute(_GET_MANY, (json.dumps(keys), namespace)).fetchall()
        found = {key: (ts, value) for key, ts, value in rows}
        return [found.get(k) for k in keys]

    def write(self, namespace: str, rows: Sequence[tuple[str, int, str]]) -> None:
        conn = self._conn()
        for start in range(0, len(rows), _BATCH):
            chunk = rows[start : start + _BATCH]
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(_PUT, [(namespace, k, ts, v) for k, ts, v in chunk])
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StorageError(f"Writing to online store {self.path} failed: {exc}.") from exc

    def drop(self, namespace: str) -> None:
        self._conn().execute("DELETE FROM online_features WHERE ns = ?", (namespace,))

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()
