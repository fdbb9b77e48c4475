"""The web UI: server-rendered pages (Jinja2, htmx, uPlot) over the backend the server serves."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from loopline.errors import NotFound
from loopline.ui._account_pages import add_account_routes  # accounts
from loopline.ui._agent_pages import add_agent_routes  # agents
from loopline.ui._automation_pages import add_automation_routes  # automation (helper A2)
from loopline.ui._dataset_pages import add_dataset_routes
from loopline.ui._endpoint_pages import add_endpoint_routes  # serving + features UI
from loopline.ui._feature_pages import add_feature_routes  # serving + features UI
from loopline.ui._labelling_pages import add_labelling_routes  # hard examples
from loopline.ui._model_pages import add_model_routes
from loopline.ui._monitor_pages import add_monitor_routes  # monitors (helper M)
from loopline.ui._pages import add_project_routes
from loopline.ui._pipeline_pages import add_pipeline_routes
from loopline.ui._render import PageRoute
from loopline.ui._run_pages import add_run_routes

if TYPE_CHECKING:
    from loopline.backends import Backend

__all__ = ["install", "create_router", "PREFIX"]

PREFIX = "/ui"


def create_router(backend: Backend) -> APIRouter:
    """Every UI page, under ``/ui``, reading through ``backend``.

    Example:
        >>> app.include_router(create_router(backend))
    """
    router = APIRouter(prefix=PREFIX, route_class=PageRoute, include_in_schema=False)
    add_account_routes(router, backend)  # accounts (/ui/login, /ui/account, ...)
    add_project_routes(router, backend)
    add_run_routes(router, backend)
    add_model_routes(router, backend)
    add_dataset_routes(router, backend)
    add_pipeline_routes(router, backend)
    add_agent_routes(router, backend)  # agents
    add_endpoint_routes(router, backend)  # serving + features UI
    add_feature_routes(router, backend)  # serving + features UI
    add_monitor_routes(router, backend)  # monitors (helper M)
    add_labelling_routes(router, backend)  # hard examples
    add_automation_routes(router, backend)  # automation (helper A2)

    # Last: any other address under /ui is a friendly 404 page, not the API's JSON answer.
    @router.get("/{rest:path}", include_in_schema=False)
    def unknown(request: Request, rest: str) -> Response:
        if not rest:  # "/ui/": the projects page is at "/ui"
            return RedirectResponse(request.url.path.rstrip("/"), 307)
        raise NotFound(f"There is no page at {request.url.path}.")

    return router


def install(app: FastAPI, backend: Backend) -> None:
    """Serve the UI from ``app``: the pages under ``/ui``, their static files, and ``/`` leading
    to the projects page.

    Example:
        >>> app = FastAPI()
        >>> install(app, LocalBackend.open(Settings.from_env()))
    """
    from pathlib import Path

    static = StaticFiles(directory=Path(__file__).parent / "static")
    # Mounted before the router so /ui/static/... never reaches the catch-all page route.
    app.mount(f"{PREFIX}/static", static, name="ui-static")
    app.include_router(create_router(backend))

    @app.get("/", include_in_schema=False)
    def root(request: Request) -> RedirectResponse:
        return RedirectResponse(str(request.scope.get("root_path", "")) + PREFIX, 307)
