"""The online stores behind their tiny protocol: SQLite (embedded) and Redis."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopline.errors import ConfigError
from loopline.features._online import OnlineStore, entity_key, open_online_store


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'online.db'}"
    else:
        url = request.getfixturevalue("redis_url")
    opened = open_online_store(url, tmp_path)
    yield opened
    opened.close()


def test_read_what_was_written_and_none_for_the_rest(store: OnlineStore) -> None:
    store.write("p/v", [("1", 100, '{"a":1}'), ("2", 200, '{"a":2}')])
    assert store.read("p/v", ["2"]) == [(200, _same(store, '{"a":2}'))]
    assert store.read("p/v", ["1", "3", "2"]) == [
        (100, _same(store, '{"a":1}')),
        None,
        (200, _same(store, '{"a":2}')),
    ]
    assert store.read("p/other", ["1"]) == [None]


def test_a_value_never_replaces_a_newer_one(store: OnlineStore) -> None:
    store.write("p/v", [("1", 200, '{"a":"new"}')])
    store.write("p/v", [("1", 100, '{"a":"old"}')])
    assert store.read("p/v", ["1"]) == [(200, _same(store, '{"a":"new"}'))]
    store.write("p/v", [("1", 300, '{"a":"newer"}')])
    assert store.read("p/v", ["1"]) == [(300, _same(store, '{"a":"newer"}'))]


def test_drop_forgets_one_namespace_only(store: OnlineStore) -> None:
    rows = [(str(i), i, "{}") for i in range(2_500)]  # more than one write batch
    store.write("p/v", rows)
    store.write("p/w", rows[:3])
    assert sum(x is not None for x in store.read("p/v", [r[0] for r in rows])) == 2_500
    store.drop("p/v")
    assert store.read("p/v", ["1", "2"]) == [None, None]
    assert store.read("p/w", ["1"]) == [(1, _same(store, "{}"))]


def test_concurrent_readers_each_get_an_answer(store: OnlineStore) -> None:
    store.write("p/v", [("1", 1, '{"a":1}')])
    seen: list[object] = []

    def read() -> None:
        for _ in range(50):
            seen.append(store.read("p/v", ["1"])[0])

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 200
    assert all(s is not None for s in seen)


def test_entity_keys_match_what_duckdb_writes() -> None:
    import duckdb
    import numpy as np

    assert entity_key([np.int64(7)]) == "7"
    con = duckdb.connect()
    assert entity_key([True]) == con.execute("SELECT CAST(true AS VARCHAR)").fetchall()[0][0]
    assert entity_key([1.5]) == con.execute("SELECT CAST(1.5::DOUBLE AS VARCHAR)").fetchall()[0][0]
    con.close()
    assert entity_key(["a", 2]) == "a\x1f2"


def test_an_unknown_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Did you mean 'redis'"):
        open_online_store("rediss2://x", tmp_path)
    with pytest.raises(ConfigError, match="needs a file"):
        open_online_store("sqlite://", tmp_path)


def _same(store: OnlineStore, text: str) -> object:
    # SQLite hands back text, Redis bytes: both are what json.loads reads.
    return text if store.location.startswith("sqlite") else text.encode()
