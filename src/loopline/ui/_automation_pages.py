"""Pages of the closed loop: the project's timeline (events newest first, grouped by loop
iteration, each with its figures and links, decisions revertable after a confirmation), the
triggers and one trigger's page, and the deliveries with their observation figures.

Reverting posts a form (same-origin, admin of the project, like the API's revert route) and
comes back to the timeline with the new event named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from loopline.automation import LoopEvent
from loopline.automation._summary import FigureRow, figure_rows, summary
from loopline.errors import Conflict, InvalidInput, NotFound
from loopline.ui._endpoint_pages import actor_of
from loopline.ui._pages import sections_of
from loopline.ui._render import base_url, render

if TYPE_CHECKING:
    from loopline.automation import Delivery
    from loopline.backends import Backend

__all__ = ["add_automation_routes", "group_events", "EventGroup", "KIND_CLASS"]

SHOWN_EVENTS = 200
KIND_CLASS: dict[str, str] = {
    "gate_passed": "status-succeeded",
    "promoted": "status-succeeded",
    "run_launched": "status-running",
    "gate_failed": "status-failed",
    "rolled_back": "status-failed",
    "trigger_failed": "status-failed",
    "trigger_broken": "status-failed",
    "canary_started": "status-busy",
    "shadow_started": "status-busy",
    "observation": "status-idle",
    "reverted": "status-stopped",
    "delivery_skipped": "status-stopped",
    "trigger_coalesced": "status-stopped",
}
"""The badge colour of each kind of event (the others are plain)."""
_SUBPAGES = (
    ("timeline", "Timeline", ""),
    ("triggers", "Triggers", "/triggers"),
    ("deliveries", "Deliveries", "/deliveries"),
)


@dataclass
class EventGroup:
    """Events of one loop iteration (one delivery and its gate; one trigger's launch), newest
    first."""

    key: str
    title: str
    events: list[LoopEvent] = field(default_factory=list)


def _title(event: LoopEvent) -> str:
    if event.model and event.version is not None:
        where = f" on {event.endpoint}" if event.endpoint else ""
        return f"{event.model} v{event.version}{where}"
    if event.trigger:
        return f"trigger {event.trigger}"
    return event.kind.replace("_", " ")


def group_events(events: list[LoopEvent]) -> list[EventGroup]:
    """Consecutive events (newest first) of the same iteration, together: a delivery's events
    with the gate that started it; a trigger's firing with the run it launched."""
    gate_to_delivery = {e.gate_id: e.delivery_id for e in events if e.gate_id and e.delivery_id}

    def key(e: LoopEvent) -> str:
        if e.delivery_id:
            return f"delivery:{e.delivery_id}"
        if e.gate_id and e.gate_id in gate_to_delivery:
            return f"delivery:{gate_to_delivery[e.gate_id]}"
        if e.gate_id:
            return f"gate:{e.gate_id}"
        if e.firing_id:
            return f"firing:{e.firing_id}"
        return f"event:{e.id}"

    groups: list[EventGroup] = []
    for e in events:
        k = key(e)
        if groups and groups[-1].key == k:
            groups[-1].events.append(e)
        else:
            groups.append(EventGroup(k, _title(e), [e]))
    for g in groups:  # the title of an iteration is its subject as the newest event names it
        g.title = next((_title(e) for e in g.events if e.model), g.title)
    return groups


def add_automation_routes(router: APIRouter, backend: Backend) -> None:
    """The timeline, triggers, a trigger, deliveries, and the revert form's target."""

    def url_of(request: Request, project: str, rest: str = "") -> str:
        return f"{base_url(request)}/projects/{quote(project, safe='')}/automation{rest}"

    def links(request: Request, project: str) -> dict[str, Any]:
        ui = base_url(request)
        p = quote(project, safe="")
        gates = {g.id: g for g in backend.list_gates(project)}

        def event_links(e: LoopEvent) -> list[tuple[str, str]]:
            out: list[tuple[str, str]] = []
            if e.trigger:
                out.append(
                    (
                        f"trigger {e.trigger}",
                        url_of(request, project, f"/triggers/{quote(e.trigger, safe='')}"),
                    )
                )
            gate = gates.get(e.gate_id or "") if e.kind.startswith("gate_") else None
            if gate is not None:  # a gate names its step's run and the pipeline run around it
                if gate.pipeline_run_id:
                    out.append(("pipeline run", f"{ui}/pipeline-runs/{gate.pipeline_run_id}"))
                if gate.run_id:
                    out.append(("gate's run", f"{ui}/runs/{gate.run_id}"))
            elif e.run_id:
                out.append(("pipeline run", f"{ui}/pipeline-runs/{e.run_id}"))
            if e.model and e.version is not None:
                out.append(
                    (
                        f"{e.model} v{e.version}",
                        f"{ui}/projects/{p}/models/{quote(e.model, safe='')}/versions/{e.version}",
                    )
                )
            if e.endpoint:
                label = e.endpoint + (f" rev {e.revision}" if e.revision else "")
                out.append((label, f"{ui}/projects/{p}/endpoints/{quote(e.endpoint, safe='')}"))
            if e.alert_id:
                out.append(("alert", f"{ui}/projects/{p}/alerts"))
            return out

        return {"event_links": event_links}

    def page(
        request: Request, project: str, template: str, sub: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        return render(
            request,
            template,
            status,
            project_name=project,
            sections=sections_of(project, base_url(request)),
            section="automation",
            subpages=[
                (k, label, url_of(request, project, rest), k == sub) for k, label, rest in _SUBPAGES
            ],
            automation_url=url_of(request, project),
            **context,
        )

    def timeline_page(
        request: Request, project: str, status: int = 200, error: str = ""
    ) -> HTMLResponse:
        backend.get_project(project)
        events = backend.automation_timeline(project, limit=SHOWN_EVENTS)
        notice = ""
        made = request.query_params.get("reverted", "")
        if made.isdigit():
            notice = f"Reverted: the revert is event #{made}."
        return page(
            request,
            project,
            "automation.html",
            "timeline",
            status,
            title=f"{project} · loop",
            groups=group_events(events),
            count=len(events),
            active=backend.list_deliveries(project, active=True),
            summary=summary,
            rows=figure_rows,
            kind_class=KIND_CLASS,
            notice=notice,
            error=error,
            **links(request, project),
        )

    @router.get("/projects/{project}/automation", include_in_schema=False)
    def timeline(request: Request, project: str) -> Response:
        return timeline_page(request, project)

    @router.post("/projects/{project}/automation/events/{event_id}/revert", include_in_schema=False)
    async def revert(request: Request, project: str, event_id: str) -> Response:
        actor = actor_of(request, backend)

        def attempt() -> Response:
            if not event_id.isdigit() or len(event_id) > 18:
                raise NotFound(f"There is no loop event {event_id[:20]!r}.")
            try:
                made = backend.revert_automation_event(project, int(event_id), actor=actor)
            except (Conflict, InvalidInput) as exc:
                status = 409 if isinstance(exc, Conflict) else 400
                return timeline_page(request, project, status, exc.message)
            target = f"{url_of(request, project)}?{urlencode({'reverted': made.id})}"
            return RedirectResponse(target, 303)

        return await run_in_threadpool(attempt)

    @router.get("/projects/{project}/automation/triggers", include_in_schema=False)
    def triggers(request: Request, project: str) -> Response:
        backend.get_project(project)
        found = backend.list_triggers(project)
        return page(
            request,
            project,
            "automation_triggers.html",
            "triggers",
            title=f"{project} · triggers",
            triggers=found,
            trigger_url=lambda t: url_of(request, project, f"/triggers/{quote(t.name, safe='')}"),
        )

    @router.get("/projects/{project}/automation/triggers/{name}", include_in_schema=False)
    def trigger(request: Request, project: str, name: str) -> Response:
        found = backend.get_trigger(project, name)
        return page(
            request,
            project,
            "automation_trigger.html",
            "triggers",
            title=f"{name} · triggers · {project}",
            trigger=found,
            versions=backend.trigger_versions(project, name),
            firings=backend.trigger_firings(project, name, 100),
            ui_project=f"{base_url(request)}/projects/{quote(project, safe='')}",
        )

    @router.get("/projects/{project}/automation/deliveries", include_in_schema=False)
    def deliveries(request: Request, project: str) -> Response:
        backend.get_project(project)
        found = backend.list_deliveries(project)
        return page(
            request,
            project,
            "automation_deliveries.html",
            "deliveries",
            title=f"{project} · deliveries",
            active=[d for d in found if d.state in ("shadow", "canary")],
            past=[d for d in found if d.state not in ("shadow", "canary")],
            progress=_progress,
            observed=_observed,
            ui_project=f"{base_url(request)}/projects/{quote(project, safe='')}",
        )


def _progress(delivery: Delivery) -> dict[str, Any]:
    """How far the observation window of an active delivery is (share of time elapsed)."""
    from loopline.db import utcnow

    seconds = float(delivery.policy.get("observe_seconds") or 0.0)
    elapsed = (utcnow() - delivery.phase_started_at).total_seconds()
    share = 1.0 if seconds <= 0 else max(0.0, min(1.0, elapsed / seconds))
    return {"seconds": seconds, "elapsed": elapsed, "percent": round(100 * share)}


def _observed(delivery: Delivery) -> list[FigureRow]:
    """The live figures a delivery was judged on (empty while it has not been judged)."""
    event = LoopEvent(
        0, delivery.project, "observation", delivery.updated_at, "", figures=delivery.figures
    )
    return figure_rows(event)
