"""Monitoring: the evaluation store (prediction and label logs), drift, live quality, monitors
and their alerts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopline.monitoring._evaluation import EvaluationStore
from loopline.monitoring._types import (
    METRICS,
    AlertRecord,
    AlertRule,
    MonitorRecord,
    MonitorResult,
    MonitorRunRecord,
    OperationalWindow,
    threshold,
)

if TYPE_CHECKING:
    from loopline.monitoring._checks import OperationsSource
    from loopline.monitoring._drift import DriftOptions, DriftReport, drift_report, endpoint_drift
    from loopline.monitoring._monitors import MonitorService
    from loopline.monitoring._quality import live_quality
    from loopline.monitoring._reference import ReferenceProfile
    from loopline.monitoring._scheduler import MonitorScheduler

__all__ = [
    "EvaluationStore",
    "ReferenceProfile",
    "DriftOptions",
    "DriftReport",
    "drift_report",
    "endpoint_drift",
    "live_quality",
    "AlertRecord",
    "METRICS",
    "AlertRule",
    "MonitorRecord",
    "MonitorResult",
    "MonitorRunRecord",
    "MonitorService",
    "MonitorScheduler",
    "OperationalWindow",
    "OperationsSource",
    "threshold",
]

# A serving process needs only the evaluation store: the statistics (numpy, scipy) load on
# first use.
_LAZY = {
    "ReferenceProfile": "loopline.monitoring._reference",
    "DriftOptions": "loopline.monitoring._drift",
    "DriftReport": "loopline.monitoring._drift",
    "drift_report": "loopline.monitoring._drift",
    "endpoint_drift": "loopline.monitoring._drift",
    "live_quality": "loopline.monitoring._quality",
    "MonitorService": "loopline.monitoring._monitors",
    "MonitorScheduler": "loopline.monitoring._scheduler",
    "OperationsSource": "loopline.monitoring._checks",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'loopline.monitoring' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
