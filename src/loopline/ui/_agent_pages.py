"""The agents page: queues with their depth and waiting tasks, agents, autoscaler decisions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from loopline.ui._render import render

if TYPE_CHECKING:
    from loopline.backends import Backend

__all__ = ["add_agent_routes", "WAITING_SHOWN", "DECISIONS_SHOWN"]

WAITING_SHOWN = 50
"""Waiting tasks listed, in the order agents will take them."""
DECISIONS_SHOWN = 30


def add_agent_routes(router: APIRouter, backend: Backend) -> None:
    """``/ui/agents`` (the whole page) and ``/ui/agents/live`` (its body, refreshed by htmx)."""

    def context() -> dict[str, Any]:
        queues = backend.list_queues()
        waiting = backend.list_tasks(status="queued", limit=WAITING_SHOWN)
        rank = {q.name: i for i, q in enumerate(queues)}
        waiting.sort(key=lambda t: rank.get(t.queue, len(rank)))  # queue priority first
        return {
            "queues": queues,
            "waiting": waiting,
            "running": backend.list_tasks(status="running", limit=200),
            "agents": backend.list_agents(),
            "decisions": backend.list_decisions(limit=DECISIONS_SHOWN),
        }

    @router.get("/agents", include_in_schema=False)
    def agents_page(request: Request) -> Response:
        return render(request, "agents.html", title="Agents and queues", **context())

    @router.get("/agents/live", include_in_schema=False)
    def agents_live(request: Request) -> Response:
        return render(request, "_agents_live.html", **context())
