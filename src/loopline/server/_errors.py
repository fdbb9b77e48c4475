"""The one table that maps Loopline errors to HTTP status codes, and the handlers that use it."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from loopline import errors
from loopline.pipelines import InvalidParameter

__all__ = ["STATUS_CODES", "install_error_handlers", "error_body", "status_for"]

log = logging.getLogger("loopline.server")

# Most specific first: the first class an error is an instance of decides its status.
STATUS_CODES: tuple[tuple[type[errors.LooplineError], int], ...] = (
    (errors.ConfigError, 400),
    (InvalidParameter, 422),  # a launch form's field of the wrong type: the field is named
    (errors.InvalidInput, 400),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.PermissionDenied, 403),
    (errors.QuotaExceeded, 429),
    (errors.SchemaOutOfDate, 503),
    (errors.ServerUnreachable, 502),
    (errors.StorageError, 500),
    (errors.LooplineError, 500),
)

_STARLETTE_TYPES = {404: "NotFound", 405: "InvalidInput", 401: "PermissionDenied"}


def status_for(exc: errors.LooplineError) -> int:
    return next(code for cls, code in STATUS_CODES if isinstance(exc, cls))


def error_body(kind: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON every error answer carries: ``{"error": {"type", "message", "details"}}``."""
    return {"error": {"type": kind, "message": message, "details": details or {}}}


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error as JSON the client can turn back into the same exception type."""

    @app.exception_handler(errors.LooplineError)
    async def _loopline_error(_request: Request, exc: errors.LooplineError) -> JSONResponse:
        status = status_for(exc)
        if status >= 500:
            log.error("%s: %s", type(exc).__name__, exc.message, exc_info=exc)
        return JSONResponse(error_body(type(exc).__name__, exc.message, exc.details), status)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [_describe_problem(p) for p in exc.errors()]
        message = "Invalid request: " + "; ".join(problems[:5])
        if len(problems) > 5:
            message += f"; and {len(problems) - 5} more"
        return JSONResponse(error_body("InvalidInput", message, {"problems": problems}), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = _STARLETTE_TYPES.get(exc.status_code, "LooplineError")
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"No such API path: {request.url.path}. See /docs for the API."
        return JSONResponse(error_body(kind, message), exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(
            error_body(
                "LooplineError",
                f"Internal server error ({type(exc).__name__}); see the server log.",
            ),
            500,
        )


def _describe_problem(problem: Any) -> str:
    where = ".".join(str(part) for part in problem.get("loc", ()) if part != "body") or "request"
    return f"{where}: {problem.get('msg', 'invalid')}"
