"""/api/2.0/mlflow and /api/2.0/mlflow-artifacts: the MLflow tracking REST API, for the `mlflow`
client (``mlflow.set_tracking_uri("http://loopline:8765")``).

Thin: each route reads MLflow's JSON (or query string), calls :class:`MlflowService` (the
translation onto Loopline's services) and returns its JSON. Errors are answered as MLflow
answers them, ``{"error_code": ..., "message": ...}``, so the client raises the usual
``MlflowException`` (``RESOURCE_DOES_NOT_EXIST`` is how ``set_experiment`` learns to create).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, cast

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from loopline import errors
from loopline.mlflow_compat import ArtifactPlace, MlflowService
from loopline.server._auth import accounts_of, user_of
from loopline.server._state import backend_of
from loopline.server.routers.blobs import _BodyReader

__all__ = ["router", "artifacts_router", "mlflow_error"]

log = logging.getLogger("loopline.server")

# MLflow's error codes, and the status its own server answers them with.
_CODES: tuple[tuple[type[errors.LooplineError], str, int], ...] = (
    (errors.InvalidInput, "INVALID_PARAMETER_VALUE", 400),
    (errors.NotFound, "RESOURCE_DOES_NOT_EXIST", 404),
    (errors.Conflict, "RESOURCE_ALREADY_EXISTS", 400),
    (errors.PermissionDenied, "PERMISSION_DENIED", 403),
    (errors.QuotaExceeded, "RESOURCE_EXHAUSTED", 429),
    (errors.LooplineError, "INTERNAL_ERROR", 500),
)


def mlflow_error(exc: errors.LooplineError) -> JSONResponse:
    """``exc`` as MLflow's server would answer it."""
    code, status = next((c, s) for cls, c, s in _CODES if isinstance(exc, cls))
    if status >= 500:
        log.error("%s: %s", type(exc).__name__, exc.message, exc_info=exc)
    return JSONResponse({"error_code": code, "message": exc.message}, status)


class _MlflowRoute(APIRoute):
    """A route whose errors come back in MLflow's shape instead of Loopline's."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except errors.LooplineError as exc:
                return mlflow_error(exc)
            except RequestValidationError as exc:
                problems = "; ".join(
                    ".".join(str(p) for p in e.get("loc", ()) if p != "body")
                    + f": {e.get('msg', 'invalid')}"
                    for e in exc.errors()[:5]
                )
                return JSONResponse(
                    {"error_code": "INVALID_PARAMETER_VALUE", "message": problems}, 400
                )

        return answer


router = APIRouter(prefix="/api/2.0/mlflow", tags=["mlflow"], route_class=_MlflowRoute)
artifacts_router = APIRouter(
    prefix="/api/2.0/mlflow-artifacts", tags=["mlflow"], route_class=_MlflowRoute
)

Json = dict[str, Any]
_BODY = Body(default_factory=dict, description="The request, as in MLflow's REST API.")


def _service(request: Request) -> MlflowService:
    service = getattr(request.app.state, "mlflow", None)
    if service is None:
        backend = backend_of(request)
        service = MlflowService(backend.db, backend.projects, backend.tracking, backend.blobs)
        request.app.state.mlflow = service
    return cast(MlflowService, service)


def _object(body: object) -> Json:
    if not isinstance(body, dict):
        raise errors.InvalidInput("The request body must be a JSON object.")
    return body


# -- experiments -------------------------------------------------------------------------------


@router.post("/experiments/create")
def create_experiment(request: Request, body: Json = _BODY) -> Json:
    """An experiment is a project: with authentication on, its creator becomes its admin
    (unless only global admins create projects: ``LOOPLINE_OPEN_PROJECTS=off``)."""
    user = user_of(request)
    if user is None:
        return _service(request).create_experiment(_object(body))
    accounts = accounts_of(request)
    if not user.is_admin and not accounts.open_projects:
        raise errors.PermissionDenied(
            "On this server only global admins create experiments (projects): ask one."
        )
    service = _service(request)
    answer = service.create_experiment(_object(body))
    project = service.project_of_experiment(str(answer["experiment_id"]))
    accounts.set_role(project, user.name, "admin")
    return answer


@router.get("/experiments/get")
def get_experiment(request: Request, experiment_id: str = Query(max_length=100)) -> Json:
    return _service(request).get_experiment(experiment_id)


@router.get("/experiments/get-by-name")
def get_experiment_by_name(request: Request, experiment_name: str = Query(max_length=500)) -> Json:
    return _service(request).get_experiment_by_name(experiment_name)


@router.post("/experiments/search")
def search_experiments(request: Request, body: Json = _BODY) -> Json:
    return _service(request).search_experiments(_object(body))


@router.post("/experiments/set-experiment-tag")
def set_experiment_tag(request: Request, body: Json = _BODY) -> Json:
    return _service(request).set_experiment_tag(_object(body))


# -- runs --------------------------------------------------------------------------------------


@router.post("/runs/create")
def create_run(request: Request, body: Json = _BODY) -> Json:
    """With authentication on, the run's user is the signed-in caller, whatever the body says."""
    return _service(request).create_run(_as_caller(request, _object(body)))


def _as_caller(request: Request, body: Json) -> Json:
    user = user_of(request)
    if user is None:
        return body
    tags = body.get("tags")
    if isinstance(tags, list):
        tags = [t for t in tags if not (isinstance(t, dict) and t.get("key") == "mlflow.user")]
    return {**body, "user_id": user.name, "tags": tags if tags is not None else []}


@router.get("/runs/get")
def get_run(
    request: Request,
    run_id: str | None = Query(None, max_length=100),
    run_uuid: str | None = Query(None, max_length=100),
) -> Json:
    return _service(request).get_run(run_id or run_uuid or "")


@router.post("/runs/update")
def update_run(request: Request, body: Json = _BODY) -> Json:
    return _service(request).update_run(_object(body))


@router.post("/runs/delete")
def delete_run(request: Request, body: Json = _BODY) -> Json:
    return _service(request).delete_run(_object(body))


@router.post("/runs/log-metric")
def log_metric(request: Request, body: Json = _BODY) -> Json:
    return _service(request).log_metric(_object(body))


@router.post("/runs/log-parameter")
def log_param(request: Request, body: Json = _BODY) -> Json:
    return _service(request).log_param(_object(body))


@router.post("/runs/set-tag")
def set_tag(request: Request, body: Json = _BODY) -> Json:
    return _service(request).set_tag(_object(body))


@router.post("/runs/log-batch")
def log_batch(request: Request, body: Json = _BODY) -> Json:
    return _service(request).log_batch(_object(body))


@router.post("/runs/log-model")
def log_model(request: Request, body: Json = _BODY) -> Json:
    """MLflow 2's model record (a run tag); MLflow 3 logs models through /logged-models."""
    return _service(request).accept_run_record(_object(body))


@router.post("/runs/log-inputs")
def log_inputs(request: Request, body: Json = _BODY) -> Json:
    """Dataset inputs: accepted and not kept (Loopline's own lineage records datasets)."""
    return _service(request).accept_run_record(_object(body))


@router.post("/runs/outputs")
def log_outputs(request: Request, body: Json = _BODY) -> Json:
    """Model outputs: the logged model already names its source run."""
    return _service(request).accept_run_record(_object(body))


@router.post("/runs/search")
def search_runs(request: Request, body: Json = _BODY) -> Json:
    return _service(request).search_runs(_object(body))


@router.get("/metrics/get-history")
def get_metric_history(
    request: Request,
    metric_key: str = Query(max_length=250),
    run_id: str | None = Query(None, max_length=100),
    run_uuid: str | None = Query(None, max_length=100),
    max_results: int | None = Query(None, ge=1, le=50_000),
    page_token: str = Query("", max_length=200),
) -> Json:
    return _service(request).metric_history(
        run_id or run_uuid or "", metric_key, max_results, page_token
    )


# -- logged models (MLflow 3) ------------------------------------------------------------------


@router.post("/logged-models")
def create_logged_model(request: Request, body: Json = _BODY) -> Json:
    return _service(request).create_logged_model(_object(body))


@router.post("/logged-models/search")
def search_logged_models(request: Request, body: Json = _BODY) -> Json:
    return _service(request).search_logged_models(_object(body))


@router.get("/logged-models/{model_id}")
def get_logged_model(request: Request, model_id: str) -> Json:
    return _service(request).get_logged_model(model_id)


@router.patch("/logged-models/{model_id}")
def finalize_logged_model(request: Request, model_id: str, body: Json = _BODY) -> Json:
    return _service(request).finalize_logged_model(model_id, _object(body))


@router.patch("/logged-models/{model_id}/tags")
def set_logged_model_tags(request: Request, model_id: str, body: Json = _BODY) -> Json:
    return _service(request).set_logged_model_tags(model_id, _object(body))


@router.delete("/logged-models/{model_id}/tags/{key}")
def delete_logged_model_tag(request: Request, model_id: str, key: str) -> Json:
    return _service(request).delete_logged_model_tag(model_id, key)


@router.post("/logged-models/{model_id}/params")
def log_logged_model_params(request: Request, model_id: str, body: Json = _BODY) -> Json:
    return _service(request).log_logged_model_params(model_id, _object(body))


# -- artifacts (the proxied artifact API: mlflow-artifacts:/ URIs) -----------------------------


@artifacts_router.get("/artifacts")
def list_artifacts(request: Request, path: str = Query("", max_length=1200)) -> Json:
    if not path.strip("/"):
        return {"files": []}
    return _service(request).list_artifacts(ArtifactPlace.parse(path, file=False))


@artifacts_router.put("/artifacts/{path:path}")
async def upload_artifact(request: Request, path: str) -> Json:
    service = _service(request)
    where = ArtifactPlace.parse(path, file=True)
    # Refuse an unknown run or model before reading a byte of the upload.
    await run_in_threadpool(service.list_artifacts, ArtifactPlace.parse(path, file=False))
    ref = await run_in_threadpool(service.blobs.put_stream, _BodyReader(request.stream()))
    await run_in_threadpool(service.put_artifact, where, ref.digest, ref.size)
    return {}


@artifacts_router.get("/artifacts/{path:path}", response_model=None)
def download_artifact(request: Request, path: str) -> StreamingResponse:
    service = _service(request)
    artifact = service.find_artifact(ArtifactPlace.parse(path, file=True))
    raw = service.blobs.open(artifact.digest)

    def chunks() -> Iterator[bytes]:
        with raw:
            while chunk := raw.read(1 << 20):
                yield chunk

    return StreamingResponse(
        iterate_in_threadpool(chunks()),
        media_type="application/octet-stream",
        headers={"Content-Length": str(artifact.size)},
    )
