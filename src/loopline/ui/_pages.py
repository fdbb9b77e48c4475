"""Pages of projects and their runs: the projects list, the runs table, compare, chart data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from loopline.errors import InvalidInput, NotFound
from loopline.tracking import MetricSummary, Run, compare_runs
from loopline.ui._nav import PROJECT_SECTIONS
from loopline.ui._query import (
    ATTRIBUTE_COLUMNS,
    DEFAULT_SORT,
    MAX_SELECTED,
    PAGE_SIZES,
    Column,
    RunsQuery,
    default_columns,
    run_ids,
)
from loopline.ui._render import base_url, page_headers, render
from loopline.ui._series import chart_payload, clamp_buckets, series_from_history

if TYPE_CHECKING:
    from loopline.backends import Backend

__all__ = ["add_project_routes", "sections_of", "run_or_404"]

MAX_COMPARE = MAX_SELECTED


def sections_of(project: str, ui: str) -> list[dict[str, str]]:
    """The project's tabs, with their URLs."""
    return [
        {"key": s.key, "label": s.label, "url": f"{ui}/projects/{project}/{s.path}"}
        for s in PROJECT_SECTIONS
        if s.available
    ]


def run_or_404(backend: Backend, run_id: str) -> Run:
    """The run, or NotFound (a malformed id is just a run that does not exist, for a person)."""
    if len(run_id) != 32 or any(c not in "0123456789abcdef" for c in run_id):
        shown = run_id if len(run_id) <= 40 else run_id[:37] + "..."
        raise NotFound(f"There is no run {shown!r}: run ids are 32 hexadecimal characters.")
    return backend.get_run(run_id)


def add_project_routes(router: APIRouter, backend: Backend) -> None:
    """The projects list, a project's runs table, compare and the chart-data endpoint."""

    @router.get("", include_in_schema=False)
    def projects(request: Request) -> Response:
        rows = []
        for project in backend.list_projects():
            rows.append({"project": project, "runs": backend.count_runs(project.name)})
        return render(request, "projects.html", projects=rows, title="Projects")

    @router.get("/projects/{project}", include_in_schema=False)
    def project_home(request: Request, project: str) -> Response:
        backend.get_project(project)
        return RedirectResponse(f"{request.url.path.rstrip('/')}/runs", 307)

    @router.get("/projects/{project}/runs", include_in_schema=False)
    def runs(request: Request, project: str) -> Response:
        info = backend.get_project(project)
        query = RunsQuery.from_params(request.query_params)
        filter_error: dict[str, Any] | None = None
        sort_error: dict[str, Any] | None = None
        found: list[Run] = []
        total = 0
        try:
            total = backend.count_runs(project, query.filter)
        except InvalidInput as exc:
            filter_error = _pointed(exc, query.filter, "filter")
        if filter_error is None:
            try:
                found = backend.search_runs(
                    project, query.filter, [query.sort], limit=query.per_page, offset=query.offset
                )
            except InvalidInput as exc:
                if "filter" in exc.details:  # pragma: no cover - count_runs saw it first
                    filter_error = _pointed(exc, query.filter, "filter")
                else:
                    sort_error = _pointed(exc, query.sort, "order_by")
                    found = backend.search_runs(
                        project,
                        query.filter,
                        [DEFAULT_SORT],
                        limit=query.per_page,
                        offset=query.offset,
                    )
        metric_keys = sorted({k for r in found for k in r.metrics})
        param_keys = sorted({k for r in found for k in r.params})
        tag_keys = sorted({k for r in found for k in r.tags})
        if query.columns is None:
            columns: tuple[Column, ...] = default_columns(metric_keys, param_keys)
        else:
            columns = query.columns or (Column("attributes", "name"),)
        chosen = {c.name for c in columns}
        choices = {
            "Attributes": [Column("attributes", a) for a in ATTRIBUTE_COLUMNS],
            "Metrics": _keys_of("metrics", metric_keys, columns),
            "Params": _keys_of("params", param_keys, columns),
            "Tags": _keys_of("tags", tag_keys, columns),
        }
        pages = max(1, -(-total // query.per_page))
        ui = base_url(request)
        return render(
            request,
            "runs.html",
            title=f"{project} · runs",
            project=info,
            sections=sections_of(project, ui),
            section="runs",
            runs=found,
            total=total,
            pages=pages,
            query=query,
            columns=columns,
            chosen=chosen,
            choices=choices,
            page_sizes=PAGE_SIZES,
            filter_error=filter_error,
            sort_error=sort_error,
            on_page={r.id for r in found},
            page_links=_page_links(query.page, pages),
        )

    @router.get("/compare", include_in_schema=False)
    def compare(request: Request) -> Response:
        ids = run_ids(request.query_params.getlist("runs"))
        if len(ids) < 2:
            raise InvalidInput(
                "Compare needs at least two runs: tick them in a runs table, then press Compare."
            )
        if len(ids) > MAX_COMPARE:
            raise InvalidInput(f"Compare shows at most {MAX_COMPARE} runs; pick fewer.")
        chosen = [run_or_404(backend, i) for i in ids]
        summaries = [backend.metric_summaries(r.id) for r in chosen]
        comparison = compare_runs(chosen, summaries)
        only_differences = request.query_params.get("only") == "diff"
        differing = set(comparison.differing_params)
        params = [
            (key, values, key in differing)
            for key, values in comparison.params.items()
            if key in differing or not only_differences
        ]
        return render(
            request,
            "compare.html",
            title="Compare runs",
            comparison=comparison,
            params=params,
            metrics=_metric_rows(comparison.metrics),
            only_differences=only_differences,
            runs_param="&".join(f"runs={r.id}" for r in chosen),
            differing_count=len(differing),
        )

    @router.get("/series", include_in_schema=False)
    def series(request: Request) -> Response:
        """Chart data: one metric of one or more runs, thinned to the chart's width."""
        key = request.query_params.get("key", "")
        ids = run_ids(request.query_params.getlist("runs"))
        if not key or not ids:
            raise InvalidInput("Chart data needs a metric key and at least one run id.")
        if len(ids) > MAX_COMPARE:
            raise InvalidInput(f"Chart data covers at most {MAX_COMPARE} runs.")
        buckets = clamp_buckets(request.query_params.get("width", ""))
        chosen = [run_or_404(backend, i) for i in ids]
        lines = [
            series_from_history(r.id, r.name, backend.metric_series(r.id, key), buckets)
            for r in chosen
        ]
        return JSONResponse(chart_payload(key, lines), headers=page_headers())


def _keys_of(kind: str, keys: Sequence[str], columns: Sequence[Column]) -> list[Column]:
    """Keys seen on this page plus the chosen ones (a chosen key may be absent from the page)."""
    every = dict.fromkeys(keys)
    every.update(dict.fromkeys(c.key for c in columns if c.kind == kind))
    return [Column(kind, k) for k in sorted(every)]


def _pointed(exc: InvalidInput, text: str, what: str) -> dict[str, Any]:
    """A parse error, with where it points (a 1-based column) when the parser said so."""
    column = exc.details.get("column")
    offset = exc.details.get("offset")
    return {
        "message": exc.message,
        "what": what,
        "text": text,
        "column": column if isinstance(column, int) else None,
        "offset": offset if isinstance(offset, int) and 0 <= offset <= len(text) else None,
    }


def _page_links(page: int, pages: int) -> list[int | None]:
    """Page numbers to link: the first, the last, and two either side of this one; None is a gap."""
    wanted = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    out: list[int | None] = []
    for number in wanted:
        if out and out[-1] is not None and number - out[-1] > 1:
            out.append(None)
        out.append(number)
    return out


def _metric_rows(
    metrics: dict[str, tuple[MetricSummary | None, ...]],
) -> list[tuple[str, tuple[MetricSummary | None, ...], int | None, int | None]]:
    """Each metric with the index of the run holding its lowest and highest latest value."""
    rows = []
    for key, summaries in metrics.items():
        latest = [(s.latest, i) for i, s in enumerate(summaries) if s is not None]
        finite = [(v, i) for v, i in latest if v == v]
        low = min(finite)[1] if len(finite) > 1 else None
        high = max(finite)[1] if len(finite) > 1 else None
        rows.append((key, summaries, low, high))
    return rows
