"""/api/v1/...: pipeline runs, the step cache and pipeline templates (thin: parse, call)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel

from loopline.errors import InvalidInput
from loopline.pipelines import (
    CacheHit,
    FiringRecord,
    NotificationRecord,
    Notify,
    PipelineRunRecord,
    PipelineStatus,
    ScheduleRecord,
    StepRecord,
    StepUpdate,
    TemplateRecord,
)
from loopline.server._auth import user_of
from loopline.server._state import backend_of

router = APIRouter(prefix="/api/v1", tags=["pipelines"])


def _caller(request: Request) -> str | None:
    """Who a record names as its maker: the signed-in caller (None with auth off: the
    server's own user)."""
    user = user_of(request)
    return None if user is None else user.name


class RunCreate(BaseModel):
    pipeline: str
    params: dict[str, Any]
    dag: dict[str, Any]
    tags: dict[str, str] | None = None


class StepsUpdate(BaseModel):
    updates: list[StepUpdate]


class RunFinish(BaseModel):
    status: PipelineStatus


class CacheLookup(BaseModel):
    keys: list[str]


class TemplatePublish(BaseModel):
    name: str
    dag: dict[str, Any]
    code: str
    entry: str
    description: str = ""
    requirements: list[str] = []


class TemplateLaunch(BaseModel):
    params: dict[str, Any] = {}
    version: str = "latest"
    retry_of: str | None = None
    notify: list[Notify] = []
    executor: str = "local"  # "queue": an agent drives the run (agents, helper Q2)
    queue: str | None = None
    steps: str = "queue"
    priority: int = 0
    env: dict[str, str] = {}


class ScheduleCreate(BaseModel):
    template: str
    cron: str
    params: dict[str, Any] = {}
    version: str = "latest"
    timezone: str = "UTC"
    enabled: bool = True
    notify: list[Notify] = []


class NotificationAttach(BaseModel):
    notify: Notify
    pipeline: str | None = None
    run: str | None = None


@router.post("/projects/{project}/pipeline-runs", status_code=201)
def create_pipeline_run(request: Request, project: str, body: RunCreate) -> PipelineRunRecord:
    return backend_of(request).create_pipeline_run(
        project, body.pipeline, body.params, body.dag, body.tags
    )


@router.get("/projects/{project}/pipeline-runs")
def list_pipeline_runs(
    request: Request,
    project: str,
    pipeline: str | None = None,
    status: str | None = None,
    limit: int = Query(100, ge=1, le=10_000),
    params: str | None = Query(None, description='A JSON object of parameter values: {"lr": 0.1}'),
) -> list[PipelineRunRecord]:
    wanted = None
    if params:
        try:
            wanted = json.loads(params)
        except ValueError:
            wanted = None
        if not isinstance(wanted, dict):
            raise InvalidInput(f'params is a JSON object such as {{"lr": 0.1}}, not {params!r}.')
    return backend_of(request).list_pipeline_runs(project, pipeline, status, limit, wanted)


@router.post("/projects/{project}/step-cache/lookup")
def lookup_step_cache(request: Request, project: str, body: CacheLookup) -> dict[str, CacheHit]:
    return backend_of(request).lookup_step_cache(project, body.keys)


@router.get("/pipeline-runs/{run_id}")
def get_pipeline_run(request: Request, run_id: str) -> PipelineRunRecord:
    return backend_of(request).get_pipeline_run(run_id)


@router.post("/pipeline-runs/{run_id}/steps")
def update_pipeline_steps(request: Request, run_id: str, body: StepsUpdate) -> list[StepRecord]:
    return backend_of(request).update_pipeline_steps(run_id, body.updates)


@router.post("/pipeline-runs/{run_id}/finish")
def finish_pipeline_run(request: Request, run_id: str, body: RunFinish) -> PipelineRunRecord:
    return backend_of(request).finish_pipeline_run(run_id, body.status)


@router.post("/pipeline-runs/{run_id}/stop")
def stop_pipeline_run(request: Request, run_id: str) -> PipelineRunRecord:
    return backend_of(request).stop_pipeline_run(run_id)


@router.delete("/pipeline-runs/{run_id}", status_code=204)
def delete_pipeline_run(request: Request, run_id: str) -> Response:
    backend_of(request).delete_pipeline_run(run_id)
    return Response(status_code=204)


@router.get("/pipeline-runs/{run_id}/metrics")
def pipeline_run_metrics(request: Request, run_id: str) -> dict[str, float]:
    return backend_of(request).pipeline_run_metrics(run_id)


@router.post("/projects/{project}/pipeline-templates", status_code=201)
def publish_pipeline_template(
    request: Request, project: str, body: TemplatePublish
) -> TemplateRecord:
    return backend_of(request).publish_pipeline_template(
        project,
        body.name,
        dag=body.dag,
        code=body.code,
        entry=body.entry,
        description=body.description,
        requirements=body.requirements,
        created_by=_caller(request),
    )


@router.get("/projects/{project}/pipeline-templates")
def list_pipeline_templates(request: Request, project: str) -> list[TemplateRecord]:
    return backend_of(request).list_pipeline_templates(project)


@router.get("/projects/{project}/pipeline-templates/{name}/versions")
def pipeline_template_versions(request: Request, project: str, name: str) -> list[TemplateRecord]:
    return backend_of(request).pipeline_template_versions(project, name)


@router.get("/projects/{project}/pipeline-templates/{name}/versions/{version}")
def get_pipeline_template(
    request: Request, project: str, name: str, version: str
) -> TemplateRecord:
    return backend_of(request).get_pipeline_template(project, name, version)


@router.post("/projects/{project}/pipeline-templates/{name}/launch", status_code=201)
def launch_pipeline_template(
    request: Request, project: str, name: str, body: TemplateLaunch
) -> PipelineRunRecord:
    """Check the parameters against the template's schema (422 naming the field), start a run
    here, or with ``executor="queue"`` put it on ``queue`` for an agent (400 naming an unknown
    executor or queue)."""
    return backend_of(request).launch_pipeline_template(
        project,
        name,
        body.params,
        body.version,
        body.retry_of,
        body.notify,
        executor=body.executor,
        queue=body.queue,
        steps=body.steps,
        priority=body.priority,
        env=body.env,
    )


@router.post("/projects/{project}/pipeline-schedules", status_code=201)
def create_pipeline_schedule(
    request: Request, project: str, body: ScheduleCreate
) -> ScheduleRecord:
    """Schedule a template; a bad cron, time zone or parameter answers 422 naming the field."""
    return backend_of(request).create_pipeline_schedule(
        project,
        body.template,
        body.cron,
        params=body.params,
        version=body.version,
        timezone=body.timezone,
        enabled=body.enabled,
        notify=body.notify,
        created_by=_caller(request),
    )


@router.get("/projects/{project}/pipeline-schedules")
def list_pipeline_schedules(
    request: Request, project: str, template: str | None = None
) -> list[ScheduleRecord]:
    return backend_of(request).list_pipeline_schedules(project, template)


@router.get("/pipeline-schedules/{schedule_id}")
def get_pipeline_schedule(request: Request, schedule_id: str) -> ScheduleRecord:
    return backend_of(request).get_pipeline_schedule(schedule_id)


@router.post("/pipeline-schedules/{schedule_id}/pause")
def pause_pipeline_schedule(request: Request, schedule_id: str) -> ScheduleRecord:
    return backend_of(request).set_pipeline_schedule_enabled(schedule_id, False)


@router.post("/pipeline-schedules/{schedule_id}/resume")
def resume_pipeline_schedule(request: Request, schedule_id: str) -> ScheduleRecord:
    return backend_of(request).set_pipeline_schedule_enabled(schedule_id, True)


@router.delete("/pipeline-schedules/{schedule_id}", status_code=204)
def delete_pipeline_schedule(request: Request, schedule_id: str) -> Response:
    backend_of(request).delete_pipeline_schedule(schedule_id)
    return Response(status_code=204)


@router.get("/pipeline-schedules/{schedule_id}/firings")
def pipeline_schedule_firings(
    request: Request, schedule_id: str, limit: int = Query(50, ge=1, le=10_000)
) -> list[FiringRecord]:
    return backend_of(request).pipeline_schedule_firings(schedule_id, limit)


@router.post("/projects/{project}/pipeline-notifications", status_code=201)
def attach_pipeline_notification(
    request: Request, project: str, body: NotificationAttach
) -> NotificationRecord:
    return backend_of(request).attach_pipeline_notification(
        project, body.notify, pipeline=body.pipeline, run=body.run
    )


@router.get("/projects/{project}/pipeline-notifications")
def list_pipeline_notifications(
    request: Request,
    project: str,
    pipeline: str | None = None,
    schedule: str | None = None,
    run: str | None = None,
) -> list[NotificationRecord]:
    return backend_of(request).list_pipeline_notifications(
        project, pipeline=pipeline, schedule=schedule, run=run
    )


@router.delete("/pipeline-notifications/{notification_id}", status_code=204)
def detach_pipeline_notification(
    request: Request,
    # An id is a 32-bit integer column on PostgreSQL: larger numbers name nothing (and made
    # the database driver fail with a 500 before this bound).
    notification_id: int = Path(ge=1, le=2**31 - 1),
) -> Response:
    backend_of(request).detach_pipeline_notification(notification_id)
    return Response(status_code=204)
