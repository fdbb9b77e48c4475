"""/api/v1/projects/{project}/monitoring: prediction and label logs shipped as Parquet bodies."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from loopline.errors import InvalidInput
from loopline.server._state import backend_of

MAX_BATCH = 512 << 20
"""The largest batch body accepted (a batch is sent whole; split larger ones)."""

router = APIRouter(prefix="/api/v1/projects/{project}/monitoring", tags=["monitoring"])

_BATCH = Query(
    default=None,
    pattern="^[0-9a-f]{32}$",
    description="names the batch: sending the same batch again replaces it (safe retries)",
)


@router.post("/endpoints/{endpoint}/predictions", status_code=201)
async def append_predictions(
    request: Request, project: str, endpoint: str, batch: str | None = _BATCH
) -> dict[str, str]:
    """Store a batch of prediction logs: the body is a Parquet file in the serving contract
    (request_id, ts, model, version, route, latency_ms, error, input.<name>..., output, proba)."""
    body = await _body(request)
    path = await run_in_threadpool(
        backend_of(request).append_predictions, project, endpoint, body, batch_id=batch
    )
    return {"path": path}


@router.post("/endpoints/{endpoint}/labels", status_code=201)
async def append_labels(
    request: Request, project: str, endpoint: str, batch: str | None = _BATCH
) -> dict[str, str]:
    """Store a batch of labels: the body is a Parquet file with request_id, ts and label."""
    body = await _body(request)
    path = await run_in_threadpool(
        backend_of(request).append_labels, project, endpoint, body, batch_id=batch
    )
    return {"path": path}


async def _body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BATCH:
            raise InvalidInput(
                f"The batch is larger than {MAX_BATCH >> 20} MiB: send it in smaller batches."
            )
        chunks.append(chunk)
    return b"".join(chunks)
