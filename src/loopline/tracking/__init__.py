"""Experiment tracking: runs, params, metrics, tags, artifacts, environment and search."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopline.tracking._compare import RunComparison, compare_runs
from loopline.tracking._types import (
    MAX_CONSOLE_PIECE,
    RUN_STATUSES,
    Artifact,
    ConsoleText,
    MetricPoint,
    MetricSeries,
    MetricSummary,
    Run,
    RunStatus,
    RunTable,
    decode_float,
    encode_float,
    validate_key,
    validate_run_id,
)

if TYPE_CHECKING:
    from loopline.tracking._service import TrackingService
    from loopline.tracking._writer import MetricWriter

__all__ = [
    "RunComparison",
    "compare_runs",
    "Run",
    "RunStatus",
    "RunTable",
    "RUN_STATUSES",
    "MetricPoint",
    "MetricSummary",
    "MetricSeries",
    "Artifact",
    "ConsoleText",
    "MAX_CONSOLE_PIECE",
    "TrackingService",
    "MetricWriter",
    "validate_key",
    "validate_run_id",
    "encode_float",
    "decode_float",
]


def __getattr__(name: str) -> Any:
    # The service needs SQLAlchemy; remote clients only need the value types above.
    if name == "TrackingService":
        from loopline.tracking._service import TrackingService

        return TrackingService
    if name == "MetricWriter":
        from loopline.tracking._writer import MetricWriter

        return MetricWriter
    raise AttributeError(f"module 'loopline.tracking' has no attribute {name!r}")
