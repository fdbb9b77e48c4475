"""/api/v1/projects/{project}/endpoints: serving endpoints, their revisions and statistics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field

from loopline.server._auth import acting
from loopline.server._state import backend_of
from loopline.serving import (
    Endpoint,
    Revision,
    RevisionStatus,
    StatsWindow,
    spec_from_dict,
)

router = APIRouter(prefix="/api/v1", tags=["endpoints"])
_AT = "/projects/{project}/endpoints/{name}"


class Change(BaseModel):
    # Who changes it: the signed-in user when the server has authentication on.
    actor: str
    message: str = ""


class EndpointCreate(Change):
    name: str
    spec: dict[str, Any]
    description: str = ""


class EndpointApply(Change):
    spec: dict[str, Any]
    description: str | None = None


class RevisionCreate(Change):
    spec: dict[str, Any]


class Rollback(Change):
    to: int | None = Field(default=None, ge=1)


class StatusReport(BaseModel):
    status: RevisionStatus
    error: str = ""


class StatsReport(BaseModel):
    worker: str
    windows: list[StatsWindow]


class Recorded(BaseModel):
    recorded: int


@router.get("/projects/{project}/endpoints")
def list_endpoints(request: Request, project: str) -> list[Endpoint]:
    return backend_of(request).list_endpoints(project)


@router.post("/projects/{project}/endpoints", status_code=status.HTTP_201_CREATED)
def create_endpoint(request: Request, project: str, body: EndpointCreate) -> Endpoint:
    spec = spec_from_dict(body.spec, f"endpoint {body.name!r}")
    return backend_of(request).create_endpoint(
        project,
        body.name,
        spec,
        description=body.description,
        actor=acting(request, body.actor),
        message=body.message,
    )


@router.get(_AT)
def get_endpoint(request: Request, project: str, name: str) -> Endpoint:
    return backend_of(request).get_endpoint(project, name)


@router.put(_AT)
def apply_endpoint(request: Request, project: str, name: str, body: EndpointApply) -> Endpoint:
    """Create the endpoint, or move it to this spec (no new revision if nothing changed)."""
    spec = spec_from_dict(body.spec, f"endpoint {name!r}")
    return backend_of(request).apply_endpoint(
        project,
        name,
        spec,
        description=body.description,
        actor=acting(request, body.actor),
        message=body.message,
    )


@router.delete(_AT, status_code=status.HTTP_204_NO_CONTENT)
def delete_endpoint(request: Request, project: str, name: str) -> None:
    backend_of(request).delete_endpoint(project, name)


@router.get(_AT + "/revisions")
def list_revisions(request: Request, project: str, name: str) -> list[Revision]:
    return backend_of(request).endpoint_revisions(project, name)


@router.post(_AT + "/revisions", status_code=status.HTTP_201_CREATED)
def create_revision(request: Request, project: str, name: str, body: RevisionCreate) -> Endpoint:
    spec = spec_from_dict(body.spec, f"endpoint {name!r}")
    return backend_of(request).update_endpoint(
        project, name, spec, actor=acting(request, body.actor), message=body.message
    )


@router.post(_AT + "/rollback", status_code=status.HTTP_201_CREATED)
def rollback(request: Request, project: str, name: str, body: Rollback) -> Endpoint:
    return backend_of(request).rollback_endpoint(
        project, name, to=body.to, actor=acting(request, body.actor), message=body.message
    )


@router.put(_AT + "/revisions/{number}/status")
def report_status(
    request: Request, project: str, name: str, number: int, body: StatusReport
) -> Revision:
    """An inference server reports that it serves a revision, or that it would not load."""
    return backend_of(request).mark_endpoint_revision(
        project, name, number, body.status, body.error
    )


@router.post(_AT + "/stats")
def report_stats(request: Request, project: str, name: str, body: StatsReport) -> Recorded:
    count = backend_of(request).record_endpoint_stats(project, name, body.worker, body.windows)
    return Recorded(recorded=count)


@router.get(_AT + "/stats")
def get_stats(
    request: Request,
    project: str,
    name: str,
    since: Annotated[
        datetime | None, Query(description="Windows from this time on (ISO 8601).")
    ] = None,
) -> list[StatsWindow]:
    return backend_of(request).endpoint_stats(project, name, since=since)
