"""The monitoring, agents and automation calls of RemoteBackend, each one request to the
server's HTTP API (the rest are in _remote.py; one class, split to keep modules readable)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from loopline.agents import (
    AgentRecord,
    Decision,
    QueueRecord,
    TaskKind,
    TaskRecord,
    validate_queue_name,
)
from loopline.automation import (
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
from loopline.blobs import validate_digest
from loopline.client import ApiClient
from loopline.errors import InvalidInput
from loopline.monitoring import (
    AlertRecord,
    AlertRule,
    MonitorRecord,
    MonitorResult,
    MonitorRunRecord,
)
from loopline.monitoring._evaluation import validate_endpoint_name
from loopline.monitoring._hard_examples import HardExamples
from loopline.monitoring._labelling_types import (
    LabellingCommit,
    LabellingPage,
    LabellingState,
)
from loopline.projects import validate_project_name

__all__ = ["RemoteLoopMethods"]


class RemoteLoopMethods:
    """Monitors, hard examples and labelling, queues and agents, and automation, over HTTP."""

    api: ApiClient

    def _project_at(self, project: str) -> str:
        return f"/api/v1/projects/{self.api.quote(validate_project_name(project))}"

    # -- monitoring: monitors and their alerts (helper M) --

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
        from loopline.monitoring._monitors import check_notify

        body = {
            "name": name,
            "endpoint": endpoint,
            "schedule": schedule,
            "timezone": timezone,
            "window_seconds": window_seconds,
            "drift": drift if isinstance(drift, bool) else dict(drift),
            "quality": quality if isinstance(quality, bool) else dict(quality),
            "latency": latency if isinstance(latency, bool) else dict(latency),
            "rules": [r.to_dict() for r in rules],
            "notify": check_notify(notify),
            "enabled": enabled,
        }
        data = self.api.post(f"{self._project_at(project)}/monitors", json=body)
        return self.api.decode(MonitorRecord, data)

    def list_monitors(self, project: str) -> list[MonitorRecord]:
        data = self.api.get(f"{self._project_at(project)}/monitors")
        return self.api.decode(list[MonitorRecord], data)

    def get_monitor(self, project: str, name: str) -> MonitorRecord:
        return self.api.decode(MonitorRecord, self.api.get(self._monitor_at(project, name)))

    def set_monitor_enabled(self, project: str, name: str, enabled: bool) -> MonitorRecord:
        action = "resume" if enabled else "pause"
        data = self.api.request(
            "POST", f"{self._monitor_at(project, name)}/{action}", json={}, idempotent=True
        )
        return self.api.decode(MonitorRecord, data)

    def delete_monitor(self, project: str, name: str) -> None:
        self.api.request("DELETE", self._monitor_at(project, name), idempotent=True)

    def run_monitor(self, project: str, name: str) -> MonitorRunRecord:
        data = self.api.post(f"{self._monitor_at(project, name)}/run", json={})
        return self.api.decode(MonitorRunRecord, data)

    def monitor_runs(self, project: str, name: str, limit: int = 50) -> list[MonitorRunRecord]:
        data = self.api.get(f"{self._monitor_at(project, name)}/runs", params={"limit": limit})
        return self.api.decode(list[MonitorRunRecord], data)

    def monitor_results(
        self,
        project: str,
        name: str,
        *,
        metric: str | None = None,
        since: datetime | None = None,
        limit: int = 10_000,
    ) -> list[MonitorResult]:
        params: dict[str, Any] = {"limit": limit}
        if metric is not None:
            params["metric"] = metric
        if since is not None:
            params["since"] = since.isoformat()
        data = self.api.get(f"{self._monitor_at(project, name)}/results", params=params)
        return self.api.decode(list[MonitorResult], data)

    def monitor_report(
        self,
        project: str,
        name: str,
        run_id: str,
        *,
        model: str | None = None,
        version: int | None = None,
    ) -> str:
        params = {k: v for k, v in (("model", model), ("version", version)) if v is not None}
        path = f"{self._monitor_at(project, name)}/runs/{self.api.quote(run_id)}/report"
        return str(self.api.get(path, params=params)["html"])

    def list_alerts(
        self,
        project: str,
        since: datetime | None = None,
        state: str | None = None,
        monitor: str | None = None,
        limit: int = 100,
    ) -> list[AlertRecord]:
        params: dict[str, Any] = {"limit": limit}
        if since is not None:
            params["since"] = since.isoformat()
        if state is not None:
            params["state"] = state
        if monitor is not None:
            params["monitor"] = monitor
        data = self.api.get(f"{self._project_at(project)}/alerts", params=params)
        return self.api.decode(list[AlertRecord], data)

    def _monitor_at(self, project: str, name: str) -> str:
        return f"{self._project_at(project)}/monitors/{self.api.quote(name)}"

    # -- end of monitors --

    # -- monitoring: hard examples and their labelling (helper H) --

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
        endpoint_at = self.api.quote(validate_endpoint_name(endpoint))
        body = {
            "dataset": dataset,
            "since": None if since is None else since.isoformat(),
            "until": None if until is None else until.isoformat(),
            "confidence_below": confidence_below,
            "misclassified": misclassified,
            "limit": limit,
            "image_shape": None if image_shape is None else list(image_shape),
            "use_model": use_model,
            "actor": actor,
        }
        data = self.api.post(
            f"{self._project_at(project)}/monitoring/endpoints/{endpoint_at}/hard-examples",
            json=body,
        )
        return self.api.decode(HardExamples, data)

    def _labelling_at(self, project: str, dataset: str) -> str:
        return f"{self._project_at(project)}/labelling/{self.api.quote(dataset)}"

    def labelling_page(
        self, project: str, dataset: str, ref: int | str = "latest", *, offset: int = 0,
        limit: int = 50,
    ) -> LabellingPage:  # fmt: skip
        params = {"version": str(ref), "offset": offset, "limit": limit}
        data = self.api.get(self._labelling_at(project, dataset), params=params)
        return self.api.decode(LabellingPage, data)

    def save_labels(
        self, project: str, dataset: str, labels: Mapping[str, Any], *, actor: str
    ) -> LabellingState:
        body = {"labels": dict(labels), "actor": actor}
        data = self.api.put(f"{self._labelling_at(project, dataset)}/labels", json=body)
        return self.api.decode(LabellingState, data)

    def commit_labels(self, project: str, dataset: str, *, actor: str) -> LabellingCommit:
        data = self.api.post(
            f"{self._labelling_at(project, dataset)}/commit", json={"actor": actor}
        )
        return self.api.decode(LabellingCommit, data)

    # -- end of hard examples --

    # -- agents: queues, tasks with leases, agents, autoscaler decisions --

    def put_queue(
        self, name: str, *, priority: int = 0, tags: Sequence[str] = (), description: str = ""
    ) -> QueueRecord:
        body = {"priority": priority, "tags": list(tags), "description": description}
        data = self.api.put(f"/api/v1/queues/{validate_queue_name(name)}", json=body)
        return self.api.decode(QueueRecord, data)

    def list_queues(self) -> list[QueueRecord]:
        return self.api.decode(list[QueueRecord], self.api.get("/api/v1/queues"))

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
        body = {
            "kind": kind,
            "payload": validate_digest(payload),
            "name": name,
            "project": project,
            "priority": priority,
            "resources": dict(resources or {}),
            "env": dict(env or {}),
            "max_attempts": max_attempts,
        }
        data = self.api.post(f"/api/v1/queues/{validate_queue_name(queue)}/tasks", json=body)
        return self.api.decode(TaskRecord, data)

    def get_task(self, task_id: str) -> TaskRecord:
        return self.api.decode(TaskRecord, self.api.get(f"/api/v1/tasks/{_id(task_id)}"))

    def list_tasks(
        self,
        *,
        queue: str | None = None,
        status: str | None = None,
        ids: Sequence[str] | None = None,
        limit: int = 100,
    ) -> list[TaskRecord]:
        query: dict[str, Any] = {"limit": limit}
        if queue is not None:
            query["queue"] = queue
        if status is not None:
            query["status"] = status
        if ids is not None:
            if not ids:
                return []
            query["ids"] = ",".join(_id(i) for i in ids)
        return self.api.decode(list[TaskRecord], self.api.get("/api/v1/tasks", params=query))

    def cancel_task(self, task_id: str) -> TaskRecord:
        data = self.api.post(f"/api/v1/tasks/{_id(task_id)}/cancel", json={})
        return self.api.decode(TaskRecord, data)

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
        body = {
            "name": name,
            "host": host,
            "queues": list(queues),
            "resources": dict(resources or {}),
            "concurrency": concurrency,
            "pid": pid,
            "labels": dict(labels or {}),
        }
        return self.api.decode(AgentRecord, self.api.post("/api/v1/agents", json=body))

    def claim_task(self, agent_id: str, *, lease_seconds: float = 30.0) -> TaskRecord | None:
        data = self.api.post(
            f"/api/v1/agents/{_id(agent_id)}/claim", json={"lease_seconds": lease_seconds}
        )
        return None if data is None else self.api.decode(TaskRecord, data)

    def heartbeat_agent(
        self, agent_id: str, task_ids: Sequence[str] = (), *, lease_seconds: float = 30.0
    ) -> list[str]:
        body = {"task_ids": list(task_ids), "lease_seconds": lease_seconds}
        data = self.api.post(f"/api/v1/agents/{_id(agent_id)}/heartbeat", json=body)
        return self.api.decode(list[str], data)

    def finish_task(
        self,
        task_id: str,
        agent_id: str,
        status: str,
        *,
        result: str | None = None,
        error: str | None = None,
    ) -> TaskRecord:
        body = {"agent_id": agent_id, "status": status, "result": result, "error": error}
        data = self.api.post(f"/api/v1/tasks/{_id(task_id)}/finish", json=body)
        return self.api.decode(TaskRecord, data)

    def list_agents(self, *, include_stopped: bool = False) -> list[AgentRecord]:
        data = self.api.get("/api/v1/agents", params={"include_stopped": include_stopped})
        return self.api.decode(list[AgentRecord], data)

    def stop_agent(self, agent_id: str) -> AgentRecord:
        data = self.api.post(f"/api/v1/agents/{_id(agent_id)}/stop", json={})
        return self.api.decode(AgentRecord, data)

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
        body = {
            "queue": queue,
            "action": action,
            "reason": reason,
            "agent": agent,
            "depth": depth,
            "agents": agents,
        }
        return self.api.decode(Decision, self.api.post("/api/v1/autoscaler/decisions", json=body))

    def list_decisions(self, *, queue: str | None = None, limit: int = 100) -> list[Decision]:
        query: dict[str, Any] = {"limit": limit}
        if queue is not None:
            query["queue"] = queue
        data = self.api.get("/api/v1/autoscaler/decisions", params=query)
        return self.api.decode(list[Decision], data)

    # -- end of agents --

    # -- automation: triggers, gates, delivery policies, the loop's timeline --

    def _automation_at(self, project: str) -> str:
        return f"{self._project_at(project)}/automation"

    def _trigger_at(self, project: str, name: str) -> str:
        return f"{self._automation_at(project)}/triggers/{self.api.quote(name)}"

    def put_trigger(
        self, project: str, name: str, definition: Mapping[str, Any], *, actor: str
    ) -> Trigger:
        body = {"actor": actor, "definition": dict(definition)}
        return self.api.decode(Trigger, self.api.put(self._trigger_at(project, name), json=body))

    def get_trigger(self, project: str, name: str) -> Trigger:
        return self.api.decode(Trigger, self.api.get(self._trigger_at(project, name)))

    def list_triggers(self, project: str) -> list[Trigger]:
        data = self.api.get(f"{self._automation_at(project)}/triggers")
        return self.api.decode(list[Trigger], data)

    def set_trigger_enabled(self, project: str, name: str, enabled: bool) -> Trigger:
        data = self.api.put(f"{self._trigger_at(project, name)}/enabled", json={"enabled": enabled})
        return self.api.decode(Trigger, data)

    def delete_trigger(self, project: str, name: str) -> None:
        self.api.delete(self._trigger_at(project, name))

    def trigger_versions(self, project: str, name: str) -> list[TriggerVersion]:
        data = self.api.get(f"{self._trigger_at(project, name)}/versions")
        return self.api.decode(list[TriggerVersion], data)

    def trigger_firings(self, project: str, name: str, limit: int = 50) -> list[Firing]:
        data = self.api.get(f"{self._trigger_at(project, name)}/firings", params={"limit": limit})
        return self.api.decode(list[Firing], data)

    def fire_trigger(
        self, project: str, name: str, payload: Mapping[str, Any], *, actor: str
    ) -> Firing:
        body = {"actor": actor, "payload": dict(payload)}
        data = self.api.post(f"{self._trigger_at(project, name)}/fire", json=body)
        return self.api.decode(Firing, data)

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
        from dataclasses import asdict

        from loopline.automation._timeline import clean_figures

        body = {
            "model": model,
            "passed": passed,
            "figures": clean_figures([asdict(f) for f in figures]),
            "message": message,
            "challenger_version": challenger_version,
            "champion_version": champion_version,
            "run_id": run_id,
            "pipeline_run_id": pipeline_run_id,
        }
        data = self.api.post(f"{self._automation_at(project)}/gates", json=body)
        return self.api.decode(GateRecord, data)

    def list_gates(self, project: str, *, model: str | None = None) -> list[GateRecord]:
        params = {} if model is None else {"model": model}
        data = self.api.get(f"{self._automation_at(project)}/gates", params=params)
        return self.api.decode(list[GateRecord], data)

    def _policy_at(self, project: str, endpoint: str) -> str:
        return f"{self._automation_at(project)}/policies/{self.api.quote(endpoint)}"

    def set_delivery_policy(
        self, project: str, endpoint: str, policy: Mapping[str, Any], *, actor: str
    ) -> DeliveryPolicy:
        body = {"actor": actor, "policy": dict(policy)}
        data = self.api.put(self._policy_at(project, endpoint), json=body)
        return self.api.decode(DeliveryPolicy, data)

    def get_delivery_policy(self, project: str, endpoint: str) -> DeliveryPolicy:
        return self.api.decode(DeliveryPolicy, self.api.get(self._policy_at(project, endpoint)))

    def list_delivery_policies(self, project: str) -> list[DeliveryPolicy]:
        data = self.api.get(f"{self._automation_at(project)}/policies")
        return self.api.decode(list[DeliveryPolicy], data)

    def delete_delivery_policy(self, project: str, endpoint: str) -> None:
        self.api.delete(self._policy_at(project, endpoint))

    def list_deliveries(self, project: str, *, active: bool = False) -> list[Delivery]:
        data = self.api.get(
            f"{self._automation_at(project)}/deliveries", params={"active": str(active).lower()}
        )
        return self.api.decode(list[Delivery], data)

    def automation_timeline(
        self, project: str, *, limit: int = 100, before: int | None = None
    ) -> list[LoopEvent]:
        params: dict[str, Any] = {"limit": limit}
        if before is not None:
            params["before"] = before
        data = self.api.get(f"{self._automation_at(project)}/timeline", params=params)
        return self.api.decode(list[LoopEvent], data)

    def revert_automation_event(self, project: str, event_id: int, *, actor: str) -> LoopEvent:
        path = f"{self._automation_at(project)}/events/{int(event_id)}/revert"
        return self.api.decode(LoopEvent, self.api.post(path, json={"actor": actor}))

    def automation_tick(self, now: datetime | None = None) -> TickReport:
        body = {"now": None if now is None else now.isoformat()}
        return self.api.decode(TickReport, self.api.post("/api/v1/automation/tick", json=body))

    # -- end of automation --


def _id(value: str) -> str:
    """A task or agent id (32 hex characters), checked before it goes into a URL (agents)."""
    if (
        not isinstance(value, str)
        or len(value) != 32
        or not all(c in "0123456789abcdef" for c in value)
    ):
        raise InvalidInput(f"{value!r} is not a task or agent id (32 hexadecimal characters).")
    return value
