"""Templates, the formatting every page shares, and friendly error pages instead of tracebacks.

Every UI route is a :class:`PageRoute`: whatever a page handler raises becomes a page a person
can read. A Loopline error keeps its status and message (an unknown run is a 404 page saying so);
anything else is logged with its traceback and shown as a 500 page without details.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from loopline._version import __version__
from loopline.errors import (
    Conflict,
    InvalidInput,
    LooplineError,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    SchemaOutOfDate,
)

__all__ = ["PageRoute", "render", "error_page", "base_url", "TEMPLATES"]

log = logging.getLogger("loopline.ui")

TEMPLATES = Path(__file__).parent / "templates"

# Pages are same-origin only: scripts and styles from our static folder, no inline scripts, no
# eval (htmx is told not to use it), images from here or data: URLs (uPlot legends).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
)

_STATUS = (
    (InvalidInput, 400, "That request does not make sense"),
    (NotFound, 404, "Not found"),
    (Conflict, 409, "Conflict"),
    (PermissionDenied, 403, "Not allowed"),
    (QuotaExceeded, 429, "Over quota"),
    (SchemaOutOfDate, 503, "The database needs an upgrade"),
)


def _number(value: object, digits: int = 6) -> str:
    """Metric values for people: up to ``digits`` significant digits, NaN and inf spelled out."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value != 0 and (abs(value) >= 1e7 or abs(value) < 1e-4):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _iso(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _duration(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return ""
    if end is None:
        end = datetime.now(UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    seconds = max(0.0, (end - start).total_seconds())
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def _size(value: int | None) -> str:
    if value is None:
        return ""
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"  # pragma: no cover - the loop always returns


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(number=_number, when=_when, iso=_iso, duration=_duration, size=_size)
_env.globals.update(version=__version__)


def base_url(request: Request) -> str:
    """Where the UI lives, as links in pages write it: honours a proxy's root path."""
    return str(request.scope.get("root_path", "")).rstrip("/") + "/ui"


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with ``context`` plus what every page needs (``ui``: the UI's base URL;
    ``static``: the static files' URL)."""
    ui = base_url(request)
    html = _env.get_template(template).render(
        ui=ui, static=f"{ui}/static", request_path=request.url.path, **context
    )
    return HTMLResponse(html, status_code, headers=page_headers())


def page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


def error_page(request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
    """A page for a person: what went wrong, and the way back. Never a traceback."""
    return render(
        request, "error.html", status_code, title=title, message=message, status=status_code
    )


def _page_for(request: Request, exc: Exception) -> Response:
    if isinstance(exc, LooplineError):
        for cls, status, title in _STATUS:
            if isinstance(exc, cls):
                return error_page(request, status, title, exc.message)
    if isinstance(exc, RequestValidationError):
        return error_page(request, 400, "That request does not make sense", "Invalid address.")
    log.error("UI page %s failed", request.url.path, exc_info=exc)
    return error_page(
        request,
        500,
        "Something went wrong",
        "The page could not be shown because of an error on the server. It has been logged; "
        "try again, or go back to the projects.",
    )


class PageRoute(APIRoute):
    """An APIRoute whose errors become friendly HTML pages (the JSON API keeps its own)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a page, never a trace
                return _page_for(request, exc)

        return guarded
