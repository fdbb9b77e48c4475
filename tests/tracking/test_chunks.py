"""Packed metric chunks round-trip every value, NaN and infinities included."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopline.tracking import MetricPoint
from loopline.tracking._chunks import pack, series

_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_POINTS = st.lists(st.tuples(st.floats(allow_nan=True), _INT64, _INT64), min_size=1, max_size=50)


@given(_POINTS)
def test_pack_then_read_gives_the_same_points(rows: list[tuple[float, int, int]]) -> None:
    points = [MetricPoint("k", value, step, ts) for value, step, ts in rows]
    back = series("k", [pack(points)]).points()
    # A history reads by step, then time; equal ones keep the order they were logged in.
    points.sort(key=lambda p: (p.step, p.timestamp_ms))
    assert len(back) == len(points)
    for original, restored in zip(points, back, strict=True):
        assert (restored.key, restored.step, restored.timestamp_ms) == (
            original.key,
            original.step,
            original.timestamp_ms,
        )
        if math.isnan(original.value):
            assert math.isnan(restored.value)
        else:
            assert restored.value == original.value


def test_a_damaged_chunk_is_refused() -> None:
    steps, stamps, values = pack([MetricPoint("k", 1.0, 0, 0), MetricPoint("k", 2.0, 1, 1)])
    with pytest.raises(ValueError, match="damaged"):
        series("k", [(steps[:8], stamps, values)])
