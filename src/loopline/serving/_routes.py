"""The routes an inference server answers from: loaded models, their traffic shares, batching.

A :class:`RouteTable` is immutable and built off the event loop (models loaded and warmed up
first); the server swaps its one reference to the table when a new revision is ready. Requests
in flight keep the table they started with, so the old models are freed once the last of them
finishes: that is the whole of a zero-downtime rollout.
"""

from __future__ import annotations

import asyncio
import random
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from loopline.serving._runner import ModelRunner, Prepared, split_outputs
from loopline.serving._types import EndpointSpec, Revision

__all__ = ["Handle", "RouteTable", "MicroBatcher"]

OnBatch = Callable[["Handle", int], None]


class MicroBatcher:
    """Joins concurrent requests to one model into one call.

    A request waits at most ``max_latency_ms`` for others; with ``0`` (the default) it waits
    for nothing but the requests that arrived at the same moment (those the event loop already
    holds), so one client alone sees no added latency. A batch is sent as soon as it holds
    ``max_batch_size`` rows. If the joint call fails, each request is retried alone so that a
    bad one fails by itself.
    """

    def __init__(self, handle: Handle, on_batch: OnBatch) -> None:
        self._handle = handle
        self._runner = handle.runner
        self._on_batch = on_batch
        self._pending: list[tuple[Prepared, asyncio.Future[Any]]] = []
        self._rows = 0
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None

    async def submit(self, prepared: Prepared) -> Any:
        runner = self._runner
        if prepared.n >= runner.max_batch_size:
            self._on_batch(self._handle, prepared.n)
            return runner.predict([prepared])
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((prepared, future))
        self._rows += prepared.n
        if self._rows >= runner.max_batch_size:
            self.flush()
        elif self._timer is None:
            delay = runner.max_latency_ms / 1000.0
            self._timer = (
                loop.call_soon(self.flush) if delay <= 0 else loop.call_later(delay, self.flush)
            )
        return await future

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        parts, self._pending, self._rows = self._pending, [], 0
        if not parts:
            return
        runner = self._runner
        self._on_batch(self._handle, sum(p.n for p, _ in parts))
        try:
            outputs = runner.predict([p for p, _ in parts])
            pieces = split_outputs(outputs, [p.n for p, _ in parts])
        except Exception:  # noqa: BLE001 - retried one by one below, so each gets its own answer
            pieces = None
        if pieces is not None:
            for (_, future), piece in zip(parts, pieces, strict=True):
                if not future.done():
                    future.set_result(piece)
            return
        for prepared, future in parts:
            if future.done():
                continue
            try:
                future.set_result(runner.predict([prepared]))
            except Exception as exc:  # noqa: BLE001 - the request's own failure, answered as such
                future.set_exception(exc)


@dataclass(slots=True)
class Handle:
    """One routed model: its runner, its place in the spec, and its batcher."""

    runner: ModelRunner
    weight: int
    shadow: bool
    batcher: MicroBatcher | None = None

    async def predict(self, prepared: Prepared) -> Any:
        if self.batcher is not None:
            return await self.batcher.submit(prepared)
        return self.runner.predict([prepared])


class RouteTable:
    """The handles of one revision and how requests are spread over them."""

    def __init__(self, revision: Revision, handles: Sequence[Handle]) -> None:
        self.revision = revision
        self.spec: EndpointSpec = revision.spec
        self.handles = tuple(handles)
        self.primaries = tuple(h for h in handles if not h.shadow)
        self.shadows = tuple(h for h in handles if h.shadow)
        bounds, total = [], 0
        for h in self.primaries:
            total += h.weight
            bounds.append(total)
        self._bounds = bounds
        self._total = total
        sticky = self.spec.sticky
        self.sticky_source, _, self.sticky_name = (sticky or "").partition(":")
        self.sticky_name = (
            self.sticky_name.lower() if self.sticky_source == "header" else (self.sticky_name)
        )

    def pick(self, key: str | None) -> Handle:
        """The answering route for a request: by a stable hash of its sticky key when it has
        one, else at random, in proportion to the weights."""
        if len(self.primaries) == 1:
            return self.primaries[0]
        if key is None:
            point = random.random() * self._total
        else:
            point = (zlib.crc32(key.encode("utf-8")) % 10_000) / 10_000 * self._total
        for bound, handle in zip(self._bounds, self.primaries, strict=True):
            if point < bound:
                return handle
        return self.primaries[-1]

    def find(self, name: str, version: int) -> Handle | None:
        """The handle serving ``name`` version ``version`` (OIP ``/versions/{v}`` requests)."""
        for h in self.handles:
            if h.runner.version == version and h.runner.name == name:
                return h
        return None

    def models(self) -> dict[str, ModelRunner]:
        """Runners by their pinned URI: what the next revision can reuse without reloading."""
        return {f"{h.runner.name}/{h.runner.version}": h.runner for h in self.handles}
