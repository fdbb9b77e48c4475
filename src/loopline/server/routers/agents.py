"""/api/v1/...: queues, tasks with leases, agents and autoscaler decisions (thin: parse, call)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from loopline.agents import AgentRecord, Decision, QueueRecord, TaskKind, TaskRecord
from loopline.server._state import backend_of

router = APIRouter(prefix="/api/v1", tags=["agents"])


class QueuePut(BaseModel):
    priority: int = 0
    tags: list[str] = []
    description: str = ""


class TaskCreate(BaseModel):
    kind: TaskKind
    payload: str = Field(pattern=r"^[0-9a-f]{64}$")
    name: str = ""
    project: str | None = None
    priority: int = 0
    resources: dict[str, float] = {}
    env: dict[str, str] = {}
    max_attempts: int = Field(3, ge=1, le=100)


class TaskFinish(BaseModel):
    agent_id: str
    status: Literal["succeeded", "failed", "cancelled"]
    result: str | None = None
    error: str | None = None


class AgentRegister(BaseModel):
    name: str
    host: str
    queues: list[str]
    resources: dict[str, float] = {}
    concurrency: int = Field(1, ge=1, le=256)
    pid: int | None = None
    labels: dict[str, Any] = {}


class Claim(BaseModel):
    lease_seconds: float = Field(30.0, gt=0, le=3600)


class Heartbeat(BaseModel):
    task_ids: list[str] = []
    lease_seconds: float = Field(30.0, gt=0, le=3600)


class DecisionCreate(BaseModel):
    queue: str
    action: Literal["start", "stop", "hold"]
    reason: str
    agent: str | None = None
    depth: int = 0
    agents: int = 0


@router.get("/queues")
def list_queues(request: Request) -> list[QueueRecord]:
    return backend_of(request).list_queues()


@router.put("/queues/{name}")
def put_queue(request: Request, name: str, body: QueuePut) -> QueueRecord:
    return backend_of(request).put_queue(
        name, priority=body.priority, tags=body.tags, description=body.description
    )


@router.post("/queues/{queue}/tasks", status_code=201)
def enqueue_task(request: Request, queue: str, body: TaskCreate) -> TaskRecord:
    return backend_of(request).enqueue_task(
        queue,
        body.kind,
        body.payload,
        name=body.name,
        project=body.project,
        priority=body.priority,
        resources=body.resources,
        env=body.env,
        max_attempts=body.max_attempts,
    )


@router.get("/tasks")
def list_tasks(
    request: Request,
    queue: str | None = None,
    status: str | None = None,
    ids: str | None = Query(None, description="Task ids, comma-separated."),
    limit: int = Query(100, ge=1, le=10_000),
) -> list[TaskRecord]:
    wanted = [i for i in ids.split(",") if i] if ids is not None else None
    return backend_of(request).list_tasks(queue=queue, status=status, ids=wanted, limit=limit)


@router.get("/tasks/{task_id}")
def get_task(request: Request, task_id: str) -> TaskRecord:
    return backend_of(request).get_task(task_id)


@router.post("/tasks/{task_id}/cancel")
def cancel_task(request: Request, task_id: str) -> TaskRecord:
    return backend_of(request).cancel_task(task_id)


@router.post("/tasks/{task_id}/finish")
def finish_task(request: Request, task_id: str, body: TaskFinish) -> TaskRecord:
    return backend_of(request).finish_task(
        task_id, body.agent_id, body.status, result=body.result, error=body.error
    )


@router.get("/agents")
def list_agents(request: Request, include_stopped: bool = False) -> list[AgentRecord]:
    return backend_of(request).list_agents(include_stopped=include_stopped)


@router.post("/agents", status_code=201)
def register_agent(request: Request, body: AgentRegister) -> AgentRecord:
    return backend_of(request).register_agent(
        body.name,
        body.host,
        body.queues,
        resources=body.resources,
        concurrency=body.concurrency,
        pid=body.pid,
        labels=body.labels,
    )


@router.post("/agents/{agent_id}/claim")
def claim_task(request: Request, agent_id: str, body: Claim) -> TaskRecord | None:
    return backend_of(request).claim_task(agent_id, lease_seconds=body.lease_seconds)


@router.post("/agents/{agent_id}/heartbeat")
def heartbeat_agent(request: Request, agent_id: str, body: Heartbeat) -> list[str]:
    return backend_of(request).heartbeat_agent(
        agent_id, body.task_ids, lease_seconds=body.lease_seconds
    )


@router.post("/agents/{agent_id}/stop")
def stop_agent(request: Request, agent_id: str) -> AgentRecord:
    return backend_of(request).stop_agent(agent_id)


@router.get("/autoscaler/decisions")
def list_decisions(
    request: Request, queue: str | None = None, limit: int = Query(100, ge=1, le=10_000)
) -> list[Decision]:
    return backend_of(request).list_decisions(queue=queue, limit=limit)


@router.post("/autoscaler/decisions", status_code=201)
def record_decision(request: Request, body: DecisionCreate) -> Decision:
    return backend_of(request).record_decision(
        body.queue,
        body.action,
        body.reason,
        agent=body.agent,
        depth=body.depth,
        agents=body.agents,
    )
