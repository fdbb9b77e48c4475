"""/api/v1/projects/{project}/features: definitions, views, materialization, online lookups."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from loopline.errors import NotFound, did_you_mean
from loopline.features import ApplyResult, FeatureViewInfo, MaterializeResult
from loopline.server._state import backend_of

router = APIRouter(prefix="/api/v1/projects/{project}/features", tags=["features"])


class ApplyBody(BaseModel):
    definitions: list[dict[str, Any]]


class MaterializeBody(BaseModel):
    views: list[str] | None = None
    until: datetime | None = None
    full: bool = False


class OnlineBody(BaseModel):
    features: list[str]
    entities: dict[str, list[Any]]
    request_data: dict[str, list[Any]] = {}
    full_feature_names: bool = False


@router.post("/apply")
def apply_definitions(request: Request, project: str, body: ApplyBody) -> list[ApplyResult]:
    """Register definitions (specs); applying the same ones again changes nothing."""
    return backend_of(request).apply_features(project, body.definitions)


@router.get("/definitions")
def list_definitions(request: Request, project: str) -> list[dict[str, Any]]:
    """The spec in force of every entity and view."""
    return backend_of(request).feature_specs(project)


@router.get("/views")
def list_views(request: Request, project: str) -> list[FeatureViewInfo]:
    """Every view with its source, version and freshness (watermark, last materialized)."""
    return backend_of(request).list_feature_views(project)


@router.get("/views/{name}")
def get_view(request: Request, project: str, name: str) -> FeatureViewInfo:
    views = backend_of(request).list_feature_views(project)
    for view in views:
        if view.name == name:
            return view
    raise NotFound(
        f"Feature view {name!r} not found in project {project!r}."
        f"{did_you_mean(name, [v.name for v in views])}"
    )


@router.post("/materialize")
def materialize(request: Request, project: str, body: MaterializeBody) -> list[MaterializeResult]:
    """Copy the latest values into the server's online store, from each view's watermark."""
    return backend_of(request).materialize_features(
        project, views=body.views, until=body.until, full=body.full
    )


@router.post("/online")
def get_online(request: Request, project: str, body: OnlineBody) -> dict[str, Any]:
    """The latest values of ``features`` for ``entities``: what a serving endpoint asks."""
    found = backend_of(request).get_online_features(
        project,
        body.features,
        body.entities,
        request_data=body.request_data,
        full_feature_names=body.full_feature_names,
    )
    return found.to_json()
