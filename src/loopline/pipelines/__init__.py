"""Pipelines: steps and DAGs in plain Python, materializers, caching, debug and run modes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopline.pipelines._dag import DAG, Node, ParamSpec
from loopline.pipelines._materializers import Materializer, register_materializer
from loopline.pipelines._sdk import Pipeline, Step, pipeline, step, when
from loopline.pipelines._types import (
    CacheHit,
    FiringRecord,
    InvalidParameter,
    NotificationRecord,
    Notify,
    OutputRef,
    PipelineFailed,
    PipelineRunRecord,
    PipelineStatus,
    RunEvent,
    ScheduleRecord,
    StepRecord,
    StepStatus,
    StepUpdate,
    TemplateRecord,
)

if TYPE_CHECKING:
    from loopline.pipelines._notify import (
        Notifier,
        WebhookNotifier,
        add_notification,
        register_notifier,
        wait_for_deliveries,
        webhook,
    )
    from loopline.pipelines._runner import DebugSession, PipelineResult
    from loopline.pipelines._schedules import Scheduler, next_firings, schedule
    from loopline.pipelines._service import PipelineService
    from loopline.pipelines._templates import launch

__all__ = [
    "step",
    "pipeline",
    "when",
    "Step",
    "Pipeline",
    "DAG",
    "Node",
    "ParamSpec",
    "PipelineResult",
    "DebugSession",
    "PipelineFailed",
    "Materializer",
    "register_materializer",
    "PipelineRunRecord",
    "StepRecord",
    "StepUpdate",
    "StepStatus",
    "PipelineStatus",
    "OutputRef",
    "CacheHit",
    "PipelineService",
    "TemplateRecord",
    "InvalidParameter",
    "launch",
    "schedule",
    "ScheduleRecord",
    "FiringRecord",
    "Scheduler",
    "next_firings",
    "Notify",
    "NotificationRecord",
    "RunEvent",
    "Notifier",
    "WebhookNotifier",
    "webhook",
    "register_notifier",
    "add_notification",
    "wait_for_deliveries",
]

_LAZY = {
    "schedule": "_schedules",
    "Scheduler": "_schedules",
    "next_firings": "_schedules",
    "Notifier": "_notify",
    "WebhookNotifier": "_notify",
    "webhook": "_notify",
    "register_notifier": "_notify",
    "add_notification": "_notify",
    "wait_for_deliveries": "_notify",
}


def __getattr__(name: str) -> Any:
    # The service needs SQLAlchemy and the runner the tracking SDK: loaded when first asked for.
    if name == "PipelineService":
        from loopline.pipelines._service import PipelineService

        return PipelineService
    if name in ("PipelineResult", "DebugSession"):
        from loopline.pipelines import _runner

        return getattr(_runner, name)
    if name == "launch":
        from loopline.pipelines._templates import launch

        return launch
    if name in _LAZY:  # they need SQLAlchemy (tables) or croniter: loaded when first asked for
        from importlib import import_module

        return getattr(import_module(f"loopline.pipelines.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'loopline.pipelines' has no attribute {name!r}")
