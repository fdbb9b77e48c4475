"""The monitoring, agents and automation operations of LocalBackend, over the domain
services (the rest are in _local.py; one class, split to keep modules readable)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from loopline.errors import InvalidInput, NotFound
from loopline.monitoring import OperationalWindow

if TYPE_CHECKING:  # for annotations; the domains load in their facets, on first use
    from loopline.agents import (
        AgentRecord,
        Decision,
        QueueRecord,
        QueueService,
        TaskKind,
        TaskRecord,
    )
    from loopline.automation import (  # automation
        Delivery,
        DeliveryPolicy,
        Firing,
        GateFigure,
        GateRecord,
        LoopEvent,
        TickReport,
        Trigger,
        TriggerVersion,
    )
    from loopline.automation._service import AutomationController, AutomationService  # automation
    from loopline.blobs import BlobStore
    from loopline.config import Settings
    from loopline.datasets import DatasetService
    from loopline.db import Database
    from loopline.monitoring import (
        AlertRecord,
        AlertRule,
        EvaluationStore,
        MonitorRecord,
        MonitorResult,
        MonitorRunRecord,
    )
    from loopline.monitoring._hard_examples import HardExamples  # hard examples
    from loopline.monitoring._labelling import LabellingService  # hard examples
    from loopline.monitoring._labelling_types import (
        LabellingCommit,
        LabellingPage,
        LabellingState,
    )
    from loopline.monitoring._monitors import MonitorService  # monitors (helper M)
    from loopline.pipelines import (
        PipelineService,
    )
    from loopline.projects import ProjectService
    from loopline.registry import RegistryService
    from loopline.serving._service import ServingService

__all__ = ["LocalLoopMethods"]


class LocalLoopMethods:
    """Monitors, hard examples and labelling, queues and agents, and automation, in process."""

    settings: Settings
    db: Database
    projects: ProjectService

    if TYPE_CHECKING:  # LocalBackend's own, opened on first use

        @property
        def blobs(self) -> BlobStore: ...

        @property
        def datasets(self) -> DatasetService: ...

        @property
        def registry(self) -> RegistryService: ...

        @property
        def pipelines(self) -> PipelineService: ...

        @property
        def serving(self) -> ServingService: ...

        @property
        def evaluations(self) -> EvaluationStore: ...

    # -- monitoring: monitors and their alerts (helper M) --

    @cached_property
    def monitors(self) -> MonitorService:
        """Monitors, their time series and alerts. Latency and errors come from the serving
        side's statistics (serving sits above monitoring, so the backend hands them in)."""
        from loopline.monitoring._monitors import MonitorService

        return MonitorService(
            self.db,
            self.projects,
            self.evaluations,
            registry=self.registry,
            datasets=self.datasets,
            blobs=lambda: self.blobs,
            operations=self._serving_figures,
        )

    def _serving_figures(
        self, project: str, endpoint: str, start: datetime, end: datetime
    ) -> list[OperationalWindow]:
        from loopline.errors import NotFound
        from loopline.monitoring._checks import split_label
        from loopline.serving._types import bucket_quantile

        try:
            windows = self.serving.stats(project, endpoint, since=start)
        except NotFound:
            return []  # batch scoring, or an endpoint deleted since: the logs still tell
        summed: dict[str, list[Any]] = {}
        for w in windows:
            if not start <= w.start < end:
                continue
            total = summed.setdefault(w.model, [0, 0, 0.0, [0] * len(w.buckets)])
            total[0] += w.requests
            total[1] += w.errors
            total[2] += w.latency_sum_ms
            total[3] = [a + b for a, b in zip(total[3], w.buckets, strict=False)]
        found = []
        for label, (requests, errors, latency_sum, buckets) in sorted(summed.items()):
            model, version = split_label(label)
            timed = sum(buckets) > 0
            found.append(
                OperationalWindow(
                    model=model,
                    version=version,
                    requests=requests,
                    errors=errors,
                    p50_ms=bucket_quantile(buckets, 0.5) if timed else None,
                    p95_ms=bucket_quantile(buckets, 0.95) if timed else None,
                    p99_ms=bucket_quantile(buckets, 0.99) if timed else None,
                    mean_ms=latency_sum / requests if requests else None,
                )
            )
        return found

    def create_monitor(
        self,
        project: str,
        name: str,
        endpoint: str,
        *,
        schedule: str = "*/15 * * * *",
        timezone: str = "UTC",
        window_seconds: int | None = None,
        drift: bool | Mapping[str, Any] = True,
        quality: bool | Mapping[str, Any] = True,
        latency: bool | Mapping[str, Any] = True,
        rules: Sequence[AlertRule] = (),
        notify: Sequence[Mapping[str, Any]] = (),
        enabled: bool = True,
    ) -> MonitorRecord:
        return self.monitors.create(
            project,
            name,
            endpoint,
            schedule=schedule,
            timezone=timezone,
            window=window_seconds,
            drift=drift,
            quality=quality,
            latency=latency,
            rules=rules,
            notify=notify,
            enabled=enabled,
            created_by=self.settings.actor,
        )

    def list_monitors(self, project: str) -> list[MonitorRecord]:
        return self.monitors.of_project(project)

    def get_monitor(self, project: str, name: str) -> MonitorRecord:
        return self.monitors.get(project, name)

    def set_monitor_enabled(self, project: str, name: str, enabled: bool) -> MonitorRecord:
        return self.monitors.set_enabled(project, name, enabled)

    def delete_monitor(self, project: str, name: str) -> None:
        self.monitors.delete(project, name)

    def run_monitor(self, project: str, name: str) -> MonitorRunRecord:
        return self.monitors.run(project, name)

    def monitor_runs(self, project: str, name: str, limit: int = 50) -> list[MonitorRunRecord]:
        return self.monitors.runs(project, name, limit)

    def monitor_results(
        self,
        project: str,
        name: str,
        *,
        metric: str | None = None,
        since: datetime | None = None,
        limit: int = 10_000,
    ) -> list[MonitorResult]:
        return self.monitors.results(project, name, metric=metric, since=since, limit=limit)

    def monitor_report(
        self,
        project: str,
        name: str,
        run_id: str,
        *,
        model: str | None = None,
        version: int | None = None,
    ) -> str:
        return self.monitors.report(project, name, run_id, model=model, version=version)

    def list_alerts(
        self,
        project: str,
        since: datetime | None = None,
        state: str | None = None,
        monitor: str | None = None,
        limit: int = 100,
    ) -> list[AlertRecord]:
        return self.monitors.alerts(project, since=since, state=state, monitor=monitor, limit=limit)

    # -- end of monitors --

    # -- monitoring: hard examples and their labelling (helper H) --

    @cached_property
    def labelling(self) -> LabellingService:
        from loopline.monitoring._labelling import LabellingService

        return LabellingService(
            self.db,
            self.projects,
            self.datasets,
            lambda: self.blobs,
            lambda: self.evaluations,
            self.registry,
            self.settings.home / "models",
        )

    def collect_hard_examples(
        self,
        project: str,
        endpoint: str,
        dataset: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        confidence_below: float | None = 0.6,
        misclassified: bool = True,
        limit: int = 500,
        image_shape: Sequence[int] | None = None,
        use_model: bool = True,
        actor: str = "",
    ) -> HardExamples:
        return self.labelling.collect(
            project, endpoint, dataset, since=since, until=until,
            confidence_below=confidence_below, misclassified=misclassified, limit=limit,
            image_shape=None if image_shape is None else list(image_shape),
            use_model=use_model, actor=actor or self.settings.actor,
        )  # fmt: skip

    def labelling_page(
        self, project: str, dataset: str, ref: int | str = "latest", *, offset: int = 0,
        limit: int = 50,
    ) -> LabellingPage:  # fmt: skip
        return self.labelling.page(project, dataset, ref, offset=offset, limit=limit)

    def save_labels(
        self, project: str, dataset: str, labels: Mapping[str, Any], *, actor: str
    ) -> LabellingState:
        return self.labelling.save(project, dataset, labels, actor=actor)

    def commit_labels(self, project: str, dataset: str, *, actor: str) -> LabellingCommit:
        return self.labelling.commit(project, dataset, actor=actor)

    # -- end of hard examples --

    # -- agents: queues, tasks with leases, agents, autoscaler decisions --

    @cached_property
    def agents(self) -> QueueService:
        from loopline.agents import QueueService

        return QueueService(self.db)

    def put_queue(
        self, name: str, *, priority: int = 0, tags: Sequence[str] = (), description: str = ""
    ) -> QueueRecord:
        return self.agents.put_queue(name, priority=priority, tags=tags, description=description)

    def list_queues(self) -> list[QueueRecord]:
        return self.agents.list_queues()

    def enqueue_task(
        self,
        queue: str,
        kind: TaskKind,
        payload: str,
        *,
        name: str = "",
        project: str | None = None,
        priority: int = 0,
        resources: Mapping[str, float] | None = None,
        env: Mapping[str, str] | None = None,
        max_attempts: int = 3,
    ) -> TaskRecord:
        if not self.blobs.exists(payload):
            raise InvalidInput(f"The payload {payload} of a task is not in the blob store.")
        return self.agents.enqueue(
            queue,
            kind,
            payload,
            name=name,
            project=project,
            priority=priority,
            resources=resources,
            env=env,
            max_attempts=max_attempts,
        )

    def get_task(self, task_id: str) -> TaskRecord:
        return self.agents.get_task(task_id)

    def list_tasks(
        self,
        *,
        queue: str | None = None,
        status: str | None = None,
        ids: Sequence[str] | None = None,
        limit: int = 100,
    ) -> list[TaskRecord]:
        return self.agents.list_tasks(queue=queue, status=status, ids=ids, limit=limit)

    def cancel_task(self, task_id: str) -> TaskRecord:
        return self.agents.cancel(task_id)

    def register_agent(
        self,
        name: str,
        host: str,
        queues: Sequence[str],
        *,
        resources: Mapping[str, float] | None = None,
        concurrency: int = 1,
        pid: int | None = None,
        labels: Mapping[str, Any] | None = None,
    ) -> AgentRecord:
        return self.agents.register_agent(
            name,
            host,
            queues,
            resources=resources,
            concurrency=concurrency,
            pid=pid,
            labels=labels,
        )

    def claim_task(self, agent_id: str, *, lease_seconds: float = 30.0) -> TaskRecord | None:
        return self.agents.claim(agent_id, lease_seconds=lease_seconds)

    def heartbeat_agent(
        self, agent_id: str, task_ids: Sequence[str] = (), *, lease_seconds: float = 30.0
    ) -> list[str]:
        return self.agents.heartbeat(agent_id, task_ids, lease_seconds=lease_seconds)

    def finish_task(
        self,
        task_id: str,
        agent_id: str,
        status: str,
        *,
        result: str | None = None,
        error: str | None = None,
    ) -> TaskRecord:
        return self.agents.finish(
            task_id,
            agent_id,
            status,  # type: ignore[arg-type]  # checked by the service
            result=result,
            error=error,
        )

    def list_agents(self, *, include_stopped: bool = False) -> list[AgentRecord]:
        return self.agents.list_agents(include_stopped=include_stopped)

    def stop_agent(self, agent_id: str) -> AgentRecord:
        return self.agents.stop_agent(agent_id)

    def record_decision(
        self,
        queue: str,
        action: str,
        reason: str,
        *,
        agent: str | None = None,
        depth: int = 0,
        agents: int = 0,
    ) -> Decision:
        return self.agents.record_decision(
            queue,
            action,  # type: ignore[arg-type]  # checked by the service
            reason,
            agent=agent,
            depth=depth,
            agents=agents,
        )

    def list_decisions(self, *, queue: str | None = None, limit: int = 100) -> list[Decision]:
        return self.agents.list_decisions(queue=queue, limit=limit)

    # -- end of agents --

    # -- automation: triggers, gates, delivery policies, the loop's timeline --

    @cached_property
    def automation(self) -> AutomationService:
        from loopline.automation._service import AutomationService

        return AutomationService(
            self.db,
            self.projects,
            pipelines=self.pipelines,
            datasets=self.datasets,
            serving=self.serving,
            registry=self.registry,
            evaluations=lambda: self.evaluations,
            # The triggers' cursor is inclusive (it keeps the ids seen at its instant); the
            # monitors' ``since`` is exclusive: step back one tick of the clock.
            alerts=lambda project, since: self.monitors.alerts(
                project,
                since=None if since is None else since - timedelta(microseconds=1),
                limit=1000,
            ),
        )

    @cached_property
    def automation_controller(self) -> AutomationController:
        """The controller ``tick`` runs (a server starts its own thread over the same)."""
        from loopline.automation._service import AutomationController

        return AutomationController(self.automation, self.settings)

    def put_trigger(
        self, project: str, name: str, definition: Mapping[str, Any], *, actor: str
    ) -> Trigger:
        fields = dict(definition)
        unknown = set(fields) - {
            "kind", "template", "params", "template_version", "config", "debounce",
            "description", "enabled",
        }  # fmt: skip
        if unknown or "kind" not in fields or "template" not in fields:
            raise InvalidInput(
                f"A trigger has kind, template, params, template_version, config, debounce, "
                f"description and enabled (unknown: {sorted(unknown)})."
            )
        return self.automation.triggers.put(project, name, actor=actor, **fields)

    def get_trigger(self, project: str, name: str) -> Trigger:
        return self.automation.triggers.get(project, name)

    def list_triggers(self, project: str) -> list[Trigger]:
        return self.automation.triggers.list(project)

    def set_trigger_enabled(self, project: str, name: str, enabled: bool) -> Trigger:
        return self.automation.triggers.set_enabled(project, name, enabled)

    def delete_trigger(self, project: str, name: str) -> None:
        self.automation.triggers.delete(project, name)

    def trigger_versions(self, project: str, name: str) -> list[TriggerVersion]:
        return self.automation.triggers.versions(project, name)

    def trigger_firings(self, project: str, name: str, limit: int = 50) -> list[Firing]:
        return self.automation.triggers.firings(project, name, limit)

    def fire_trigger(
        self, project: str, name: str, payload: Mapping[str, Any], *, actor: str
    ) -> Firing:
        controller = self.automation_controller
        return self.automation.triggers.fire(
            project, name, payload, actor=actor, launch=controller.launch,
            run_status=self.automation.run_status,
        )  # fmt: skip

    def record_gate(
        self,
        project: str,
        model: str,
        *,
        passed: bool,
        figures: Sequence[GateFigure],
        message: str = "",
        challenger_version: int | None = None,
        champion_version: int | None = None,
        run_id: str | None = None,
        pipeline_run_id: str | None = None,
    ) -> GateRecord:
        return self.automation.gates.record(
            project, model, passed=passed, figures=list(figures), message=message,
            challenger_version=challenger_version, champion_version=champion_version,
            run_id=run_id, pipeline_run_id=pipeline_run_id,
        )  # fmt: skip

    def list_gates(self, project: str, *, model: str | None = None) -> list[GateRecord]:
        return self.automation.gates.list(project, model=model)

    def set_delivery_policy(
        self, project: str, endpoint: str, policy: Mapping[str, Any], *, actor: str
    ) -> DeliveryPolicy:
        fields = {k: v for k, v in policy.items() if v is not None}
        unknown = set(fields) - {
            "canary_percent", "shadow_first", "observe_for", "min_requests", "min_labels",
            "margins", "alias", "enabled",
        }  # fmt: skip
        if unknown:
            raise InvalidInput(f"A delivery policy has no {sorted(unknown)}.")
        return self.automation.deliveries.set_policy(project, endpoint, actor=actor, **fields)

    def get_delivery_policy(self, project: str, endpoint: str) -> DeliveryPolicy:
        return self.automation.deliveries.policy(project, endpoint)

    def list_delivery_policies(self, project: str) -> list[DeliveryPolicy]:
        return self.automation.deliveries.policies(project)

    def delete_delivery_policy(self, project: str, endpoint: str) -> None:
        self.automation.deliveries.delete_policy(project, endpoint)

    def list_deliveries(self, project: str, *, active: bool = False) -> list[Delivery]:
        return self.automation.deliveries.list(project, active=active)

    def automation_timeline(
        self, project: str, *, limit: int = 100, before: int | None = None
    ) -> list[LoopEvent]:
        return self.automation.timeline.events(project, limit=limit, before=before)

    def revert_automation_event(self, project: str, event_id: int, *, actor: str) -> LoopEvent:
        event = self.automation.timeline.get(event_id)
        if event.project != project:
            raise NotFound(f"Project {project!r} has no automation event {event_id}.")
        return self.automation.revert(event_id, actor=actor)

    def automation_tick(self, now: datetime | None = None) -> TickReport:
        return self.automation_controller.tick(now)

    # -- end of automation --
