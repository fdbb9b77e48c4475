"""Hard examples and their labelling: collect an endpoint's hard predictions into a dataset,
read a page of it with the labels saved, save labels, commit them as the next version."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from loopline.monitoring._hard_examples import MAX_LIMIT, HardExamples
from loopline.monitoring._labelling import MAX_LABELS, MAX_PAGE
from loopline.monitoring._labelling_types import LabellingCommit, LabellingPage, LabellingState
from loopline.server._auth import acting
from loopline.server._state import backend_of

router = APIRouter(prefix="/api/v1/projects/{project}", tags=["labelling"])
_AT = "/labelling/{dataset}"


class Collect(BaseModel):
    dataset: str = Field(min_length=1, max_length=100)
    since: datetime | None = None
    until: datetime | None = None
    confidence_below: float | None = Field(default=0.6, gt=0, le=1)
    misclassified: bool = True
    limit: int = Field(default=500, ge=1, le=MAX_LIMIT)
    image_shape: list[int] | None = Field(default=None, min_length=2, max_length=3)
    use_model: bool = True
    actor: str = ""


class Labels(BaseModel):
    labels: dict[str, Any] = Field(max_length=MAX_LABELS)
    actor: str = ""


class Commit(BaseModel):
    actor: str = ""


@router.post("/monitoring/endpoints/{endpoint}/hard-examples", status_code=201)
def collect_hard_examples(
    request: Request, project: str, endpoint: str, body: Collect
) -> HardExamples:
    """Add the endpoint's low-confidence and misclassified predictions to a dataset."""
    return backend_of(request).collect_hard_examples(
        project,
        endpoint,
        body.dataset,
        since=body.since,
        until=body.until,
        confidence_below=body.confidence_below,
        misclassified=body.misclassified,
        limit=body.limit,
        image_shape=body.image_shape,
        use_model=body.use_model,
        actor=acting(request, body.actor),
    )


@router.get(_AT)
def labelling_page(
    request: Request,
    project: str,
    dataset: str,
    version: Annotated[str, Query(max_length=100)] = "latest",
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> LabellingPage:
    ref: int | str = int(version) if version.isdigit() else version
    return backend_of(request).labelling_page(project, dataset, ref, offset=offset, limit=limit)


@router.put(_AT + "/labels")
def save_labels(request: Request, project: str, dataset: str, body: Labels) -> LabellingState:
    return backend_of(request).save_labels(
        project, dataset, body.labels, actor=acting(request, body.actor)
    )


@router.post(_AT + "/commit")
def commit_labels(request: Request, project: str, dataset: str, body: Commit) -> LabellingCommit:
    return backend_of(request).commit_labels(project, dataset, actor=acting(request, body.actor))
