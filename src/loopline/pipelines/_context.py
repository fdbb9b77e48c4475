"""The one place pipelines reach up to the SDK: the default client and the current run.

A step's ``ll.log_metric(...)`` logs into the step's tracked run, in debug mode (this process)
and in worker processes alike. This module is the deliberate upward edge recorded in the
import-linter contract (pyproject.toml).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loopline._client import Client
    from loopline.config import Settings
    from loopline.tracking import Run

__all__ = ["default_client", "logging_into", "make_client", "worker_client"]

_worker_clients: dict[str, Client] = {}


def default_client() -> Client:
    from loopline._client import default_client as made

    return made()


def make_client(settings: Settings | None = None) -> Client:
    """A client of its own (the driver process of a launched template makes one)."""
    from loopline._client import Client

    return Client(settings=settings)


def worker_client(settings: Settings) -> Client:
    """The client a worker process keeps for ``settings`` (one per store, reused by steps)."""
    key = repr(settings)
    client = _worker_clients.get(key)
    if client is None:
        from loopline._client import Client

        client = _worker_clients[key] = Client(settings=settings)
    return client


@contextlib.contextmanager
def logging_into(
    run: Run, *, client: Client | None = None, settings: Settings | None = None
) -> Iterator[None]:
    """Make ``run`` the current run (``ll.log_metric`` and friends log into it) for the block;
    metrics are stored when it ends."""
    from loopline._runs import ActiveRun, _current

    if client is None:
        assert settings is not None
        client = worker_client(settings)
    session = client._run_session()
    token = _current.set(ActiveRun(session, run))
    try:
        yield
    finally:
        _current.reset(token)
        session.writer.flush()
