"""The metric writer: ``log_metric`` appends to memory; a thread stores batches.

A training loop calls ``log_metric`` thousands of times a second; a database round trip per
call (MLflow's way) costs milliseconds each. Here a call appends one tuple to a deque, which is
thread-safe and lock-free for a single append, and a background thread drains it: every
``interval`` seconds, or at once when ``max_batch`` points are waiting. :meth:`MetricWriter.flush`
blocks until everything appended before it is stored.

An error while storing (the run was ended elsewhere, the server is down for longer than the
retries) is kept and raised by the next ``add`` or ``flush``, so it is never lost silently; the
points of a batch that failed for a passing reason are retried on the next round.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from loopline.errors import LooplineError, ServerUnreachable, StorageError
from loopline.tracking._types import MetricPoint

__all__ = ["MetricWriter", "Sink"]

Sink = Callable[[str, Sequence[MetricPoint]], None]
"""Stores one run's points: ``sink(run_id, points)`` (a backend's ``log_metrics``)."""

# Passing failures: the batch waits for the next round. Anything else is the caller's to see.
_TRANSIENT = (ServerUnreachable, StorageError)
_MAX_ATTEMPTS = 5


class MetricWriter:
    """Buffers metric points and stores them in batches from a background thread.

    Args:
        sink: stores one run's points (called from the writer thread only).
        interval: seconds between flushes when the buffer is not full.
        max_batch: points that trigger an early flush.

    Example:
        >>> writer = MetricWriter(backend.log_metrics)
        >>> writer.add(run_id, MetricPoint("loss", 0.5, 0, 1_700_000_000_000))
        >>> writer.flush()     # stored now
        >>> writer.close()
    """

    def __init__(self, sink: Sink, *, interval: float = 1.0, max_batch: int = 10_000) -> None:
        self._sink = sink
        self._interval = interval
        self._max_batch = max_batch
        self._queue: deque[tuple[str, MetricPoint]] = deque()
        self._retry: list[tuple[str, MetricPoint]] = []
        self._attempts = 0
        self._wake = threading.Event()
        self._stored = threading.Condition()
        self._appended = 0  # points handed to add(), ever
        self._done = 0  # points stored (or dropped with an error), ever
        self._error: LooplineError | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="loopline-metrics", daemon=True)
        self._thread.start()

    def add(self, run_id: str, point: MetricPoint) -> None:
        """Queue one point. Cheap: an append, and a wake-up when the batch is full."""
        if self._error is not None:
            self._raise_error()
        self._queue.append((run_id, point))
        self._appended += 1
        if len(self._queue) >= self._max_batch:
            self._wake.set()

    def flush(self, timeout: float | None = 60.0) -> None:
        """Block until every point added before this call is stored (or raise its error)."""
        target = self._appended
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._stored:
            while self._done < target and self._error is None:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise StorageError(
                        f"Storing metrics took longer than {timeout:.0f} s; "
                        f"{target - self._done} points are still waiting. Is the store reachable?"
                    )
                self._wake.set()
                self._stored.wait(remaining if remaining is not None else 1.0)
        if self._error is not None:
            self._raise_error()

    def close(self, timeout: float = 60.0) -> None:
        """Flush, then stop the thread. Points added afterwards are refused."""
        if self._closed:
            return
        try:
            self.flush(timeout)
        finally:
            self._closed = True
            self._wake.set()
            self._thread.join(timeout)

    @property
    def pending(self) -> int:
        """Points added but not yet stored."""
        return self._appended - self._done

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        assert error is not None
        raise error

    def _loop(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._drain()
            if self._closed and not self._queue and not self._retry:
                return

    def _drain(self) -> None:
        batch, self._retry = self._retry, []
        for _ in range(len(self._queue)):
            batch.append(self._queue.popleft())
        if not batch:
            return
        by_run: dict[str, list[MetricPoint]] = {}
        for run_id, point in batch:
            by_run.setdefault(run_id, []).append(point)
        stored = 0
        for run_id, points in by_run.items():
            try:
                self._sink(run_id, points)
                stored += len(points)
                self._attempts = 0
            except _TRANSIENT as exc:
                self._attempts += 1
                if self._attempts < _MAX_ATTEMPTS and not self._closed:
                    self._retry.extend((run_id, p) for p in points)
                else:
                    self._fail(exc, len(points))
            except LooplineError as exc:
                self._fail(exc, len(points))
            except Exception as exc:  # noqa: BLE001 - a bug must not kill the thread and hang flush()
                self._fail(StorageError(f"Storing metrics failed: {exc!r}"), len(points))
        with self._stored:
            self._done += stored
            self._stored.notify_all()

    def _fail(self, exc: LooplineError, dropped: int) -> None:
        with self._stored:
            self._error = exc
            self._done += dropped
            self._stored.notify_all()
