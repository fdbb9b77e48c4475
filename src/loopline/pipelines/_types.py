"""Value objects of pipeline runs: what the store records and both backends exchange."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from loopline.errors import InvalidInput, LooplineError

__all__ = [
    "StepStatus",
    "PipelineStatus",
    "STEP_STATUSES",
    "DONE_STATUSES",
    "OutputRef",
    "StepUpdate",
    "StepRecord",
    "PipelineRunRecord",
    "CacheHit",
    "PipelineFailed",
    "InvalidParameter",
    "TemplateRecord",
    "Notify",
    "NotificationRecord",
    "RunEvent",
    "ScheduleRecord",
    "FiringRecord",
    "END_STATUSES",
]

StepStatus = Literal[
    "pending", "running", "succeeded", "failed", "cached", "reused", "skipped", "stopped"
]
"""Where a step of a run is. ``cached``: its outputs came from the cache without executing;
``reused``: from an earlier run (partial runs); ``skipped``: a condition (``ll.when``) was false."""
PipelineStatus = Literal["running", "succeeded", "failed", "stopped"]

STEP_STATUSES: tuple[str, ...] = get_args(StepStatus)
DONE_STATUSES = frozenset({"succeeded", "cached", "reused", "skipped"})
"""Step states whose outputs (or their absence, for ``skipped``) downstream steps can use."""


@dataclass(frozen=True, slots=True)
class OutputRef:
    """One output of a step: a blob, and the materializer that wrote it."""

    digest: str
    size: int
    materializer: str
    type_name: str


@dataclass(frozen=True, slots=True)
class StepUpdate:
    """A change of one step's state, sent to the store in batches (one call per scheduler tick).

    ``running`` creates the step's tracked run (a child of the pipeline run, with ``params``);
    ``succeeded``/``failed``/``stopped`` end it; ``cached``/``reused`` name the step run whose
    outputs were taken (``source_run``) and execute nothing.
    """

    step: str
    status: StepStatus
    cache_key: str | None = None
    params: dict[str, str] | None = None
    outputs: tuple[OutputRef, ...] | None = None
    error: str | None = None
    source_run: str | None = None
    attempt: int = 1
    console: str | None = None


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One step of a pipeline run as stored."""

    name: str
    status: StepStatus
    run_id: str | None = None
    cache_key: str | None = None
    outputs: tuple[OutputRef, ...] = ()
    error: str | None = None
    source_run: str | None = None
    attempt: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PipelineRunRecord:
    """A pipeline run: its tracked run's id, its parameters, DAG spec and steps."""

    id: str
    project: str
    pipeline: str
    status: PipelineStatus
    params: dict[str, Any]
    started_at: datetime
    ended_at: datetime | None = None
    dag: dict[str, Any] = field(default_factory=dict)
    steps: tuple[StepRecord, ...] = ()

    def step(self, name: str) -> StepRecord:
        """The step called ``name``. Raises NotFound (with a suggestion) for an unknown one."""
        from loopline.errors import NotFound, did_you_mean

        for record in self.steps:
            if record.name == name:
                return record
        names = [s.name for s in self.steps]
        raise NotFound(f"Pipeline run {self.id} has no step {name!r}.{did_you_mean(name, names)}")


@dataclass(frozen=True, slots=True)
class CacheHit:
    """Outputs stored under a cache key, and the step run that produced them."""

    cache_key: str
    outputs: tuple[OutputRef, ...]
    run_id: str | None


class PipelineFailed(LooplineError):
    """A pipeline run ended failed or stopped; ``result`` holds what each step did.

    Example:
        >>> try:
        ...     p.run()
        ... except ll.pipelines.PipelineFailed as exc:
        ...     print(exc.result.failed)
    """

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


class InvalidParameter(InvalidInput):
    """A pipeline parameter value does not fit the parameter's type (``details["field"]``
    names it); servers answer 422."""


@dataclass(frozen=True, slots=True)
class TemplateRecord:
    """A published version of a pipeline: what an operator launches without the source tree.

    ``dag`` holds the DAG spec (its ``params`` are the launch form's fields); ``code`` is the
    digest of the code snapshot (a zip of the pipeline's module and its local imports);
    ``entry`` is ``"module:qualname"`` of the pipeline function inside that snapshot.
    """

    project: str
    name: str
    version: int
    description: str
    dag: dict[str, Any]
    code: str
    entry: str
    requirements: tuple[str, ...] = ()
    created_at: datetime | None = None
    created_by: str = ""

    @property
    def params(self) -> list[dict[str, Any]]:
        """The parameter schema: name, type, default and required, one per form field."""
        return list(self.dag.get("params", []))


END_STATUSES: tuple[str, ...] = ("succeeded", "failed", "stopped")


@dataclass(frozen=True, slots=True)
class Notify:
    """Whom to tell when a pipeline run ends: a notifier (by registered name), its settings,
    and the endings that concern it.

    Example:
        >>> ll.pipelines.Notify("webhook", {"url": "https://chat.example/hook"}, on=("failed",))
    """

    notifier: str
    config: dict[str, Any] = field(default_factory=dict)
    on: tuple[str, ...] = END_STATUSES


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """A :class:`Notify` attached to exactly one of: a pipeline (every run of it, a published
    template's included), a schedule (the runs it launches), or one run."""

    id: int
    project: str
    notify: Notify
    pipeline: str | None = None
    schedule: str | None = None
    run: str | None = None


@dataclass(frozen=True, slots=True)
class RunEvent:
    """What a notifier is told: a pipeline run ended.

    ``link`` is the run's page on the server's web UI, as a path (``/ui/runs/<id>``): the
    store does not know which address people reach the server at.
    """

    run_id: str
    project: str
    pipeline: str
    status: PipelineStatus
    started_at: datetime
    ended_at: datetime | None
    params: dict[str, Any]
    link: str
    schedule: str | None = None


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """A published template launched on a cron expression, in a time zone.

    ``version`` is ``"latest"`` (whatever is newest at each firing) or a pinned number;
    ``next_fire_at`` is ``None`` while the schedule is paused.
    """

    id: str
    project: str
    template: str
    cron: str
    timezone: str
    params: dict[str, Any]
    version: str
    enabled: bool
    next_fire_at: datetime | None
    last_fire_at: datetime | None = None
    created_at: datetime | None = None
    created_by: str = ""
    notify: tuple[Notify, ...] = ()


@dataclass(frozen=True, slots=True)
class FiringRecord:
    """One firing of a schedule: when it was due, the run it launched (or why none).

    ``missed`` counts the firings that fell due while no scheduler ran and were folded into
    this one (a scheduler catches up with at most one firing).
    """

    schedule: str
    fire_at: datetime
    fired_at: datetime
    run_id: str | None = None
    error: str | None = None
    missed: int = 0
