"""Executors: where a pipeline's steps run. Registered by name, imported lazily."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from loopline.errors import InvalidInput, did_you_mean
from loopline.pipelines.executors._protocol import Executor

__all__ = ["Executor", "open_executor", "EXECUTORS"]

EXECUTORS: dict[str, str] = {
    "local": "loopline.pipelines.executors._local:shared_local_executor",
    # agents sit above pipelines: named here by path only, imported when asked for.
    "queue": "loopline.agents._executor:QueueExecutor",
    "ray": "loopline.agents._ray:RayExecutor",
}
"""Executor name -> ``"module:factory"``; the factory takes keyword options (``max_workers``)."""


def open_executor(name: str, **options: Any) -> Executor:
    """The executor registered as ``name`` (``"local"``: worker processes on this machine)."""
    try:
        path = EXECUTORS[name]
    except KeyError:
        raise InvalidInput(
            f"No executor is called {name!r}.{did_you_mean(name, EXECUTORS)} "
            f"Known: {', '.join(sorted(EXECUTORS))}."
        ) from None
    module, _, attr = path.partition(":")
    made: Executor = getattr(import_module(module), attr)(**options)
    return made
