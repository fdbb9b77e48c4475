"""Pages of monitors: a project's monitors, one monitor with its time series (drift share,
quality, latency per model version), its runs and their drift reports, and the alerts.

The drift report of a window is the self-contained HTML the monitor stored: shown as it is
(sandboxed: it runs nothing) and downloadable as a file.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from loopline.errors import InvalidInput, NotFound
from loopline.monitoring import METRICS, MonitorRecord, MonitorResult
from loopline.ui._pages import sections_of
from loopline.ui._render import base_url, page_headers, render

if TYPE_CHECKING:
    from loopline.backends import Backend

__all__ = ["add_monitor_routes", "series_payload", "CHARTS"]

CHARTS: dict[str, str] = {
    "drift_share": "Drift share (inputs)",
    "accuracy": "Accuracy",
    "f1": "F1",
    "rmse": "RMSE",
    "p99_ms": "Latency p99 (ms)",
    "error_rate": "Error rate",
}
"""The charts of a monitor page (those without a point are left out)."""
SHOWN_RUNS = 50
_REPORT_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"


def series_payload(results: list[MonitorResult], metric: str) -> dict[str, Any]:
    """Chart JSON (the shape the UI's charts read): one line per model version, x the end of
    each window in Unix seconds, a gap where a window had no value for that version."""
    if metric not in METRICS:
        raise InvalidInput(f"There is no metric {metric!r}; the metrics are {', '.join(METRICS)}.")
    mine = [r for r in results if r.metric == metric and r.model is not None]
    xs = sorted({int(r.window_end.timestamp()) for r in mine})
    at = {x: i for i, x in enumerate(xs)}
    lines: dict[str, list[float | None]] = {}
    for r in mine:
        label = f"{r.model} v{r.version}" if r.version is not None else str(r.model)
        ys = lines.setdefault(label, [None] * len(xs))
        value = r.value
        ys[at[int(r.window_end.timestamp())]] = (
            None if value is None or not math.isfinite(value) else value
        )
    series = [
        {"run_id": "", "label": k, "points": sum(v is not None for v in ys), "shown": len(xs)}
        for k, ys in sorted(lines.items())
    ]
    return {"key": metric, "series": series, "x": xs if series else [],
            "y": [lines[str(s["label"])] for s in series]}  # fmt: skip


def add_monitor_routes(router: APIRouter, backend: Backend) -> None:
    """The monitors list, a monitor's page, its chart data and reports, and the alerts."""

    def project_page(request: Request, project: str, template: str, **context: Any) -> HTMLResponse:
        return render(
            request,
            template,
            project_name=project,
            sections=sections_of(project, base_url(request)),
            section="monitors",
            **context,
        )

    def url_of(request: Request, project: str, name: str = "") -> str:
        from urllib.parse import quote

        base = f"{base_url(request)}/projects/{quote(project, safe='')}/monitors"
        return f"{base}/{quote(name, safe='')}" if name else base

    @router.get("/projects/{project}/monitors", include_in_schema=False)
    def monitors(request: Request, project: str) -> Response:
        backend.get_project(project)
        return project_page(
            request,
            project,
            "monitors.html",
            title=f"{project} · monitors",
            monitors=backend.list_monitors(project),
            monitor_url=lambda m: url_of(request, project, m.name),
            firing=len(backend.list_alerts(project, state="firing", limit=10_000)),
        )

    @router.get("/projects/{project}/monitors/{name}", include_in_schema=False)
    def monitor(request: Request, project: str, name: str) -> Response:
        found: MonitorRecord = backend.get_monitor(project, name)
        base = url_of(request, project, name)
        results = backend.monitor_results(project, name)
        present = {r.metric for r in results if r.value is not None}
        runs = backend.monitor_runs(project, name, SHOWN_RUNS)
        return project_page(
            request,
            project,
            "monitor.html",
            title=f"{name} · monitors · {project}",
            monitor=found,
            monitor_url=base,
            charts=[
                (k, label, f"{base}/series?metric={k}")
                for k, label in CHARTS.items()
                if k in present
            ],
            runs=runs,
            reports={r.id: _reports(r.results) for r in runs},
            alerts=list(reversed(backend.list_alerts(project, monitor=name, limit=10_000)))[:50],
            notice=request.query_params.get("ran", ""),
        )

    @router.get("/projects/{project}/monitors/{name}/series", include_in_schema=False)
    def series(request: Request, project: str, name: str) -> Response:
        metric = request.query_params.get("metric", "")
        if metric not in METRICS:
            raise InvalidInput(f"There is no metric {metric[:50]!r}.")
        results = backend.monitor_results(project, name, metric=metric)
        return JSONResponse(series_payload(results, metric), headers=page_headers())

    @router.post("/projects/{project}/monitors/{name}/run", include_in_schema=False)
    async def run_now(request: Request, project: str, name: str) -> Response:
        made = await run_in_threadpool(backend.run_monitor, project, name)
        return RedirectResponse(f"{url_of(request, project, name)}?ran={made.status}", 303)

    def report(project: str, name: str, run_id: str, request: Request) -> str:
        model = request.query_params.get("model") or None
        version_text = request.query_params.get("version", "")
        version = int(version_text) if version_text.isdigit() else None
        if len(run_id) > 64:
            raise NotFound("There is no such monitor run.")
        return backend.monitor_report(project, name, run_id, model=model, version=version)

    @router.get("/projects/{project}/monitors/{name}/runs/{run_id}/report", include_in_schema=False)
    def report_page(request: Request, project: str, name: str, run_id: str) -> Response:
        html = report(project, name, run_id, request)
        return HTMLResponse(html, headers={"Content-Security-Policy": _REPORT_CSP})

    @router.get(
        "/projects/{project}/monitors/{name}/runs/{run_id}/report.html", include_in_schema=False
    )
    def report_file(request: Request, project: str, name: str, run_id: str) -> Response:
        html = report(project, name, run_id, request)
        filename = f"drift-{name}-{run_id[:12]}.html".replace('"', "")
        return HTMLResponse(
            html,
            headers={
                "Content-Security-Policy": _REPORT_CSP,
                "Content-Disposition": f'attachment; filename="{filename}"',
            },
        )

    @router.get("/projects/{project}/alerts", include_in_schema=False)
    def alerts(request: Request, project: str) -> Response:
        backend.get_project(project)
        state = request.query_params.get("state") or None
        if state not in (None, "firing", "resolved"):
            state = None
        found = backend.list_alerts(project, state=state, limit=10_000)
        return project_page(
            request,
            project,
            "alerts.html",
            title=f"{project} · alerts",
            alerts=list(reversed(found))[:500],
            state=state,
            monitors_url=url_of(request, project),
        )


def _reports(results: list[MonitorResult]) -> list[tuple[str, str]]:
    """(label, query) of each drift report of a run."""
    out = []
    for r in results:
        if r.report and r.metric == "drift_share":
            label = f"{r.model} v{r.version}" if r.model else "report"
            query = f"?model={r.model}&version={r.version}" if r.model else ""
            out.append((label, query))
    return out
