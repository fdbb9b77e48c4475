"""What the app keeps for its routes: the backend it serves and its metrics."""

from __future__ import annotations

from typing import cast

from starlette.requests import Request

from loopline.backends import LocalBackend
from loopline.server._metrics import HttpMetrics

__all__ = ["backend_of", "metrics_of"]


def backend_of(request: Request) -> LocalBackend:
    return cast(LocalBackend, request.app.state.backend)


def metrics_of(request: Request) -> HttpMetrics:
    return cast(HttpMetrics, request.app.state.metrics)
