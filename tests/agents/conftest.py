"""Agent fixtures: a payload blob to enqueue, on whichever backend the test uses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopline.backends import Backend


@pytest.fixture
def payload(backend: Backend) -> str:
    """The digest of a small blob, stored: what a task names as its payload."""
    return backend.put_blob(b"a task payload").digest


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """One local Ray for the whole session (loopback only, 2 CPUs, no dashboard), ended with
    ray.shutdown(): never `ray stop`, which would end other people's Ray on this machine."""
    ray = pytest.importorskip("ray")
    from loopline.agents._ray import connect_ray

    connect_ray(num_cpus=2)
    yield
    ray.shutdown()
