"""Liveness, readiness and metrics: what load balancers and Prometheus ask."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from loopline._version import __version__
from loopline.errors import LooplineError
from loopline.server._state import backend_of, metrics_of

router = APIRouter(tags=["health"])
_PROBE = b"loopline readiness probe\n"


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up and serving requests (it checks nothing else)."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready to do work: the database answers at the right schema and the blob store answers.

    Answers 503 with the failing check's message otherwise, so a load balancer holds traffic back.
    """
    backend = backend_of(request)
    checks: dict[str, Any] = {}
    ready = True
    for name, check in (("database", backend.db.check_schema), ("blobs", _check_blobs(request))):
        try:
            await run_in_threadpool(check)
            checks[name] = "ok"
        except LooplineError as exc:
            ready = False
            checks[name] = exc.message
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
    )


def _check_blobs(request: Request) -> Any:
    def check() -> None:
        # A write, not a lookup: a missing bucket or a read-only folder answers lookups with
        # "absent" and fails only on writes. Deduplication makes every probe after the first
        # one lookup of the same small blob.
        backend_of(request).blobs.put_bytes(_PROBE)

    return check


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text exposition of the server's request counts and latencies."""
    return Response(
        metrics_of(request).exposition(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
