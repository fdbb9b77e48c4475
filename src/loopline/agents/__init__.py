"""Agents: queues with leases, the agent loop, the autoscaler, the queue and Ray executors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopline.agents._submit import launch, rerun, wait_for
from loopline.agents._sweep import SweepResult, Trial, sweep
from loopline.agents._types import (
    DEFAULT_QUEUE,
    AgentRecord,
    Decision,
    QueueRecord,
    TaskKind,
    TaskRecord,
    TaskStatus,
    validate_queue_name,
)

if TYPE_CHECKING:
    from loopline.agents._service import QueueService

__all__ = [
    "DEFAULT_QUEUE",
    "AgentRecord",
    "Decision",
    "QueueRecord",
    "QueueService",
    "SweepResult",
    "TaskKind",
    "TaskRecord",
    "TaskStatus",
    "Trial",
    "launch",
    "rerun",
    "sweep",
    "validate_queue_name",
    "wait_for",
    "connect_ray",
]


def __getattr__(name: str) -> object:
    if name == "QueueService":  # the service needs SQLAlchemy; remote clients never load it
        from loopline.agents._service import QueueService

        return QueueService
    if name == "connect_ray":  # Ray is imported only when asked for
        from loopline.agents._ray import connect_ray

        return connect_ray
    raise AttributeError(f"module 'loopline.agents' has no attribute {name!r}")
