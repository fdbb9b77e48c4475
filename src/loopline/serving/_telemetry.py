"""What an inference server counts and logs: Prometheus metrics, windows for the UI, and the
sampled prediction log.

Nothing here adds latency to a request: counting is a few integer additions under an
uncontended lock, and a logged prediction is one tuple appended to a list. Turning the list
into a Parquet batch, and sending windows and batches away, happens on the server's control
thread (:meth:`Telemetry.drain_predictions`, :meth:`Telemetry.drain_windows`).

With several worker processes, Prometheus counters live in ``PROMETHEUS_MULTIPROC_DIR`` (set by
``loopline serve`` before the workers start), so ``/metrics`` answers for all of them.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from loopline.serving._types import LATENCY_BUCKETS_MS, WINDOW_SECONDS, StatsWindow

if TYPE_CHECKING:
    import pyarrow as pa

    from loopline.serving._runner import Prepared

__all__ = ["Telemetry", "LoggedPrediction", "WINDOW_SECONDS"]

MAX_LOG_BACKLOG = 200_000
"""Logged predictions kept while the evaluation store cannot be reached; older ones go."""
_SECONDS_BUCKETS = tuple(b / 1000 for b in LATENCY_BUCKETS_MS[:-1])
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


@dataclass(slots=True)
class LoggedPrediction:
    """One answered request, as the hot path leaves it for the log writer."""

    request_id: str
    at: float
    model: str
    version: int
    route: str
    latency_ms: float
    error: str | None
    inputs: Prepared | None
    outputs: Any


class _Window:
    __slots__ = ("batch_rows", "batches", "buckets", "errors", "latency_sum", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.latency_sum = 0.0
        self.buckets = [0] * len(LATENCY_BUCKETS_MS)
        self.batches = 0
        self.batch_rows = 0


class Telemetry:
    """The counters and the prediction log of one inference server process."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry(auto_describe=True)
        registry = None if self.multiprocess else self.registry
        labels = ["endpoint", "model", "version"]
        self._requests = Counter(
            "loopline_serving_requests",
            "Inference requests answered, by endpoint and model version.",
            labels,
            registry=registry,
        )
        self._errors = Counter(
            "loopline_serving_errors",
            "Requests that failed: kind 'input' (the request was wrong, 4xx) or 'model' (the "
            "model raised, 500).",
            [*labels, "kind"],
            registry=registry,
        )
        self._latency = Histogram(
            "loopline_serving_request_duration_seconds",
            "Time from a request's arrival to its answer, by endpoint and model version.",
            labels,
            buckets=_SECONDS_BUCKETS,
            registry=registry,
        )
        self._batches = Histogram(
            "loopline_serving_batch_size",
            "Rows per call to the model (micro-batching joins concurrent requests).",
            labels,
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self._revision = Gauge(
            "loopline_serving_revision",
            "The endpoint revision this server answers from.",
            ["endpoint"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self._dropped = Counter(
            "loopline_serving_log_dropped",
            "Logged predictions dropped because the evaluation store could not keep up.",
            ["endpoint"],
            registry=registry,
        )
        self._children: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
        self._lock = threading.Lock()
        self._windows: dict[tuple[int, str], _Window] = {}
        self._log: deque[LoggedPrediction] = deque()

    # -- hot path -------------------------------------------------------------------------------

    def _child(self, model: str, version: str) -> tuple[Any, Any, Any]:
        key = (model, version)
        found = self._children.get(key)
        if found is None:
            found = (
                self._requests.labels(self.endpoint, model, version),
                self._latency.labels(self.endpoint, model, version),
                self._batches.labels(self.endpoint, model, version),
            )
            self._children[key] = found
        return found

    def observe(
        self, label: str, model: str, version: str, seconds: float, error: str | None = None
    ) -> None:
        """Count one answered request (``error``: ``input`` or ``model`` when it failed)."""
        requests, latency, _ = self._child(model, version)
        requests.inc()
        latency.observe(seconds)
        if error is not None:
            self._errors.labels(self.endpoint, model, version, error).inc()
        ms = seconds * 1000.0
        key = (int(time.time()) // WINDOW_SECONDS * WINDOW_SECONDS, label)
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = _Window()
            window.requests += 1
            window.latency_sum += ms
            window.buckets[bisect.bisect_left(LATENCY_BUCKETS_MS, ms)] += 1
            if error is not None:
                window.errors += 1

    def observe_batch(self, label: str, model: str, version: str, rows: int) -> None:
        """Count one call to the model with ``rows`` rows."""
        self._child(model, version)[2].observe(rows)
        key = (int(time.time()) // WINDOW_SECONDS * WINDOW_SECONDS, label)
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = _Window()
            window.batches += 1
            window.batch_rows += rows

    def log(self, entry: LoggedPrediction) -> None:
        """Keep one prediction for the evaluation store (the caller sampled already)."""
        self._log.append(entry)
        if len(self._log) > MAX_LOG_BACKLOG:
            self._log.popleft()
            self._dropped.labels(self.endpoint).inc()

    def set_revision(self, number: int) -> None:
        self._revision.labels(self.endpoint).set(number)

    # -- control thread ------------------------------------------------------------------------

    def drain_windows(self) -> list[StatsWindow]:
        """The counts gathered since the last call, one window per (10 s, model)."""
        with self._lock:
            windows, self._windows = self._windows, {}
        return [
            StatsWindow(
                start=datetime.fromtimestamp(start, UTC),
                model=label,
                requests=w.requests,
                errors=w.errors,
                latency_sum_ms=w.latency_sum,
                buckets=tuple(w.buckets),
                batches=w.batches,
                batch_rows=w.batch_rows,
            )
            for (start, label), w in sorted(windows.items())
        ]

    def restore_windows(self, windows: list[StatsWindow]) -> None:
        """Put back windows that could not be reported (they are sent with the next report)."""
        with self._lock:
            for w in windows:
                key = (int(w.start.timestamp()), w.model)
                mine = self._windows.setdefault(key, _Window())
                mine.requests += w.requests
                mine.errors += w.errors
                mine.latency_sum += w.latency_sum_ms
                mine.buckets = [a + b for a, b in zip(mine.buckets, w.buckets, strict=True)]
                mine.batches += w.batches
                mine.batch_rows += w.batch_rows

    def pending_predictions(self) -> int:
        return len(self._log)

    def drain_predictions(self, limit: int = 50_000) -> pa.Table | None:
        """Up to ``limit`` logged predictions as one Arrow table (the evaluation store's
        columns), or None when there are none."""
        entries: list[LoggedPrediction] = []
        while self._log and len(entries) < limit:
            entries.append(self._log.popleft())
        if not entries:
            return None
        return predictions_table(entries)

    def exposition(self) -> bytes:
        """The Prometheus text for ``/metrics`` (summed over worker processes, if several)."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


def predictions_table(entries: list[LoggedPrediction]) -> pa.Table:
    """Logged predictions as rows: one per input row (``request_id``, or ``<id>/<row>`` when a
    request had several rows), with ``input.<column>`` and ``output`` columns.

    Built column by column with numpy (a few milliseconds for thousands of requests), because
    it runs beside the event loop and holds the GIL while it works.
    """
    import pyarrow as pa

    counts = np.fromiter((1 if e.inputs is None else e.inputs.n for e in entries), np.int64)
    total = int(counts.sum())
    if bool((counts == 1).all()):
        ids: list[str] = [e.request_id for e in entries]
    else:
        ids = []
        for e, n in zip(entries, counts.tolist(), strict=True):
            ids.extend([e.request_id] if n == 1 else [f"{e.request_id}/{i}" for i in range(n)])

    def repeat(values: list[Any]) -> Any:
        return values if total == len(entries) else np.repeat(np.asarray(values), counts)

    data: dict[str, Any] = {
        "request_id": pa.array(ids, pa.string()),
        "ts": pa.array(
            np.repeat(np.array([e.at for e in entries]) * 1e6, counts).astype("int64"),
            pa.int64(),
        ).cast(pa.timestamp("us", tz="UTC")),
        "model": pa.array(repeat([e.model for e in entries]), pa.string()),
        "version": pa.array(repeat([e.version for e in entries]), pa.int32()),
        "route": pa.array(repeat([e.route for e in entries]), pa.string()),
        "latency_ms": pa.array(repeat([e.latency_ms for e in entries]), pa.float64()),
        "error": pa.array(repeat([e.error for e in entries]), pa.string()),
    }
    data.update(_input_columns(entries, counts))
    data["output"] = _output_column(entries, counts)
    return pa.table(data)


def _input_columns(entries: list[LoggedPrediction], counts: np.ndarray[Any, Any]) -> dict[str, Any]:
    uniform = _uniform_columns(entries)
    if uniform is not None:
        return uniform
    names: dict[str, None] = {}
    for e in entries:
        if e.inputs is not None and e.inputs.columns is not None:
            names.update(dict.fromkeys(e.inputs.columns))
        elif e.inputs is not None and e.inputs.array is not None:
            names["\0array"] = None
    out: dict[str, Any] = {}
    for name in names:
        pieces: list[Any] = []
        for e, n in zip(entries, counts.tolist(), strict=True):
            inputs = e.inputs
            if name == "\0array":
                got = None if inputs is None else inputs.array
                if got is not None:
                    got = np.asarray(got).reshape(n, -1)
            else:
                got = None if inputs is None or inputs.columns is None else inputs.columns.get(name)
            pieces.append(np.full(n, None, dtype=object) if got is None else got)
        if name == "\0array":
            out["input"] = _arrow([row for piece in pieces for row in np.asarray(piece).tolist()])
            continue
        try:
            column = np.concatenate(pieces)
        except ValueError:
            column = np.concatenate([np.asarray(p, dtype=object) for p in pieces])
        out[f"input.{name}"] = _arrow(column)
    return out


def _uniform_columns(entries: list[LoggedPrediction]) -> dict[str, Any] | None:
    """The input columns when every entry has the same named columns (the usual case), built
    with one concatenation per column; None otherwise."""
    first = entries[0].inputs
    if first is None or first.columns is None:
        return None
    names = first.columns.keys()
    columns = []
    for e in entries:
        inputs = e.inputs
        if inputs is None or inputs.columns is None or inputs.columns.keys() != names:
            return None
        columns.append(inputs.columns)
    out: dict[str, Any] = {}
    for name in names:
        try:
            column = np.concatenate([c[name] for c in columns])
        except ValueError:
            column = np.concatenate([np.asarray(c[name], dtype=object) for c in columns])
        out[f"input.{name}"] = _arrow(column)
    return out


def _output_column(entries: list[LoggedPrediction], counts: np.ndarray[Any, Any]) -> Any:
    outputs = [e.outputs for e in entries]
    if all(
        type(o) is np.ndarray and o.ndim == 1 and o.dtype != object and len(o) == n
        for o, n in zip(outputs, counts.tolist(), strict=True)
    ):
        return _arrow(np.concatenate(outputs))  # one answer per row, numbers: the usual case
    pieces = []
    for e, n in zip(entries, counts.tolist(), strict=True):
        outputs = e.outputs
        if hasattr(outputs, "to_numpy"):
            outputs = outputs.to_numpy()
        array = None if outputs is None else np.asarray(outputs)
        if array is None or array.ndim == 0 or len(array) != n:
            array = np.full(n, None, dtype=object)
        pieces.append(array)
    if all(p.ndim == 1 and p.dtype != object for p in pieces):
        try:
            return _arrow(np.concatenate(pieces))
        except ValueError:
            pass
    return _arrow([row for p in pieces for row in p.tolist()])


def _arrow(values: Any) -> Any:
    import pyarrow as pa

    if isinstance(values, np.ndarray) and values.dtype == object:
        values = values.tolist()
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        listed = values.tolist() if isinstance(values, np.ndarray) else values
        return pa.array([None if v is None else str(v) for v in listed], pa.string())
