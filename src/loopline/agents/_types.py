"""Value objects of queues, tasks, agents and autoscaler decisions (what both backends exchange)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from loopline.errors import InvalidInput

__all__ = [
    "DEFAULT_QUEUE",
    "TaskKind",
    "TaskStatus",
    "TASK_STATUSES",
    "END_TASK_STATUSES",
    "AgentStatus",
    "QueueRecord",
    "TaskRecord",
    "AgentRecord",
    "Decision",
    "validate_queue_name",
    "validate_resources",
]

DEFAULT_QUEUE = "default"
"""The queue a task goes to when none is named."""

TaskKind = Literal["step", "pipeline", "rerun"]
"""``step``: one step of a pipeline run; ``pipeline``: a whole run of a published template;
``rerun``: a rerun of a tracked run."""
TaskStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TASK_STATUSES: tuple[str, ...] = get_args(TaskStatus)
END_TASK_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
AgentStatus = Literal["idle", "busy", "lost", "stopped"]
"""``lost``: no heartbeat for longer than a lease; ``stopped``: it said goodbye."""

_QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def validate_queue_name(name: object) -> str:
    """``name`` if it is a valid queue name (letters, digits, ``_.-``; 1 to 64 characters)."""
    if not isinstance(name, str) or not _QUEUE_NAME.match(name):
        raise InvalidInput(
            f"{name!r} is not a queue name: use 1 to 64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit (for example 'gpu' or 'default')."
        )
    return name


def validate_resources(resources: object) -> dict[str, float]:
    """Resources as ``{"gpu": 1, "cpu": 2}``: names to non-negative numbers."""
    if resources is None:
        return {}
    if not isinstance(resources, dict):
        raise InvalidInput(f'Resources are a mapping such as {{"gpu": 1}}, not {resources!r}.')
    checked: dict[str, float] = {}
    for key, value in resources.items():
        if (
            not isinstance(key, str)
            or not key
            or isinstance(value, bool)
            or not isinstance(value, int | float)
            or value < 0
        ):
            raise InvalidInput(
                f"Resource {key!r}: {value!r} is not a name with a number >= 0 "
                '(for example {"gpu": 1, "memory": 4e9}).'
            )
        checked[key] = float(value)
    return checked


@dataclass(frozen=True, slots=True)
class QueueRecord:
    """A named queue: agents pull its tasks, highest ``priority`` queue first.

    ``tags`` are the resources its agents advertise (``("gpu",)``): a step asking for a GPU
    goes to a queue tagged ``gpu``.
    """

    name: str
    priority: int = 0
    tags: tuple[str, ...] = ()
    description: str = ""
    depth: int = 0
    running: int = 0
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A unit of work on a queue, with the lease of the agent that holds it.

    ``payload`` is the digest of a blob the agent fetches (a pickled step task, for a pipeline
    step); ``result`` the digest of what it uploaded at the end.
    """

    id: str
    queue: str
    kind: TaskKind
    status: TaskStatus
    payload: str
    name: str = ""
    project: str | None = None
    priority: int = 0
    resources: dict[str, float] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    max_attempts: int = 3
    agent_id: str | None = None
    lease_expires_at: datetime | None = None
    cancel_requested: bool = False
    result: str | None = None
    error: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    waiting: str | None = None
    """Why a queued task is not taken yet, when something stops it (no agent serves its queue,
    none offers its resources, its project is at its agents quota); None otherwise."""

    @property
    def done(self) -> bool:
        return self.status in END_TASK_STATUSES


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """An agent: where it runs, what it offers, what it does, when it last said so."""

    id: str
    name: str
    host: str
    queues: tuple[str, ...]
    resources: dict[str, float]
    concurrency: int
    status: AgentStatus
    pid: int | None = None
    current_tasks: tuple[str, ...] = ()
    last_heartbeat: datetime | None = None
    started_at: datetime | None = None
    labels: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    """One autoscaler decision and why: ``start``, ``stop`` or ``hold`` (nothing to do)."""

    id: int
    queue: str
    action: Literal["start", "stop", "hold"]
    reason: str
    agent: str | None = None
    depth: int = 0
    agents: int = 0
    created_at: datetime | None = None
