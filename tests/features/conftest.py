"""Feature store fixtures: a client on each backend and database, and a small feature source."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.features.helpers import driver_rows

from loopline import Client
from loopline.config import Settings


@pytest.fixture(params=["local", "remote"])
def client(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Client]:
    """A client of the store ``settings`` describe, direct or through a server over it."""
    if request.param == "local":
        c = Client(settings=settings)
    else:
        url: str = request.getfixturevalue("server_url")
        c = Client(
            settings=Settings.from_env(
                {"LOOPLINE_URI": url, "LOOPLINE_HOME": str(settings.home / "remote-client")}
            )
        )
    yield c
    c.close()


@pytest.fixture
def driver_source(tmp_path: Path) -> Path:
    """The driver rows, timed around the real now (so online TTLs hold), as Parquet."""
    path = tmp_path / "driver_stats.parquet"
    driver_rows(datetime.now(UTC)).to_parquet(path)
    return path


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis store URL with a key prefix of its own; its keys are removed afterwards."""
    redis = pytest.importorskip("redis")
    base = os.environ.get("LL_TEST_REDIS", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(base)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(
            f"Redis at {base} does not answer ({exc}). Run `make services`, or set LL_TEST_REDIS.",
            pytrace=False,
        )
    prefix = f"lltest-{uuid.uuid4().hex[:10]}:"
    yield f"{base}?prefix={prefix}"
    names = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if names:
        client.unlink(*names)
    client.close()
