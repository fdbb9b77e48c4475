"""/api/v1/projects/{project}/automation: triggers, gates, delivery policies, deliveries and the
loop's timeline; /api/v1/automation/tick runs a round of the loop now."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field

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
from loopline.server._auth import acting
from loopline.server._state import backend_of

router = APIRouter(prefix="/api/v1", tags=["automation"])
_AT = "/projects/{project}/automation"


class TriggerPut(BaseModel):
    actor: str = ""
    definition: dict[str, Any]


class Enabled(BaseModel):
    enabled: bool


class Fire(BaseModel):
    actor: str = ""
    payload: dict[str, Any] = Field(default_factory=dict)


class GateIn(BaseModel):
    model: str
    passed: bool
    figures: list[GateFigure] = Field(default_factory=list)
    message: str = ""
    challenger_version: int | None = Field(default=None, ge=1)
    champion_version: int | None = Field(default=None, ge=1)
    run_id: str | None = None
    pipeline_run_id: str | None = None


class PolicyPut(BaseModel):
    actor: str = ""
    policy: dict[str, Any]


class Revert(BaseModel):
    actor: str = ""


class Tick(BaseModel):
    now: datetime | None = None


@router.get(_AT + "/triggers")
def list_triggers(request: Request, project: str) -> list[Trigger]:
    return backend_of(request).list_triggers(project)


@router.get(_AT + "/triggers/{name}")
def get_trigger(request: Request, project: str, name: str) -> Trigger:
    return backend_of(request).get_trigger(project, name)


@router.put(_AT + "/triggers/{name}")
def put_trigger(request: Request, project: str, name: str, body: TriggerPut) -> Trigger:
    """Create the trigger, or make its next version (no new version if nothing changed)."""
    return backend_of(request).put_trigger(
        project, name, body.definition, actor=acting(request, body.actor or "unknown")
    )


@router.delete(_AT + "/triggers/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_trigger(request: Request, project: str, name: str) -> None:
    backend_of(request).delete_trigger(project, name)


@router.put(_AT + "/triggers/{name}/enabled")
def set_enabled(request: Request, project: str, name: str, body: Enabled) -> Trigger:
    return backend_of(request).set_trigger_enabled(project, name, body.enabled)


@router.get(_AT + "/triggers/{name}/versions")
def trigger_versions(request: Request, project: str, name: str) -> list[TriggerVersion]:
    return backend_of(request).trigger_versions(project, name)


@router.get(_AT + "/triggers/{name}/firings")
def trigger_firings(
    request: Request, project: str, name: str, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[Firing]:
    return backend_of(request).trigger_firings(project, name, limit)


@router.post(_AT + "/triggers/{name}/fire", status_code=status.HTTP_201_CREATED)
def fire_trigger(request: Request, project: str, name: str, body: Fire) -> Firing:
    return backend_of(request).fire_trigger(
        project, name, body.payload, actor=acting(request, body.actor or "unknown")
    )


@router.get(_AT + "/gates")
def list_gates(request: Request, project: str, model: str | None = None) -> list[GateRecord]:
    return backend_of(request).list_gates(project, model=model)


@router.post(_AT + "/gates", status_code=status.HTTP_201_CREATED)
def record_gate(request: Request, project: str, body: GateIn) -> GateRecord:
    return backend_of(request).record_gate(
        project,
        body.model,
        passed=body.passed,
        figures=body.figures,
        message=body.message,
        challenger_version=body.challenger_version,
        champion_version=body.champion_version,
        run_id=body.run_id,
        pipeline_run_id=body.pipeline_run_id,
    )


@router.get(_AT + "/policies")
def list_policies(request: Request, project: str) -> list[DeliveryPolicy]:
    return backend_of(request).list_delivery_policies(project)


@router.get(_AT + "/policies/{endpoint}")
def get_policy(request: Request, project: str, endpoint: str) -> DeliveryPolicy:
    return backend_of(request).get_delivery_policy(project, endpoint)


@router.put(_AT + "/policies/{endpoint}")
def put_policy(request: Request, project: str, endpoint: str, body: PolicyPut) -> DeliveryPolicy:
    return backend_of(request).set_delivery_policy(
        project, endpoint, body.policy, actor=acting(request, body.actor or "unknown")
    )


@router.delete(_AT + "/policies/{endpoint}", status_code=status.HTTP_204_NO_CONTENT)
def delete_policy(request: Request, project: str, endpoint: str) -> None:
    backend_of(request).delete_delivery_policy(project, endpoint)


@router.get(_AT + "/deliveries")
def list_deliveries(request: Request, project: str, active: bool = False) -> list[Delivery]:
    return backend_of(request).list_deliveries(project, active=active)


@router.get(_AT + "/timeline")
def timeline(
    request: Request,
    project: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> list[LoopEvent]:
    return backend_of(request).automation_timeline(project, limit=limit, before=before)


@router.post(_AT + "/events/{event_id}/revert", status_code=status.HTTP_201_CREATED)
def revert(request: Request, project: str, event_id: int, body: Revert) -> LoopEvent:
    return backend_of(request).revert_automation_event(
        project, event_id, actor=acting(request, body.actor or "unknown")
    )


@router.post("/automation/tick")
def tick(request: Request, body: Tick) -> TickReport:
    """Run one round of the loop now (the server also runs one every few seconds)."""
    return backend_of(request).automation_tick(body.now)
