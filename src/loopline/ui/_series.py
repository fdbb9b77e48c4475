"""Metric series for charts: thinned on the server so a 100k-point history draws at once.

A chart is a few hundred pixels wide, so sending every point of a long history only costs time.
:func:`downsample` keeps, for each pixel-wide bucket of the step range, the first, last, lowest
and highest point (the "M4" rule): a line drawn through them looks the same as one through every
point, and no spike or dip goes missing.

Example:
    >>> steps, values = downsample(np.arange(100_000), np.sin(np.arange(100_000) / 500), 800)
    >>> len(steps) <= 4 * 800
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from loopline.tracking import MetricSeries

__all__ = ["Series", "series_from_history", "downsample", "align", "chart_payload"]

MIN_BUCKETS = 50
MAX_BUCKETS = 4_000
DEFAULT_BUCKETS = 1_000

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Series:
    """One run's points of one metric, by step; ``total`` counts them before thinning."""

    run_id: str
    label: str
    steps: IntArray
    values: FloatArray
    total: int


def clamp_buckets(width: object) -> int:
    """A bucket count from a chart width the browser sent (anything unusable: the default)."""
    try:
        number = int(str(width))
    except ValueError:
        return DEFAULT_BUCKETS
    return max(MIN_BUCKETS, min(MAX_BUCKETS, number))


def series_from_history(run_id: str, label: str, history: MetricSeries, buckets: int) -> Series:
    """A metric's history (in step order), thinned to at most ~4 points per bucket."""
    values = history.values.copy()
    # Infinities cannot be drawn and JSON cannot carry them: they become gaps, as NaN does.
    values[~np.isfinite(values)] = np.nan
    thin_steps, thin_values = downsample(history.steps, values, buckets)
    return Series(run_id, label, thin_steps, thin_values, len(history))


def downsample(steps: IntArray, values: FloatArray, buckets: int) -> tuple[IntArray, FloatArray]:
    """Keep the first, last, min and max point of each of ``buckets`` equal slices of the step
    range, in step order. ``steps`` must be sorted; NaN values are gaps (kept when a bucket has
    nothing else). Short series come back as they are.
    """
    n = len(steps)
    if n <= 4 * buckets:
        return steps, values
    first, last = int(steps[0]), int(steps[-1])
    if last > first:
        # In floats: (step - first) * buckets could overflow int64 for huge steps.
        span = last - first + 1
        scaled = (steps - first).astype(np.float64) * (buckets / span)
        ids = np.minimum(scaled.astype(np.int64), buckets - 1)
    else:  # every point at one step: slice by position instead
        ids = np.arange(n, dtype=np.int64) * buckets // n
    starts = np.flatnonzero(np.diff(ids)) + 1
    bounds = np.concatenate(([0], starts, [n]))
    keep: list[int] = []
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        chunk = values[lo:hi]
        keep.append(lo)
        finite = ~np.isnan(chunk)
        if finite.any():
            # argmin/argmax over the finite values only; NaN would win both otherwise.
            masked_low = np.where(finite, chunk, np.inf)
            masked_high = np.where(finite, chunk, -np.inf)
            keep.append(lo + int(np.argmin(masked_low)))
            keep.append(lo + int(np.argmax(masked_high)))
        keep.append(hi - 1)
    index = np.unique(np.asarray(keep, dtype=np.int64))
    return steps[index], values[index]


def align(series: Sequence[Series]) -> tuple[IntArray, list[FloatArray]]:
    """Put several series on one x axis (the union of their steps) for an overlaid chart.

    A run without a point at a step has NaN there (drawn as a gap, or spanned); a run that
    logged one step twice keeps the last value.
    """
    if not series:
        return np.empty(0, dtype=np.int64), []
    xs = np.unique(np.concatenate([s.steps for s in series]))
    out = []
    for s in series:
        ys = np.full(len(xs), np.nan)
        ys[np.searchsorted(xs, s.steps)] = s.values
        out.append(ys)
    return xs, out


def chart_payload(key: str, series: Sequence[Series]) -> dict[str, Any]:
    """JSON for one uPlot chart: ``x`` and one ``y`` list per series (null for a gap)."""
    if len(series) == 1:
        xs, ys = series[0].steps, [series[0].values]
    else:
        xs, ys = align(series)
    return {
        "key": key,
        "series": [
            {"run_id": s.run_id, "label": s.label, "points": s.total, "shown": len(s.steps)}
            for s in series
        ],
        "x": xs.tolist(),
        "y": [_nullable(y) for y in ys],
    }


def _nullable(values: FloatArray) -> list[float | None]:
    return [None if v != v else v for v in values.tolist()]
