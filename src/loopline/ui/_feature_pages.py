"""Pages of the feature store: a project's feature views with their freshness, and one view's
schema, source, entities, freshness and what uses it (on-demand views, serving endpoints)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from loopline.errors import NotFound
from loopline.features import FeatureViewInfo
from loopline.ui._pages import sections_of
from loopline.ui._render import base_url, render

if TYPE_CHECKING:
    from loopline.backends import Backend
    from loopline.serving import Endpoint

__all__ = ["add_feature_routes", "Freshness", "freshness_of"]


@dataclass(frozen=True, slots=True)
class Freshness:
    """How current a view's online values are, for people.

    Attributes:
        state: ``fresh`` (materialized, newest values younger than the TTL), ``stale`` (older
            than the TTL: online lookups find nothing for entities with no newer row),
            ``never`` (online, never materialized), ``offline`` (not served online),
            ``on_demand`` (computed at request time from other views).
        age_seconds: how far behind now the watermark is.
    """

    state: str
    age_seconds: float | None


def freshness_of(view: FeatureViewInfo, now: datetime) -> Freshness:
    """The freshness of ``view`` at ``now`` (see :class:`Freshness`)."""
    if view.type == "on_demand":
        return Freshness("on_demand", None)
    if not view.online:
        return Freshness("offline", None)
    if view.watermark is None:
        return Freshness("never", None)
    watermark = view.watermark if view.watermark.tzinfo else view.watermark.replace(tzinfo=UTC)
    age = max(0.0, (now - watermark).total_seconds())
    stale = view.ttl_seconds is not None and age > view.ttl_seconds
    return Freshness("stale" if stale else "fresh", age)


def add_feature_routes(router: APIRouter, backend: Backend) -> None:
    """The feature views list and a view's page."""

    def project_page(request: Request, project: str, template: str, **context: Any) -> Response:
        return render(
            request,
            template,
            project_name=project,
            sections=sections_of(project, base_url(request)),
            section="features",
            **context,
        )

    @router.get("/projects/{project}/features", include_in_schema=False)
    def views(request: Request, project: str) -> Response:
        backend.get_project(project)
        found = backend.list_feature_views(project)
        now = datetime.now(UTC)
        return project_page(
            request,
            project,
            "features.html",
            title=f"{project} · features",
            views=[(v, freshness_of(v, now)) for v in found],
            now=now,
        )

    @router.get("/projects/{project}/features/{name}", include_in_schema=False)
    def view(request: Request, project: str, name: str) -> Response:
        backend.get_project(project)
        every = backend.list_feature_views(project)
        found = next((v for v in every if v.name == name), None)
        if found is None:
            names = [v.name for v in every]
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise NotFound(f"Feature view {name[:60]!r} not found in project {project!r}.{hint}")
        specs = backend.feature_specs(project)
        spec = next((s for s in specs if s.get("kind") == "view" and s.get("name") == name), {})
        entity_specs = {s.get("name"): s for s in specs if s.get("kind") == "entity"}
        readers = [v for v in every if name in v.sources]
        now = datetime.now(UTC)
        return project_page(
            request,
            project,
            "feature_view.html",
            title=f"{name} · features · {project}",
            view=found,
            freshness=freshness_of(found, now),
            now=now,
            entities=[(e, entity_specs.get(e, {})) for e in found.entities],
            request_sources=list(spec.get("request_sources") or []),
            function=str(spec.get("function") or ""),
            readers=readers,
            endpoints=_endpoints_using(backend, project, name),
            models=backend.models_trained_on(project, name),
        )


def _endpoints_using(backend: Backend, project: str, view: str) -> list[tuple[Endpoint, list[str]]]:
    """Endpoints whose serving revision looks up features of ``view``, with those features."""
    out = []
    for endpoint in backend.list_endpoints(project):
        lookup = endpoint.spec.features
        if lookup is None:
            continue
        names = [ref.partition(":")[2] for ref in lookup.features if ref.partition(":")[0] == view]
        if names:
            out.append((endpoint, names))
    return out
