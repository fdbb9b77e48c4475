"""Pages of pipelines: a project's templates, a template (versions and its launch form), its
runs over time with their metrics side by side, and a pipeline run (its DAG, live, with the
operations on it: stop, retry, copy, delete).

Every choice on a page (the version, the run to copy, the step picked, the chart's metric) is in
the query string; the operations are POST forms that answer with a redirect to the page to see
next, or the page again with what went wrong written next to the field that caused it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode

import numpy as np
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from loopline.errors import Conflict, InvalidInput, NotFound
from loopline.pipelines import InvalidParameter, PipelineRunRecord, TemplateRecord
from loopline.ui._pages import sections_of
from loopline.ui._pipeline_views import (
    RUN_STATUSES,
    TEMPLATE_TAG,
    dag_view,
    form_fields,
    inputs_of,
    run_rows,
    submitted_params,
    varying_params,
)
from loopline.ui._query import run_ids
from loopline.ui._render import base_url, page_headers, render
from loopline.ui._series import Series, chart_payload

if TYPE_CHECKING:
    from loopline.backends import Backend
    from loopline.tracking import Run

__all__ = ["add_pipeline_routes"]

LAST_CHOICES = (25, 50, 100, 200, 500, 1000)
DEFAULT_LAST = 100
MAX_METRIC_COLUMNS = 20
MAX_PARAM_COLUMNS = 6
RECENT_RUNS = 20
POLL_SECONDS = 2
_MAX_VERSION = 10**9  # past any real version; keeps a typed number a small integer


def add_pipeline_routes(router: APIRouter, backend: Backend) -> None:
    """The pipelines pages and the operations their buttons post."""

    def project_page(
        request: Request, project: str, page: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        return render(
            request,
            page,
            status,
            project_name=project,
            sections=sections_of(project, base_url(request)),
            section="pipelines",
            **context,
        )

    def template_tabs(request: Request, record: TemplateRecord) -> list[tuple[str, str, str]]:
        base = _template_url(base_url(request), record.project, record.name)
        return [("launch", "Launch", base), ("runs", "Runs", f"{base}/runs")]

    @router.get("/projects/{project}/pipelines", include_in_schema=False)
    def pipelines(request: Request, project: str) -> Response:
        backend.get_project(project)
        templates = backend.list_pipeline_templates(project)
        recent = backend.list_pipeline_runs(project, limit=RECENT_RUNS)
        last: dict[str, PipelineRunRecord] = {}
        for template in templates:
            found = next((r for r in recent if r.pipeline == template.name), None)
            if found is None:
                runs = backend.list_pipeline_runs(project, template.name, limit=1)
                found = runs[0] if runs else None
            if found is not None:
                last[template.name] = found
        return project_page(
            request,
            project,
            "pipelines.html",
            title=f"{project} · pipelines",
            templates=templates,
            last=last,
            recent=recent,
        )

    def template_page(
        request: Request,
        project: str,
        name: str,
        *,
        version: int | str,
        values: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        form_error: str | None = None,
        submitted: bool = False,
        copy_of: PipelineRunRecord | None = None,
        notice: str | None = None,
        status: int = 200,
        where: dict[str, str] | None = None,
        where_errors: dict[str, str] | None = None,
    ) -> HTMLResponse:
        record = backend.get_pipeline_template(project, name, version)
        versions = backend.pipeline_template_versions(project, name)
        queues = [q.name for q in backend.list_queues()]
        if "default" not in queues:  # made on first use
            queues.insert(0, "default")
        return project_page(
            request,
            project,
            "pipeline.html",
            status,
            title=f"{name} · {project}",
            tpl=record,
            latest=versions[0] if versions else record,
            versions=versions,
            fields=form_fields(record.params, values, errors, submitted=submitted),
            form_error=form_error,
            copy_of=copy_of,
            notice=notice,
            tab="launch",
            tabs=template_tabs(request, record),
            steps=len(record.dag.get("steps", [])),
            queues=queues,
            where={"executor": "local", "queue": "default", **(where or {})},
            where_errors=where_errors or {},
        )

    @router.get("/projects/{project}/pipelines/{name}", include_in_schema=False)
    def template(request: Request, project: str, name: str) -> Response:
        version = _version(request.query_params.get("v"))
        copy_of = None
        values = None
        notice = None
        wanted = request.query_params.get("copy")
        if wanted is not None:
            ids = run_ids([wanted])
            try:
                if not ids:
                    raise NotFound(f"There is no pipeline run {wanted[:40]!r} to copy.")
                copy_of = backend.get_pipeline_run(ids[0])
                if copy_of.pipeline != name or copy_of.project != project:
                    raise NotFound(f"Run {copy_of.id} is not a run of {name!r}.")
                values = copy_of.params
            except NotFound as exc:
                copy_of, notice = None, f"{exc.message} The form shows the defaults."
        return template_page(
            request, project, name, version=version, values=values, copy_of=copy_of, notice=notice
        )

    @router.post("/projects/{project}/pipelines/{name}/launch", include_in_schema=False)
    async def launch(request: Request, project: str, name: str) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), True))
        version = _version(form.get("version"))

        def attempt() -> Response:
            record = backend.get_pipeline_template(project, name, version)
            params = submitted_params(form, record.params)
            # Where it runs: here (a driver process) or on a queue, for agents.
            where = {"executor": form.get("executor") or "local"}
            if where["executor"] != "local":
                where["queue"] = form.get("queue") or "default"
            try:
                run = backend.launch_pipeline_template(
                    project,
                    name,
                    params,
                    record.version,
                    executor=where["executor"],
                    queue=where.get("queue"),
                )
            except InvalidParameter as exc:
                field = exc.details.get("field")
                known = {str(p.get("name")) for p in record.params}
                inline = {str(field): exc.message} if field in known else {}
                return template_page(
                    request,
                    project,
                    name,
                    version=record.version,
                    values=params,
                    errors=inline,
                    form_error=None if inline else exc.message,
                    submitted=True,
                    status=422,
                    where=where,
                )
            except (InvalidInput, Conflict) as exc:
                field = str(exc.details.get("field"))
                beside = {field: exc.message} if field in ("executor", "queue") else {}
                return template_page(
                    request,
                    project,
                    name,
                    version=record.version,
                    values=params,
                    form_error=None if beside else exc.message,
                    submitted=True,
                    status=422 if isinstance(exc, InvalidInput) else 409,
                    where=where,
                    where_errors=beside,
                )
            return RedirectResponse(f"{base_url(request)}/pipeline-runs/{run.id}", 303)

        return await run_in_threadpool(attempt)

    def runs_choice(request: Request) -> tuple[str | None, int]:
        status = request.query_params.get("status") or None
        if status not in RUN_STATUSES:
            status = None
        last = _whole(request.query_params.get("last"), DEFAULT_LAST)
        return status, last if last in LAST_CHOICES else DEFAULT_LAST

    @router.get("/projects/{project}/pipelines/{name}/runs", include_in_schema=False)
    def template_runs(request: Request, project: str, name: str) -> Response:
        latest = backend.get_pipeline_template(project, name)
        status, last = runs_choice(request)
        records = backend.list_pipeline_runs(project, name, status=status, limit=last)
        rows = run_rows(backend, project, records)
        every = sorted({k for row in rows for k in row.metrics})
        metric_keys = every[:MAX_METRIC_COLUMNS]
        metric = request.query_params.get("metric", "")
        if metric not in every:
            metric = next((k for k in every if k.rsplit(".", 1)[-1] in _FAVOURITES), "")
            metric = metric or (every[0] if every else "")
        best: dict[str, tuple[str | None, str | None]] = {}
        for key in metric_keys:
            values = [(r.metrics[key], r.id) for r in rows if _finite(r.metrics.get(key))]
            if len(values) > 1:
                best[key] = (min(values)[1], max(values)[1])
        choice = {"status": status or "", "last": "" if last == DEFAULT_LAST else str(last)}
        base = _template_url(base_url(request), project, name)
        return project_page(
            request,
            project,
            "pipeline_runs.html",
            title=f"{name} runs · {project}",
            tpl=latest,
            latest=latest,
            tab="runs",
            tabs=template_tabs(request, latest),
            rows=rows,
            metric_keys=metric_keys,
            hidden_metrics=len(every) - len(metric_keys),
            param_keys=varying_params(records)[:MAX_PARAM_COLUMNS],
            metric=metric,
            best=best,
            status_filter=status,
            last=last,
            statuses=RUN_STATUSES,
            last_choices=LAST_CHOICES,
            series_url=f"{base}/series?" + urlencode({"metric": metric, **choice}),
            query=lambda **change: urlencode(
                {k: v for k, v in {**choice, "metric": metric, **change}.items() if v}
            ),
        )

    @router.get("/projects/{project}/pipelines/{name}/series", include_in_schema=False)
    def template_series(request: Request, project: str, name: str) -> Response:
        """Chart data: one step metric across the template's runs, oldest first (x: run #)."""
        backend.get_pipeline_template(project, name)
        metric = request.query_params.get("metric", "")
        if not metric:
            raise InvalidInput("Chart data needs a metric, such as evaluate.acc.")
        status, last = runs_choice(request)
        records = backend.list_pipeline_runs(project, name, status=status, limit=last)
        rows = list(reversed(run_rows(backend, project, records)))
        values = np.array([r.metrics.get(metric, math.nan) for r in rows], dtype=np.float64)
        values[~np.isfinite(values)] = np.nan
        steps = np.array([r.number for r in rows], dtype=np.int64)
        line = Series("", metric, steps, values, len(rows))
        return JSONResponse(chart_payload(metric, [line]), headers=page_headers())

    # -- a pipeline run -------------------------------------------------------------------------

    def run_context(request: Request, record: PipelineRunRecord) -> dict[str, Any]:
        ui = base_url(request)
        tracked: Run | None = _maybe(backend, record.id)
        template_tag = tracked.tags.get(TEMPLATE_TAG, "") if tracked is not None else ""
        template_name, _, template_version = template_tag.rpartition(":")
        picked = request.query_params.get("step")
        step = next((s for s in record.steps if s.name == picked), None)
        step_run = _maybe(backend, step.run_id) if step is not None else None
        source = _maybe(backend, step.source_run) if step is not None else None
        unfinished = [s.name for s in record.steps if s.status not in _DONE]
        return {
            "record": record,
            "dag": dag_view(record),
            "template_name": template_name,
            "template_version": template_version,
            "template_url": _template_url(ui, record.project, template_name)
            if template_name
            else "",
            "step": step,
            "step_unknown": picked is not None and step is None,
            "picked": picked if step is not None else None,
            "step_run": step_run,
            "source": source,
            "step_inputs": inputs_of(record, step.name) if step is not None else [],
            "can_retry": bool(template_name) and record.status != "running" and bool(unfinished),
            "unfinished": unfinished,
            "run_url": f"{ui}/pipeline-runs/{record.id}",
            "poll": POLL_SECONDS,
        }

    def run_page(
        request: Request, record: PipelineRunRecord, status: int = 200, notice: str | None = None
    ) -> HTMLResponse:
        return project_page(
            request,
            record.project,
            "pipeline_run.html",
            status,
            title=f"{record.pipeline} run · {record.project}",
            notice=notice,
            **run_context(request, record),
        )

    @router.get("/pipeline-runs/{run_id}", include_in_schema=False)
    def pipeline_run(request: Request, run_id: str) -> Response:
        return run_page(request, _record_or_404(backend, run_id))

    @router.get("/pipeline-runs/{run_id}/live", include_in_schema=False)
    def pipeline_run_live(request: Request, run_id: str) -> Response:
        """The live part of the run page (state, DAG, steps, the picked step): what the page
        polls for while the run goes on; it stops polling once the run has ended."""
        record = _record_or_404(backend, run_id)
        return render(
            request,
            "_pipeline_run_live.html",
            notice=None,
            project_name=record.project,
            **run_context(request, record),
        )

    def operation(request: Request, run_id: str, act: Any) -> Response:
        record = _record_or_404(backend, run_id)
        try:
            target = act(record)
        except (Conflict, InvalidInput) as exc:
            status = 409 if isinstance(exc, Conflict) else 422
            return run_page(request, backend.get_pipeline_run(record.id), status, exc.message)
        return RedirectResponse(target, 303)

    @router.post("/pipeline-runs/{run_id}/stop", include_in_schema=False)
    async def stop(request: Request, run_id: str) -> Response:
        ui = base_url(request)

        def act(record: PipelineRunRecord) -> str:
            backend.stop_pipeline_run(record.id)
            return f"{ui}/pipeline-runs/{record.id}"

        return await run_in_threadpool(operation, request, run_id, act)

    @router.post("/pipeline-runs/{run_id}/retry", include_in_schema=False)
    async def retry(request: Request, run_id: str) -> Response:
        ui = base_url(request)

        def act(record: PipelineRunRecord) -> str:
            tracked = _maybe(backend, record.id)
            tag = tracked.tags.get(TEMPLATE_TAG, "") if tracked is not None else ""
            name, _, version = tag.rpartition(":")
            if not name:
                raise InvalidInput(
                    "This run was not launched from a published template, so the UI cannot "
                    "start it again: retry it from Python with ll.pipelines.retry_run(run_id)."
                )
            again = backend.launch_pipeline_template(
                record.project, name, {}, version, retry_of=record.id
            )
            return f"{ui}/pipeline-runs/{again.id}"

        return await run_in_threadpool(operation, request, run_id, act)

    @router.post("/pipeline-runs/{run_id}/delete", include_in_schema=False)
    async def delete(request: Request, run_id: str) -> Response:
        ui = base_url(request)

        def act(record: PipelineRunRecord) -> str:
            backend.delete_pipeline_run(record.id)
            return f"{ui}/projects/{quote(record.project)}/pipelines"

        return await run_in_threadpool(operation, request, run_id, act)


_DONE = frozenset({"succeeded", "cached", "reused", "skipped"})
_FAVOURITES = ("acc", "accuracy", "f1", "auc", "score", "loss")


def _template_url(ui: str, project: str, name: str) -> str:
    return f"{ui}/projects/{quote(project, safe='')}/pipelines/{quote(name, safe='')}"


def _record_or_404(backend: Backend, run_id: str) -> PipelineRunRecord:
    ids = run_ids([run_id])
    if not ids or ids[0] != run_id:
        shown = run_id if len(run_id) <= 40 else run_id[:37] + "..."
        raise NotFound(
            f"There is no pipeline run {shown!r}: run ids are 32 hexadecimal characters."
        )
    return backend.get_pipeline_run(run_id)


def _maybe(backend: Backend, run_id: str | None) -> Run | None:
    if run_id is None:
        return None
    try:
        return backend.get_run(run_id)
    except NotFound:
        return None  # deleted since: the page shows the id alone


def _version(text: str | None) -> int | str:
    """A template version from the query string or a form: a number, else the latest."""
    if (
        text
        and text.isascii()
        and text.isdigit()
        and len(text) <= 9
        and 0 < int(text) < _MAX_VERSION
    ):
        return int(text)
    if text and text.strip().lower() not in ("", "latest"):
        raise NotFound(f"There is no template version {text[:40]!r}: versions are numbers.")
    return "latest"


def _whole(value: object, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
