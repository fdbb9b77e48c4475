"""/api/v1/projects/{project}/models: the model registry over HTTP."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel

from loopline.registry import ModelEvent, ModelStatus, ModelVersion, RegisteredModel
from loopline.server._auth import acting
from loopline.server._state import backend_of

router = APIRouter(prefix="/api/v1", tags=["models"])
_AT = "/projects/{project}/models/{name}"


class VersionCreate(BaseModel):
    run_id: str
    path: str = "model"
    description: str = ""
    # Who registers: the signed-in user when the server has authentication on.
    actor: str


class Change(BaseModel):
    actor: str
    reason: str = ""


class AliasSet(Change):
    version: int | str


class StatusSet(Change):
    status: ModelStatus


class Card(BaseModel):
    markdown: str


@router.get("/projects/{project}/models")
def list_models(request: Request, project: str) -> list[RegisteredModel]:
    return backend_of(request).list_registered_models(project)


@router.get("/projects/{project}/model-versions")
def find_versions(
    request: Request,
    project: str,
    trained_on_features: str = Query(..., min_length=1, max_length=200),
) -> list[ModelVersion]:
    """Model versions whose training run read the feature view ``trained_on_features``."""
    return backend_of(request).models_trained_on(project, trained_on_features)


@router.get(_AT)
def get_model(request: Request, project: str, name: str) -> RegisteredModel:
    return backend_of(request).get_registered_model(project, name)


@router.get(_AT + "/versions")
def list_versions(request: Request, project: str, name: str) -> list[ModelVersion]:
    return backend_of(request).list_model_versions(project, name)


@router.post(_AT + "/versions", status_code=status.HTTP_201_CREATED)
def register_version(
    request: Request, project: str, name: str, body: VersionCreate
) -> ModelVersion:
    """Register a model logged in a run (its files must be stored already) as the next version."""
    return backend_of(request).register_model(
        project,
        name,
        body.run_id,
        body.path,
        description=body.description,
        actor=acting(request, body.actor),
    )


@router.get(_AT + "/versions/{ref}")
def get_version(request: Request, project: str, name: str, ref: str) -> ModelVersion:
    """A version by number, ``latest``, or alias."""
    return backend_of(request).get_model_version(project, name, ref)


@router.put(_AT + "/versions/{ref}/status")
def set_status(
    request: Request, project: str, name: str, ref: str, body: StatusSet
) -> ModelVersion:
    return backend_of(request).set_model_status(
        project, name, ref, body.status, actor=acting(request, body.actor), reason=body.reason
    )


@router.get(_AT + "/versions/{ref}/card")
def get_card(request: Request, project: str, name: str, ref: str) -> Card:
    return Card(markdown=backend_of(request).model_card(project, name, ref))


@router.put(_AT + "/aliases/{alias}")
def set_alias(
    request: Request, project: str, name: str, alias: str, body: AliasSet
) -> ModelVersion:
    return backend_of(request).set_model_alias(
        project, name, alias, body.version, actor=acting(request, body.actor), reason=body.reason
    )


@router.post(_AT + "/aliases/{alias}/remove", status_code=status.HTTP_204_NO_CONTENT)
def remove_alias(request: Request, project: str, name: str, alias: str, body: Change) -> None:
    backend_of(request).remove_model_alias(
        project, name, alias, actor=acting(request, body.actor), reason=body.reason
    )


@router.get(_AT + "/events")
def list_events(
    request: Request, project: str, name: str, limit: int = Query(200, ge=1, le=1000)
) -> list[ModelEvent]:
    return backend_of(request).model_events(project, name, limit=limit)
