"""Packing metric points into chunks and back: columns as little-endian binary arrays."""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence

from loopline.tracking._types import MetricPoint, MetricSeries

__all__ = ["pack", "series"]

_LITTLE = sys.byteorder == "little"


def pack(points: Sequence[MetricPoint]) -> tuple[bytes, bytes, bytes]:
    """``(steps, timestamps_ms, values)`` of one key's points, each a packed array."""
    steps = array("q", [p.step for p in points])
    stamps = array("q", [p.timestamp_ms for p in points])
    values = array("d", [p.value for p in points])
    return _bytes(steps), _bytes(stamps), _bytes(values)


def series(key: str, chunks: Sequence[tuple[bytes, bytes, bytes]]) -> MetricSeries:
    """The points of ``chunks`` (in the order they were stored) as arrays, by step then time."""
    import numpy as np

    parts = [
        (np.frombuffer(s, "<i8"), np.frombuffer(t, "<i8"), np.frombuffer(v, "<f8"))
        for s, t, v in chunks
    ]
    if any(not len(s) == len(t) == len(v) for s, t, v in parts):
        raise ValueError("a metric chunk's columns differ in length: the row is damaged")
    if not parts:
        empty = np.empty(0, np.int64)
        return MetricSeries(key, empty, empty.copy(), np.empty(0, np.float64))
    return MetricSeries.ordered(
        key,
        np.concatenate([p[0] for p in parts]).astype(np.int64),
        np.concatenate([p[1] for p in parts]).astype(np.int64),
        np.concatenate([p[2] for p in parts]).astype(np.float64),
    )


def _bytes(data: array[int] | array[float]) -> bytes:
    if not _LITTLE:  # pragma: no cover - every platform we ship on is little-endian
        data = array(data.typecode, data)
        data.byteswap()
    return data.tobytes()
