"""Pages of serving endpoints: a project's endpoints, and one endpoint with its routes, a form
to change them (reviewed on a confirmation page before anything is made), a rollback, its
revisions and live charts of what its inference servers answered.

Every change goes through the backend (``update_endpoint``, ``rollback_endpoint``), which
validates it; a refusal is shown on the page next to the form, with the values as typed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from loopline.accounts import User
from loopline.config import Settings
from loopline.errors import Conflict, InvalidInput, NotFound
from loopline.registry import ModelVersion, parse_model_uri
from loopline.serving import Endpoint, EndpointSpec, Route, validate_endpoint_name
from loopline.ui._endpoint_views import (
    CHART_METRICS,
    PERIODS,
    FormRoute,
    form_fields,
    form_rows,
    period_of,
    route_changes,
    routes_from_form,
    since_of,
    stats_payload,
    stats_summary,
    submitted_rows,
    version_link,
)
from loopline.ui._pages import sections_of
from loopline.ui._render import base_url, page_headers, render

if TYPE_CHECKING:
    from loopline.backends import Backend

__all__ = ["add_endpoint_routes", "actor_of", "endpoints_serving"]

POLL_SECONDS = 5
SHOWN_REVISIONS = 100
"""The newest revisions the page lists (the CLI's ``loopline endpoints revisions`` has all)."""
_NO_ROW = FormRoute(0, "", "", "", False)


def actor_of(request: Request, backend: Backend) -> str:
    """Who a change made from the UI is recorded as: the signed-in user when the server checks
    who calls, else the server's own user (``LOOPLINE_USER``, or its login name)."""
    user = request.scope.get("state", {}).get("user")
    if isinstance(user, User):
        return user.name
    settings = getattr(backend, "settings", None)
    return settings.actor if isinstance(settings, Settings) else "ui"


def add_endpoint_routes(router: APIRouter, backend: Backend) -> None:
    """The endpoints list, an endpoint's page, its live parts, and the changes it posts."""

    def project_page(
        request: Request, project: str, template: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        return render(
            request,
            template,
            status,
            project_name=project,
            sections=sections_of(project, base_url(request)),
            section="endpoints",
            **context,
        )

    @router.get("/projects/{project}/endpoints", include_in_schema=False)
    def endpoints(request: Request, project: str) -> Response:
        backend.get_project(project)
        return project_page(
            request,
            project,
            "endpoints.html",
            title=f"{project} · endpoints",
            endpoints=backend.list_endpoints(project),
            route_url=lambda route: _route_url(base_url(request), project, route),
        )

    def find(project: str, name: str) -> Endpoint:
        try:
            validate_endpoint_name(name)
        except InvalidInput:
            raise NotFound(f"There is no endpoint {name[:60]!r}.") from None
        return backend.get_endpoint(project, name)

    def live_context(request: Request, endpoint: Endpoint) -> dict[str, Any]:
        now = datetime.now(UTC)
        minutes = period_of(request.query_params.get("minutes"))
        windows = backend.endpoint_stats(endpoint.project, endpoint.name, since=since_of(1, now))
        base = _endpoint_url(base_url(request), endpoint.project, endpoint.name)
        revisions = backend.endpoint_revisions(endpoint.project, endpoint.name)
        return {
            "endpoint": endpoint,
            "revisions": revisions[:SHOWN_REVISIONS],
            "revision_count": len(revisions),
            "figures": stats_summary(windows, now),
            "minutes": minutes,
            "endpoint_url": base,
            "poll": POLL_SECONDS,
            "version_link": version_link,
            "model_url": lambda label: _label_url(base_url(request), endpoint.project, label),
            "route_url": lambda route: _route_url(base_url(request), endpoint.project, route),
        }

    def endpoint_page(
        request: Request,
        endpoint: Endpoint,
        *,
        rows: list[FormRoute] | None = None,
        added: FormRoute = _NO_ROW,
        message: str = "",
        error: str | None = None,
        notice: str | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        context = live_context(request, endpoint)
        base = context["endpoint_url"]
        return project_page(
            request,
            endpoint.project,
            "endpoint.html",
            status,
            title=f"{endpoint.name} · {endpoint.project}",
            rows=form_rows(endpoint.spec) if rows is None else rows,
            added=added,
            message=message,
            form_error=error,
            notice=notice,
            periods=PERIODS,
            charts=[
                (key, label, f"{base}/series?metric={key}&minutes={context['minutes']}")
                for key, label in CHART_METRICS.items()
            ],
            feature_views=_feature_views(endpoint.spec),
            **context,
        )

    @router.get("/projects/{project}/endpoints/{name}", include_in_schema=False)
    def endpoint(request: Request, project: str, name: str) -> Response:
        found = find(project, name)
        notice = None
        made = request.query_params.get("made", "")
        if made.isdigit():
            notice = _made_notice(found, int(made))
        return endpoint_page(request, found, notice=notice)

    @router.get("/projects/{project}/endpoints/{name}/live", include_in_schema=False)
    def live(request: Request, project: str, name: str) -> Response:
        """The parts of the endpoint page that change by themselves (revision states, the
        last minute's figures): what the page polls for."""
        found = find(project, name)
        return render(
            request,
            "_endpoint_live_response.html",
            project_name=project,
            **live_context(request, found),
        )

    @router.get("/projects/{project}/endpoints/{name}/series", include_in_schema=False)
    def series(request: Request, project: str, name: str) -> Response:
        """Chart data: one figure per model version per 10-second window."""
        found = find(project, name)
        now = datetime.now(UTC)
        minutes = period_of(request.query_params.get("minutes"))
        metric = request.query_params.get("metric", "")
        windows = backend.endpoint_stats(found.project, found.name, since=since_of(minutes, now))
        payload = stats_payload(windows, metric, minutes, now)
        return JSONResponse(payload, headers=page_headers())

    async def form_of(request: Request) -> dict[str, str]:
        body = (await request.body()).decode("utf-8", "replace")
        return dict(parse_qsl(body, keep_blank_values=True))

    def current(project: str, name: str, form: dict[str, str]) -> Endpoint:
        """The endpoint, refusing a form made from an older state of it."""
        found = find(project, name)
        base = form.get("base", "")
        if base != str(found.revision.number):
            newest = found.revision
            raise Conflict(
                f"Endpoint {name!r} changed while you were editing: revision {newest.number} "
                f"was made by {newest.actor}"
                f"{f' ({newest.message})' if newest.message else ''}. The form now shows "
                f"what it serves; make your change again."
            )
        return found

    def proposed(found: Endpoint, form: dict[str, str]) -> tuple[EndpointSpec, EndpointSpec]:
        """The spec the form describes, and the same with each route's version looked up
        (what the confirmation shows; an unknown model is NotFound here)."""
        rows, added = submitted_rows(form)
        routes = routes_from_form(rows, added)
        spec = found.spec.with_routes(routes)
        if spec.to_dict() == found.spec.to_dict():
            raise InvalidInput(
                "Nothing would change: these are the routes the endpoint serves now."
            )
        shown = []
        for route in routes:
            version = route.version
            if version is None:
                parsed = parse_model_uri(route.model)
                version = backend.get_model_version(
                    parsed.project or found.project, parsed.name, parsed.ref
                ).number
            shown.append(Route(route.model, route.weight, route.shadow, version))
        return spec, found.spec.with_routes(shown)

    def refused(
        request: Request, project: str, name: str, form: dict[str, str], exc: Exception
    ) -> HTMLResponse:
        found = find(project, name)
        message = getattr(exc, "message", str(exc))
        if isinstance(exc, Conflict):
            return endpoint_page(request, found, error=message, status=409)
        try:
            rows, added = submitted_rows(form)
        except InvalidInput:
            rows, added = None, _NO_ROW
        return endpoint_page(
            request,
            found,
            rows=rows,
            added=added,
            message=form.get("message", ""),
            error=message,
            status=422,
        )

    @router.post("/projects/{project}/endpoints/{name}/review", include_in_schema=False)
    async def review(request: Request, project: str, name: str) -> Response:
        form = await form_of(request)

        def attempt() -> Response:
            try:
                found = current(project, name, form)
                _spec, shown = proposed(found, form)
                changes = route_changes(found.spec, shown)
            except (InvalidInput, NotFound, Conflict) as exc:
                return refused(request, project, name, form, exc)
            rows, added = submitted_rows(form)
            return project_page(
                request,
                project,
                "endpoint_confirm.html",
                title=f"Review the change · {name}",
                endpoint=found,
                changes=changes,
                message=form.get("message", ""),
                fields=form_fields(rows, added, form.get("message", "")),
                endpoint_url=_endpoint_url(base_url(request), project, name),
            )

        return await run_in_threadpool(attempt)

    @router.post("/projects/{project}/endpoints/{name}/edit", include_in_schema=False)
    async def edit(request: Request, project: str, name: str) -> Response:
        """Back from the confirmation to the form, with the values as they were typed."""
        form = await form_of(request)

        def again() -> Response:
            found = find(project, name)
            try:
                rows, added = submitted_rows(form)
            except InvalidInput:
                rows, added = form_rows(found.spec), _NO_ROW
            return endpoint_page(
                request, found, rows=rows, added=added, message=form.get("message", "")
            )

        return await run_in_threadpool(again)

    @router.post("/projects/{project}/endpoints/{name}/update", include_in_schema=False)
    async def update(request: Request, project: str, name: str) -> Response:
        form = await form_of(request)
        actor = actor_of(request, backend)

        def attempt() -> Response:
            try:
                found = current(project, name, form)
                spec, _shown = proposed(found, form)  # checked again: the models may have gone
                made = backend.update_endpoint(
                    project, name, spec, actor=actor, message=form.get("message", "").strip()
                )
            except (InvalidInput, NotFound, Conflict) as exc:
                return refused(request, project, name, form, exc)
            target = _endpoint_url(base_url(request), project, name)
            return RedirectResponse(f"{target}?made={made.revision.number}", 303)

        return await run_in_threadpool(attempt)

    @router.post("/projects/{project}/endpoints/{name}/rollback", include_in_schema=False)
    async def rollback(request: Request, project: str, name: str) -> Response:
        form = await form_of(request)
        actor = actor_of(request, backend)

        def attempt() -> Response:
            try:
                current(project, name, form)
                made = backend.rollback_endpoint(
                    project, name, actor=actor, message=form.get("message", "").strip()
                )
            except (InvalidInput, NotFound, Conflict) as exc:
                found = find(project, name)
                status = 409 if isinstance(exc, Conflict) else 422
                return endpoint_page(request, found, error=exc.message, status=status)
            target = _endpoint_url(base_url(request), project, name)
            return RedirectResponse(f"{target}?made={made.revision.number}", 303)

        return await run_in_threadpool(attempt)


def endpoints_serving(backend: Backend, version: ModelVersion) -> list[tuple[Endpoint, Route]]:
    """The endpoints of the version's project whose serving revision routes to it."""
    out = []
    for endpoint in backend.list_endpoints(version.project):
        for route in endpoint.spec.routes:
            parsed = parse_model_uri(route.model)
            if (
                route.version == version.number
                and parsed.name == version.model
                and (parsed.project or endpoint.project) == version.project
            ):
                out.append((endpoint, route))
    return out


def _made_notice(endpoint: Endpoint, number: int) -> str | None:
    newest = endpoint.revision
    if newest.number != number:
        return None
    what = (
        f"Revision {number} rolls back to revision {newest.rollback_of}"
        if newest.rollback_of is not None
        else f"Revision {number} is recorded"
    )
    return (
        f"{what}. Inference servers load it in the background and switch to it with no "
        f"failed request; its state shows below."
    )


def _feature_views(spec: EndpointSpec) -> list[tuple[str, list[str]]]:
    """The views of the endpoint's feature lookup with the features it reads from each."""
    if spec.features is None:
        return []
    views: dict[str, list[str]] = {}
    for ref in spec.features.features:
        view, _, feature = ref.partition(":")
        views.setdefault(view, []).append(feature)
    return list(views.items())


def _endpoint_url(ui: str, project: str, name: str) -> str:
    return f"{ui}/projects/{quote(project, safe='')}/endpoints/{quote(name, safe='')}"


def _label_url(ui: str, project: str, label: str) -> str:
    """The version page of a statistics label (``digits/4``), or "" when it is not one."""
    found = version_link(label)
    if found is None:
        return ""
    name, version = found
    return _version_url(ui, project, name, version)


def _route_url(ui: str, project: str, route: Route) -> str:
    """The version page of the model version a route serves."""
    parsed = parse_model_uri(route.model)
    version = route.version if route.version is not None else parsed.ref
    return _version_url(ui, parsed.project or project, parsed.name, str(version))


def _version_url(ui: str, project: str, name: str, version: str) -> str:
    return (
        f"{ui}/projects/{quote(project, safe='')}/models/{quote(name, safe='')}"
        f"/versions/{quote(version, safe='')}"
    )
