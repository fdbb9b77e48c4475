"""/api/v1/runs: experiment tracking over HTTP (the remote backend's other half)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from loopline.errors import InvalidInput
from loopline.server._state import backend_of
from loopline.tracking import (
    MAX_CONSOLE_PIECE,
    Artifact,
    ConsoleText,
    MetricPoint,
    Run,
    RunStatus,
    RunTable,
    decode_float,
    encode_float,
)

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])

Scalar = str | int | float | bool | None


class RunCreate(BaseModel):
    project: str
    name: str | None = None
    params: dict[str, Scalar] = Field(default_factory=dict)
    tags: dict[str, Scalar] = Field(default_factory=dict)
    parent_id: str | None = None
    environment_digest: str | None = None
    cloned_from: str | None = None


class RunEnd(BaseModel):
    status: RunStatus = "finished"


class Params(BaseModel):
    params: dict[str, Scalar]


class Tags(BaseModel):
    tags: dict[str, Scalar]


class MetricBatch(BaseModel):
    # [key, value, step, timestamp_ms]; value may be "NaN", "Infinity" or "-Infinity".
    points: list[tuple[str, float | str, int, int]] = Field(max_length=100_000)


class Search(BaseModel):
    project: str
    filter: str = ""
    order_by: list[str] = Field(default_factory=list)
    limit: int = 1000
    offset: int = 0


class Count(BaseModel):
    project: str
    filter: str = ""


class ArtifactCreate(BaseModel):
    path: str
    digest: str
    size: int = Field(ge=0)


def _wire(run: Run) -> dict[str, Any]:
    """A run as JSON: metric values that JSON cannot carry become strings."""
    return {
        "id": run.id,
        "project": run.project,
        "name": run.name,
        "status": run.status,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "parent_id": run.parent_id,
        "params": run.params,
        "tags": run.tags,
        "metrics": {k: encode_float(v) for k, v in run.metrics.items()},
        "environment_digest": run.environment_digest,
        "cloned_from": run.cloned_from,
    }


@router.post("", status_code=status.HTTP_201_CREATED)
def create_run(request: Request, body: RunCreate) -> dict[str, Any]:
    run = backend_of(request).create_run(
        body.project,
        name=body.name,
        params=body.params,
        tags=body.tags,
        parent_id=body.parent_id,
        environment_digest=body.environment_digest,
        cloned_from=body.cloned_from,
    )
    return _wire(run)


@router.post("/search")
def search_runs(request: Request, body: Search) -> dict[str, Any]:
    runs = backend_of(request).search_runs(
        body.project, body.filter, body.order_by, body.limit, body.offset
    )
    return {"runs": [_wire(r) for r in runs]}


@router.post("/table")
def search_table(request: Request, body: Search) -> dict[str, Any]:
    """A search as columns: a fraction of the bytes of ``/search`` for many runs."""
    table: RunTable = backend_of(request).search_table(
        body.project, body.filter, body.order_by, body.limit, body.offset
    )
    return {
        "project": table.project,
        "ids": table.ids,
        "names": table.names,
        "statuses": table.statuses,
        "start_times": table.start_times,
        "end_times": table.end_times,
        "parent_ids": table.parent_ids,
        "environment_digests": table.environment_digests,
        "cloned_from": table.cloned_from,
        "params": table.params,
        "tags": table.tags,
        "metrics": {
            key: [None if v is None else encode_float(v) for v in column]
            for key, column in table.metrics.items()
        },
    }


@router.post("/count")
def count_runs(request: Request, body: Count) -> int:
    return backend_of(request).count_runs(body.project, body.filter)


@router.get("/{run_id}")
def get_run(request: Request, run_id: str) -> dict[str, Any]:
    return _wire(backend_of(request).get_run(run_id))


@router.delete("/{run_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_run(request: Request, run_id: str) -> None:
    backend_of(request).delete_run(run_id)


@router.post("/{run_id}/end")
def end_run(request: Request, run_id: str, body: RunEnd) -> dict[str, Any]:
    return _wire(backend_of(request).end_run(run_id, body.status))


@router.post("/{run_id}/params", status_code=status.HTTP_204_NO_CONTENT)
def log_params(request: Request, run_id: str, body: Params) -> None:
    backend_of(request).log_params(run_id, body.params)


@router.post("/{run_id}/tags", status_code=status.HTTP_204_NO_CONTENT)
def set_tags(request: Request, run_id: str, body: Tags) -> None:
    backend_of(request).set_tags(run_id, body.tags)


@router.post("/{run_id}/metrics", status_code=status.HTTP_204_NO_CONTENT)
def log_metrics(request: Request, run_id: str, body: MetricBatch) -> None:
    points = [MetricPoint(k, decode_float(v), s, t) for k, v, s, t in body.points]
    backend_of(request).log_metrics(run_id, points)


@router.get("/{run_id}/metrics")
def metric_summaries(request: Request, run_id: str) -> dict[str, Any]:
    summaries = backend_of(request).metric_summaries(run_id)
    return {
        "metrics": [
            {
                "key": m.key,
                "latest": encode_float(m.latest),
                "latest_step": m.latest_step,
                "min": m.min,
                "max": m.max,
                "count": m.count,
            }
            for m in summaries
        ]
    }


@router.get("/{run_id}/metrics/history")
def metric_history(request: Request, run_id: str, key: str = Query()) -> dict[str, Any]:
    points = backend_of(request).metric_history(run_id, key)
    return {"key": key, "points": [[encode_float(p.value), p.step, p.timestamp_ms] for p in points]}


@router.post("/{run_id}/artifacts", status_code=status.HTTP_201_CREATED)
def add_artifact(request: Request, run_id: str, body: ArtifactCreate) -> Artifact:
    return backend_of(request).attach_artifact(run_id, body.path, body.digest, body.size)


@router.get("/{run_id}/artifacts")
def list_artifacts(request: Request, run_id: str) -> list[Artifact]:
    return backend_of(request).list_artifacts(run_id)


@router.post("/{run_id}/console", status_code=status.HTTP_204_NO_CONTENT)
async def append_console(request: Request, run_id: str, offset: int = Query(ge=0)) -> None:
    data = await _body(request, MAX_CONSOLE_PIECE)
    await run_in_threadpool(backend_of(request).append_console, run_id, offset, data)


@router.get("/{run_id}/console")
def read_console(
    request: Request,
    run_id: str,
    offset: int = Query(0, ge=0),
    limit: int = Query(1_000_000, ge=4, le=MAX_CONSOLE_PIECE),
) -> ConsoleText:
    return backend_of(request).read_console(run_id, offset, limit)


async def _body(request: Request, limit: int) -> bytes:
    """The raw request body, refused once it passes ``limit`` bytes (before it is all read)."""
    pieces: list[bytes] = []
    size = 0
    async for piece in request.stream():
        size += len(piece)
        if size > limit:
            raise InvalidInput(f"The body is over the {limit:,}-byte limit: send smaller pieces.")
        pieces.append(piece)
    return b"".join(pieces)
