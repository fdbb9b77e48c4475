"""Packing metric points into chunks and back: columns as little-endian binary arrays."""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable, Sequence

from loopline.tracking._types import MetricPoint

__all__ = ["pack", "unpack"]

_LITTLE = sys.byteorder == "little"


def pack(points: Sequence[MetricPoint]) -> tuple[bytes, bytes, bytes]:
    """``(steps, timestamps_ms, values)`` of one key's points, each a packed array."""
    steps = array("q", [p.step for p in points])
    stamps = array("q", [p.timestamp_ms for p in points])
    values = array("d", [p.value for p in points])
    return _bytes(steps), _bytes(stamps), _bytes(values)


def unpack(key: str, steps: bytes, stamps: bytes, values: bytes) -> Iterable[MetricPoint]:
    """The points of one chunk, in the order they were logged."""
    s: array[int] = _ints(steps)
    t: array[int] = _ints(stamps)
    v: array[float] = _floats(values)
    if not len(s) == len(t) == len(v):
        raise ValueError("a metric chunk's columns differ in length: the row is damaged")
    return (MetricPoint(key, value, step, ts) for step, ts, value in zip(s, t, v, strict=True))


def _bytes(data: array[int] | array[float]) -> bytes:
    if not _LITTLE:  # pragma: no cover - every platform we ship on is little-endian
        data = array(data.typecode, data)
        data.byteswap()
    return data.tobytes()


def _ints(raw: bytes) -> array[int]:
    data = array("q")
    data.frombytes(raw)
    if not _LITTLE:  # pragma: no cover
        data.byteswap()
    return data


def _floats(raw: bytes) -> array[float]:
    data = array("d")
    data.frombytes(raw)
    if not _LITTLE:  # pragma: no cover
        data.byteswap()
    return data
