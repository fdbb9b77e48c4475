"""Security every request goes through: body size limits, security headers, then (when on)
authentication, authorisation by the route table and the audit log (``_auth.py``,
``_access.py``).

Pure ASGI middleware, not ``BaseHTTPMiddleware``: uploads stream through without being
buffered, and a request over its size limit is refused while it is still arriving.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loopline.backends import LocalBackend

__all__ = [
    "install_security",
    "BodyLimitMiddleware",
    "SecurityHeadersMiddleware",
    "MAX_BODY",
    "MAX_UPLOAD",
    "UI_CSP",
]

MAX_BODY = 64 * 1024 * 1024
"""The largest request body of an API call (a manifest, a batch of metrics): 64 MiB."""
MAX_UPLOAD = 64 * 1024 * 1024 * 1024
"""The largest upload of bytes (a blob, an MLflow artifact): 64 GiB."""
# Routes that take raw bytes (streamed to the blob store) rather than a JSON document.
_UPLOADS = re.compile(r"^/api/(v1/blobs/[^/]+|2\.0/mlflow-artifacts/artifacts/.+)$")

UI_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'self'; form-action 'self'"
)
"""The UI's Content-Security-Policy: its own scripts only, never inline ones."""
# A file a run logged, shown raw: it may be HTML someone else wrote, so it runs nothing.
_RAW_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"
_RAW_ARTIFACT = re.compile(r"^/ui/runs/[^/]+/artifacts/raw$")

_COMMON_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def install_security(app: FastAPI, backend: LocalBackend) -> None:
    """Add the security middleware, outermost (so it sees every request first).

    Example:
        >>> app = FastAPI()
        >>> install_security(app, backend)
    """
    from loopline.accounts import AccountService
    from loopline.mlflow_compat import MlflowService
    from loopline.server._auth import AuthMiddleware, Gate

    settings = backend.settings
    # Each domain counts what a project uses of the quotas it knows (accounts add them up).
    counters = (
        backend.tracking,
        backend.datasets,
        backend.registry,
        backend.pipelines,
        backend.agents,
    )
    accounts = AccountService(
        backend.db, backend.projects, counters=counters, open_projects=settings.open_projects
    )
    mlflow = MlflowService(backend.db, backend.projects, backend.tracking, backend.blobs)
    app.state.accounts = accounts
    app.state.mlflow = mlflow
    app.state.auth_enabled = bool(settings.auth)
    if settings.admin_user:
        accounts.ensure_admin(settings.admin_user, settings.admin_password)
    gate = Gate(enabled=bool(settings.auth), backend=backend, accounts=accounts, mlflow=mlflow)
    # Added in this order, they run the other way round: size first, then headers, then auth.
    app.add_middleware(AuthMiddleware, gate=gate)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_body=MAX_BODY, max_upload=MAX_UPLOAD)


def _error(status: int, kind: str, message: str, details: dict[str, Any]) -> bytes:
    return json.dumps({"error": {"type": kind, "message": message, "details": details}}).encode()


class BodyLimitMiddleware:
    """413 for a body over the limit: at once from Content-Length, or as soon as the bytes
    that arrived pass it (a chunked upload says no length up front)."""

    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = self.max_upload if _UPLOADS.match(path) else self.max_body
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _answer(send, 400, "InvalidInput", "Content-Length must be a number.", {})
                return
            if int(declared) > limit:
                await _too_large(send, limit)
                return
        received = 0
        started = exceeded = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def checked_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                # Whatever the route made of the cut body (a parse error, most likely), the
                # answer is that it was too large.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _too_large(send, limit)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, checked_send)
        except _TooLarge:
            if not started:
                await _too_large(send, limit)


class _TooLarge(Exception):
    """The body passed its limit while it was being read."""


async def _too_large(send: Send, limit: int) -> None:
    await _answer(
        send,
        413,
        "InvalidInput",
        f"The request body is over the {limit:,}-byte limit: send it in smaller pieces "
        f"(large files go through the blob upload, PUT /api/v1/blobs/{{digest}}).",
        {"limit": limit},
    )


async def _answer(
    send: Send, status: int, kind: str, message: str, details: dict[str, Any]
) -> None:
    body = _error(status, kind, message, details)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *_COMMON_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class SecurityHeadersMiddleware:
    """nosniff, a referrer policy and no framing by other sites on every answer; a strict
    Content-Security-Policy on the UI's pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra: list[tuple[bytes, bytes]] = list(_COMMON_HEADERS)
        if path == "/ui" or path.startswith("/ui/"):
            csp = _RAW_CSP if _RAW_ARTIFACT.match(path) else UI_CSP
            extra += [
                (b"content-security-policy", csp.encode()),
                (b"x-frame-options", b"SAMEORIGIN"),
            ]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
