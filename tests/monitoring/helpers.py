"""Helpers for the monitoring tests: prediction logs and labels in the serving contract."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

T0 = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
UTC_US = pa.timestamp("us", tz="UTC")


def predictions(
    ids: Sequence[str],
    *,
    start: datetime = T0,
    step: timedelta = timedelta(minutes=1),
    model: str = "churn",
    version: int = 1,
    route: str = "primary",
    inputs: dict[str, Sequence[Any]] | None = None,
    output: Sequence[Any] | None = None,
    errors: Sequence[str | None] | None = None,
    proba: bool = True,
) -> pa.Table:
    """A prediction batch as the serving side writes it: one row per request id."""
    n = len(ids)
    columns: dict[str, Any] = {
        "request_id": pa.array(list(ids), pa.string()),
        "ts": pa.array([start + i * step for i in range(n)], UTC_US),
        "model": pa.array([model] * n, pa.string()),
        "version": pa.array([version] * n, pa.int32()),
        "route": pa.array([route] * n, pa.string()),
        "latency_ms": pa.array([1.5 + i for i in range(n)], pa.float64()),
        "error": pa.array(list(errors) if errors is not None else [None] * n, pa.string()),
    }
    for name, values in (
        inputs if inputs is not None else {"x": [float(i) for i in range(n)]}
    ).items():
        columns[f"input.{name}" if name != "input" else "input"] = list(values)
    columns["output"] = list(output) if output is not None else [i % 2 for i in range(n)]
    if proba:
        columns["proba"] = pa.array([[0.25, 0.75]] * n, pa.list_(pa.float64()))
    return pa.table(columns)


def labels(pairs: dict[str, Any], *, ts: datetime = T0) -> pa.Table:
    """A label batch: ``{request_id: label}``, all known at ``ts``."""
    return pa.table(
        {
            "request_id": pa.array(list(pairs), pa.string()),
            "ts": pa.array([ts] * len(pairs), UTC_US),
            "label": list(pairs.values()),
        }
    )
