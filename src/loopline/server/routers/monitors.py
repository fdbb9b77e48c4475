"""/api/v1/projects/{project}/monitors and /alerts: monitors, their runs, figures and alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from loopline.monitoring import (
    AlertRecord,
    AlertRule,
    MonitorRecord,
    MonitorResult,
    MonitorRunRecord,
)
from loopline.server._state import backend_of

router = APIRouter(prefix="/api/v1/projects/{project}", tags=["monitors"])
_AT = "/monitors/{name}"


class MonitorCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    endpoint: str = Field(min_length=1, max_length=200)
    schedule: str = "*/15 * * * *"
    timezone: str = "UTC"
    window_seconds: int | None = Field(default=None, ge=1)
    drift: bool | dict[str, Any] = True
    quality: bool | dict[str, Any] = True
    latency: bool | dict[str, Any] = True
    rules: list[dict[str, Any] | str] = Field(default_factory=list, max_length=100)
    notify: list[dict[str, Any] | str] = Field(default_factory=list, max_length=20)
    enabled: bool = True


class Report(BaseModel):
    html: str


@router.post("/monitors", status_code=status.HTTP_201_CREATED)
def create_monitor(request: Request, project: str, body: MonitorCreate) -> MonitorRecord:
    from loopline.monitoring._monitors import check_notify

    return backend_of(request).create_monitor(
        project,
        body.name,
        body.endpoint,
        schedule=body.schedule,
        timezone=body.timezone,
        window_seconds=body.window_seconds,
        drift=body.drift,
        quality=body.quality,
        latency=body.latency,
        rules=[AlertRule.from_dict(r) for r in body.rules],
        notify=check_notify(body.notify),
        enabled=body.enabled,
    )


@router.get("/monitors")
def list_monitors(request: Request, project: str) -> list[MonitorRecord]:
    return [m.without_secrets() for m in backend_of(request).list_monitors(project)]


@router.get(_AT)
def get_monitor(request: Request, project: str, name: str) -> MonitorRecord:
    return backend_of(request).get_monitor(project, name).without_secrets()


@router.delete(_AT, status_code=status.HTTP_204_NO_CONTENT)
def delete_monitor(request: Request, project: str, name: str) -> None:
    backend_of(request).delete_monitor(project, name)


@router.post(_AT + "/pause")
def pause_monitor(request: Request, project: str, name: str) -> MonitorRecord:
    return backend_of(request).set_monitor_enabled(project, name, False)


@router.post(_AT + "/resume")
def resume_monitor(request: Request, project: str, name: str) -> MonitorRecord:
    return backend_of(request).set_monitor_enabled(project, name, True)


@router.post(_AT + "/run")
async def run_monitor(request: Request, project: str, name: str) -> MonitorRunRecord:
    """Run the monitor once now (over the window since its previous run)."""
    return await run_in_threadpool(backend_of(request).run_monitor, project, name)


@router.get(_AT + "/runs")
def monitor_runs(
    request: Request, project: str, name: str, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[MonitorRunRecord]:
    return backend_of(request).monitor_runs(project, name, limit)


@router.get(_AT + "/results")
def monitor_results(
    request: Request,
    project: str,
    name: str,
    metric: Annotated[str | None, Query(max_length=50)] = None,
    since: Annotated[datetime | None, Query(description="Windows ending after this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
) -> list[MonitorResult]:
    return backend_of(request).monitor_results(
        project, name, metric=metric, since=since, limit=limit
    )


@router.get(_AT + "/runs/{run_id}/report")
def monitor_report(
    request: Request,
    project: str,
    name: str,
    run_id: str,
    model: Annotated[str | None, Query(max_length=200)] = None,
    version: Annotated[int | None, Query(ge=0)] = None,
) -> Report:
    html = backend_of(request).monitor_report(project, name, run_id, model=model, version=version)
    return Report(html=html)


@router.get("/alerts")
def list_alerts(
    request: Request,
    project: str,
    since: Annotated[datetime | None, Query(description="Fired after this time.")] = None,
    state: Literal["firing", "resolved"] | None = None,
    monitor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[AlertRecord]:
    return backend_of(request).list_alerts(
        project, since=since, state=state, monitor=monitor, limit=limit
    )
