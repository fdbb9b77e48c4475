"""/api/v1/projects/{project}/datasets and /api/v1/lineage: versioned datasets over HTTP."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel

from loopline.datasets import (
    DatasetDiff,
    DatasetInfo,
    Direction,
    FilePage,
    Lineage,
    VersionInfo,
)
from loopline.server._state import backend_of

router = APIRouter(prefix="/api/v1", tags=["datasets"])
_AT = "/projects/{project}/datasets/{name}"


class DatasetCreate(BaseModel):
    name: str
    description: str = ""


class VersionCreate(BaseModel):
    manifest_digest: str
    parent: int | None = None
    message: str = ""
    run_id: str | None = None
    profile_digest: str | None = None


class AliasSet(BaseModel):
    version: int | str


class LineageCreate(BaseModel):
    run_id: str
    version_id: str
    direction: Direction


@router.get("/projects/{project}/datasets")
def list_datasets(request: Request, project: str) -> list[DatasetInfo]:
    return backend_of(request).list_datasets(project)


@router.post("/projects/{project}/datasets")
def create_dataset(request: Request, project: str, body: DatasetCreate) -> DatasetInfo:
    """Create the dataset, or answer the existing one (creating is idempotent)."""
    return backend_of(request).create_dataset(project, body.name, body.description)


@router.get(_AT)
def get_dataset(request: Request, project: str, name: str) -> DatasetInfo:
    return backend_of(request).get_dataset(project, name)


@router.get(_AT + "/versions")
def list_versions(request: Request, project: str, name: str) -> list[VersionInfo]:
    return backend_of(request).list_versions(project, name)


@router.post(_AT + "/versions", status_code=status.HTTP_201_CREATED)
def commit_version(request: Request, project: str, name: str, body: VersionCreate) -> VersionInfo:
    """Make an uploaded manifest the next version (its files must be uploaded first)."""
    return backend_of(request).commit_version(
        project,
        name,
        body.manifest_digest,
        parent=body.parent,
        message=body.message,
        run_id=body.run_id,
        profile_digest=body.profile_digest,
    )


@router.get(_AT + "/versions/{ref}")
def get_version(request: Request, project: str, name: str, ref: str) -> VersionInfo:
    """A version by number, ``latest``, or alias."""
    return backend_of(request).get_version(project, name, ref)


@router.get(_AT + "/versions/{ref}/files")
def list_files(
    request: Request,
    project: str,
    name: str,
    ref: str,
    prefix: str = "",
    offset: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=10_000),
) -> FilePage:
    return backend_of(request).datasets.files(
        project, name, ref, prefix=prefix, offset=offset, limit=limit
    )


@router.get(_AT + "/versions/{ref}/profile")
def get_profile(request: Request, project: str, name: str, ref: str) -> dict[str, Any] | None:
    """The profiles of the version's tabular files (null when it has none)."""
    return backend_of(request).datasets.profile(project, name, ref)


@router.get(_AT + "/diff")
def diff_versions(
    request: Request, project: str, name: str, a: str = Query(), b: str = Query()
) -> DatasetDiff:
    return backend_of(request).datasets.diff(project, name, a, b)


@router.put(_AT + "/aliases/{alias}")
def set_alias(request: Request, project: str, name: str, alias: str, body: AliasSet) -> VersionInfo:
    return backend_of(request).set_alias(project, name, alias, body.version)


@router.delete(_AT + "/aliases/{alias}", status_code=status.HTTP_204_NO_CONTENT)
def remove_alias(request: Request, project: str, name: str, alias: str) -> None:
    backend_of(request).datasets.remove_alias(project, name, alias)


@router.post("/lineage", status_code=status.HTTP_204_NO_CONTENT)
def record_lineage(request: Request, body: LineageCreate) -> None:
    backend_of(request).record_lineage(body.run_id, body.version_id, body.direction)


@router.get("/lineage")
def get_lineage(
    request: Request,
    run_id: str | None = None,
    version_id: str | None = None,
    depth: int = Query(10, ge=1, le=50),
) -> Lineage:
    return backend_of(request).lineage(run_id=run_id, version_id=version_id, depth=depth)
