"""Chart thinning and the runs table's URL state: properties that must hold for any input."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from loopline.tracking import MetricPoint, MetricSeries
from loopline.ui._query import RunsQuery, parse_column
from loopline.ui._series import align, downsample, series_from_history

_values = st.floats(allow_nan=True, allow_infinity=False, width=64)


@given(
    values=st.lists(_values, min_size=1, max_size=3_000),
    gaps=st.lists(st.integers(0, 50), min_size=1, max_size=3_000),
    buckets=st.integers(1, 200),
)
def test_downsample_keeps_order_ends_and_extremes(
    values: list[float], gaps: list[int], buckets: int
) -> None:
    n = min(len(values), len(gaps))
    steps = np.cumsum(np.asarray(gaps[:n], dtype=np.int64))
    ys = np.asarray(values[:n], dtype=np.float64)
    xs_out, ys_out = downsample(steps, ys, buckets)
    assert len(xs_out) <= max(n if n <= 4 * buckets else 0, 4 * buckets)
    assert list(xs_out) == sorted(xs_out)
    assert xs_out[0] == steps[0]
    assert xs_out[-1] == steps[-1]
    finite = ys[~np.isnan(ys)]
    kept = ys_out[~np.isnan(ys_out)]
    if len(finite):
        assert kept.min() == finite.min()
        assert kept.max() == finite.max()
    # Every point kept is a real point of the input.
    pairs = set(zip(steps.tolist(), ys.tolist(), strict=True))
    assert all(
        (x, y) in pairs or (math.isnan(y) and any(px == x for px, _ in pairs))
        for x, y in zip(xs_out.tolist(), ys_out.tolist(), strict=True)
    )


def test_a_long_series_is_thinned_to_its_buckets() -> None:
    points = [MetricPoint("loss", float(i % 97), i, 0) for i in range(100_000)]
    points.append(MetricPoint("loss", math.inf, 100_000, 0))
    series = series_from_history("r", "run", MetricSeries.of("loss", points), 500)
    assert series.total == 100_001
    assert len(series.steps) <= 2_000
    assert np.nanmax(series.values) == 96.0  # infinity became a gap, not the maximum
    assert math.isnan(series.values[-1])


def test_align_puts_runs_on_the_union_of_their_steps() -> None:
    a = series_from_history(
        "a", "a", MetricSeries.of("m", [MetricPoint("m", 1.0, s, 0) for s in (0, 2, 4)]), 100
    )
    b = series_from_history(
        "b", "b", MetricSeries.of("m", [MetricPoint("m", 2.0, s, 0) for s in (1, 2)]), 100
    )
    xs, (ya, yb) = align([a, b])
    assert xs.tolist() == [0, 1, 2, 4]
    assert [None if math.isnan(v) else v for v in ya.tolist()] == [1.0, None, 1.0, 1.0]
    assert [None if math.isnan(v) else v for v in yb.tolist()] == [None, 2.0, 2.0, None]


@given(
    st.dictionaries(
        st.sampled_from(["filter", "sort", "page", "per_page", "cols", "sel", "x"]),
        st.text(max_size=60),
    )
)
def test_any_query_string_reads_and_round_trips(params: dict[str, str]) -> None:
    from urllib.parse import parse_qsl

    query = RunsQuery.from_params(params)
    assert query.page >= 1
    assert query.per_page in (25, 50, 100, 200)
    again = RunsQuery.from_params(dict(parse_qsl(query.query_string(), keep_blank_values=True)))
    assert again == query


def test_columns_and_sorting() -> None:
    acc = parse_column("metrics.val acc")
    assert acc is not None
    assert acc.sort_field == "metrics.`val acc`"
    assert parse_column("metrics.") is None
    assert parse_column("bogus") is None
    query = RunsQuery().sorted_by(acc)
    assert query.sort == "metrics.`val acc` desc"
    assert query.sort_state(acc) == "desc"
    assert query.sorted_by(acc).sort_state(acc) == "asc"
