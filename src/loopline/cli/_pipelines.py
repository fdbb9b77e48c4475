"""`loopline pipelines ...`: runs (list, show, stop, retry, copy, delete) and templates (list,
versions, publish, launch, export, import)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from loopline.cli._context import settings_from
from loopline.cli._output import JsonOption, console, print_json, reports_errors
from loopline.errors import InvalidInput

if TYPE_CHECKING:
    from loopline._client import Client
    from loopline.pipelines import PipelineRunRecord

app = typer.Typer(help="Pipeline runs and published templates.", no_args_is_help=True)

ProjectOption = Annotated[str | None, typer.Option("--project", help="Default: LOOPLINE_PROJECT.")]
ParamOption = Annotated[
    list[str] | None, typer.Option("--param", "-p", help="A parameter: -p lr=0.1 (repeatable).")
]


def _client(ctx: typer.Context) -> Client:
    from loopline._client import Client

    return Client(settings=settings_from(ctx))


def _params(pairs: list[str] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"A parameter is name=value, not {pair!r}.")
        params[key.strip()] = value
    return params


def _show(record: PipelineRunRecord) -> None:
    console.print(
        f"[bold]{record.pipeline}[/] run {record.id}: {record.status} "
        f"(params {json.dumps(record.params, sort_keys=True)})"
    )
    table = Table("step", "status", "attempt", "seconds", "source run", "error")
    for step in record.steps:
        seconds = (
            f"{(step.ended_at - step.started_at).total_seconds():.2f}"
            if step.started_at and step.ended_at
            else "-"
        )
        error = (step.error or "").strip().splitlines()[-1:] or [""]
        table.add_row(
            step.name,
            step.status,
            str(step.attempt),
            seconds,
            (step.source_run or "")[:8],
            error[0][:80],
        )
    console.print(table)


def _done(record: PipelineRunRecord, as_json: bool) -> None:
    if as_json:
        print_json(record)
    else:
        _show(record)
    if record.status not in ("succeeded", "running"):
        raise typer.Exit(1)


@app.command("runs")
@reports_errors
def list_runs(
    ctx: typer.Context,
    pipeline: Annotated[str | None, typer.Argument(help="Only runs of this pipeline.")] = None,
    project: ProjectOption = None,
    status: Annotated[str | None, typer.Option(help="running|succeeded|failed|stopped")] = None,
    param: ParamOption = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """List pipeline runs, newest first, filtered by status and parameter values."""
    with _client(ctx) as client:
        name = project or client.settings.project
        runs = client._backend.list_pipeline_runs(name, pipeline, status, limit, _params(param))
    if as_json:
        print_json(runs)
        return
    table = Table("pipeline", "id", "status", "started (UTC)", "params", title=f"Runs in {name}")
    for r in runs:
        table.add_row(
            r.pipeline,
            r.id,
            r.status,
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            json.dumps(r.params, sort_keys=True)[:60],
        )
    console.print(table)


@app.command("show")
@reports_errors
def show_run(ctx: typer.Context, run_id: str, as_json: JsonOption = False) -> None:
    """Show a pipeline run: each step's status, attempts, time, cache source and error."""
    with _client(ctx) as client:
        record = client._backend.get_pipeline_run(run_id)
    if as_json:
        print_json(record)
    else:
        _show(record)


@app.command("stop")
@reports_errors
def stop_run(ctx: typer.Context, run_id: str, as_json: JsonOption = False) -> None:
    """Stop a running pipeline run (its steps get SIGTERM, then SIGKILL after a grace period)."""
    with _client(ctx) as client:
        record = client._backend.stop_pipeline_run(run_id)
    if as_json:
        print_json(record)
    else:
        console.print(f"Pipeline run {run_id} stopped.")


@app.command("retry")
@reports_errors
def retry_run(ctx: typer.Context, run_id: str, as_json: JsonOption = False) -> None:
    """Run again the failed, stopped and unstarted steps of a run, reusing the others."""
    from loopline.pipelines._templates import retry_run as retry

    with _client(ctx) as client:
        record = retry(run_id, client=client)
    _done(record, as_json)


@app.command("copy")
@reports_errors
def copy_run(
    ctx: typer.Context, run_id: str, param: ParamOption = None, as_json: JsonOption = False
) -> None:
    """Start a new run with a run's parameters, changed by -p name=value."""
    from loopline.pipelines._templates import copy_run as copy

    with _client(ctx) as client:
        record = copy(run_id, _params(param), client=client)
    _done(record, as_json)


@app.command("delete")
@reports_errors
def delete_run(ctx: typer.Context, run_id: str) -> None:
    """Delete a pipeline run's records (its blobs stay until `loopline gc`)."""
    with _client(ctx) as client:
        client._backend.delete_pipeline_run(run_id)
    console.print(f"Pipeline run {run_id} deleted.")


@app.command("list")
@reports_errors
def list_templates(
    ctx: typer.Context, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """List published templates (their newest versions)."""
    with _client(ctx) as client:
        name = project or client.settings.project
        templates = client._backend.list_pipeline_templates(name)
    if as_json:
        print_json(templates)
        return
    table = Table("template", "version", "parameters", "description", title=f"Templates in {name}")
    for t in templates:
        params = ", ".join(f"{p['name']}: {p['type']}" for p in t.params)
        table.add_row(t.name, str(t.version), params, t.description[:60])
    console.print(table)


@app.command("versions")
@reports_errors
def template_versions(
    ctx: typer.Context, name: str, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """List the versions of a template, newest first."""
    with _client(ctx) as client:
        versions = client._backend.pipeline_template_versions(
            project or client.settings.project, name
        )
    if as_json:
        print_json(versions)
        return
    table = Table("version", "published (UTC)", "by", "steps", "description")
    for t in versions:
        when = t.created_at.strftime("%Y-%m-%d %H:%M:%S") if t.created_at else "-"
        table.add_row(str(t.version), when, t.created_by, str(len(t.dag["steps"])), t.description)
    console.print(table)


@app.command("publish")
@reports_errors
def publish(
    ctx: typer.Context,
    pipeline: Annotated[
        str, typer.Argument(help="module:attribute of the pipeline, e.g. flows:training")
    ],
    name: Annotated[
        str | None, typer.Option(help="Template name (default: the pipeline's).")
    ] = None,
    description: str = "",
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Publish a pipeline of the current folder as a new template version."""
    import sys
    from importlib import import_module

    from loopline.pipelines import Pipeline

    module, sep, attr = pipeline.partition(":")
    if not sep:
        raise InvalidInput(f"Name the pipeline as module:attribute, not {pipeline!r}.")
    sys.path.insert(0, str(Path.cwd()))
    found: Any = getattr(import_module(module), attr, None)
    if not isinstance(found, Pipeline):
        raise InvalidInput(f"{pipeline} is not an @ll.pipeline.")
    with _client(ctx) as client:
        record = found.publish(name, description=description, client=client, project=project)
    if as_json:
        print_json(record)
    else:
        console.print(f"Published {record.name} version {record.version}.")


@app.command("launch")
@reports_errors
def launch(
    ctx: typer.Context,
    name: str,
    param: ParamOption = None,
    version: Annotated[str, typer.Option(help="A version number, or latest.")] = "latest",
    project: ProjectOption = None,
    wait: Annotated[bool, typer.Option(help="Wait for the run to end.")] = True,
    executor: Annotated[
        str, typer.Option(help="local (a process here or on the server) or queue (agents).")
    ] = "local",
    queue: Annotated[
        str | None, typer.Option(help="The queue of the run with --executor queue.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Launch a published template: loopline pipelines launch NAME -p lr=0.1
    (--executor queue --queue gpu: agents run it)."""
    from loopline.pipelines._templates import launch as run_template

    with _client(ctx) as client:
        record = run_template(
            name,
            _params(param),
            version,
            project=project,
            client=client,
            wait=wait,
            executor=executor,
            queue=queue,
        )
    _done(record, as_json)


@app.command("export")
@reports_errors
def export(
    ctx: typer.Context,
    name: str,
    output: Annotated[Path, typer.Option("--output", "-o", help="The file to write.")],
    version: str = "latest",
    project: ProjectOption = None,
) -> None:
    """Export one template version (code snapshot included) to a single JSON file."""
    from loopline.pipelines._templates import export_template

    with _client(ctx) as client:
        store = client._backend
        template = store.get_pipeline_template(project or client.settings.project, name, version)
        document = export_template(template, store.get_blob(template.code))
    output.write_text(json.dumps(document, indent=1), encoding="utf-8")
    console.print(f"Exported {template.name} version {template.version} to {output}.")


@app.command("import")
@reports_errors
def import_(
    ctx: typer.Context,
    path: Path,
    name: Annotated[
        str | None, typer.Option(help="Template name (default: the exported one).")
    ] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import a template exported with `loopline pipelines export` (as a new version)."""
    from loopline.pipelines._templates import import_template

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"Cannot read {path} as an exported template: {exc}.") from exc
    fields, code = import_template(document)
    with _client(ctx) as client:
        store = client._backend
        blob = store.put_blob(code)
        record = store.publish_pipeline_template(
            project or client.settings.project,
            name or fields["name"],
            dag=fields["dag"],
            code=blob.digest,
            entry=fields["entry"],
            description=fields["description"],
            requirements=fields["requirements"],
        )
    if as_json:
        print_json(record)
    else:
        console.print(f"Imported {record.name} as version {record.version}.")


# -- schedules ----------------------------------------------------------------------------------

schedule_app = typer.Typer(
    help="Run published templates on a cron expression (the server's scheduler launches them).",
    no_args_is_help=True,
)
app.add_typer(schedule_app, name="schedule")


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M %Z") if value is not None else "-"


@schedule_app.command("add")
@reports_errors
def schedule_add(
    ctx: typer.Context,
    template: str,
    cron: Annotated[str, typer.Argument(help="Five fields, e.g. '30 2 * * 1-5', or @daily.")],
    param: ParamOption = None,
    version: Annotated[str, typer.Option(help="A version number, or latest.")] = "latest",
    timezone: Annotated[str, typer.Option(help="IANA time zone the cron is read in.")] = "UTC",
    paused: Annotated[bool, typer.Option(help="Create it paused.")] = False,
    webhook: Annotated[
        list[str] | None, typer.Option(help="A URL told when its runs end (repeatable).")
    ] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Schedule a template: loopline pipelines schedule add NAME '0 3 * * *' -p lr=0.1."""
    from loopline.pipelines._notify import webhook as make_webhook

    with _client(ctx) as client:
        record = client._backend.create_pipeline_schedule(
            project or client.settings.project,
            template,
            cron,
            params=dict(_params(param)),
            version=version,
            timezone=timezone,
            enabled=not paused,
            notify=[make_webhook(url) for url in webhook or ()],
        )
    if as_json:
        print_json(record)
    else:
        console.print(
            f"Schedule {record.id}: {record.template} at '{record.cron}' ({record.timezone}); "
            f"next firing {_when(record.next_fire_at)}."
        )


@schedule_app.command("list")
@reports_errors
def schedule_list(
    ctx: typer.Context,
    template: Annotated[str | None, typer.Argument(help="Only this template's.")] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the schedules of a project with their next firing."""
    with _client(ctx) as client:
        name = project or client.settings.project
        schedules = client._backend.list_pipeline_schedules(name, template)
    if as_json:
        print_json(schedules)
        return
    table = Table(
        "id",
        "template",
        "version",
        "cron",
        "time zone",
        "state",
        "next (UTC)",
        "params",
        title=f"Schedules in {name}",
    )
    for s in schedules:
        table.add_row(
            s.id,
            s.template,
            s.version,
            s.cron,
            s.timezone,
            "active" if s.enabled else "paused",
            _when(s.next_fire_at),
            json.dumps(s.params, sort_keys=True)[:40],
        )
    console.print(table)


def _set_enabled(ctx: typer.Context, schedule_id: str, enabled: bool, as_json: bool) -> None:
    with _client(ctx) as client:
        record = client._backend.set_pipeline_schedule_enabled(schedule_id, enabled)
    if as_json:
        print_json(record)
    else:
        state = f"resumed; next firing {_when(record.next_fire_at)}" if enabled else "paused"
        console.print(f"Schedule {record.id} {state}.")


@schedule_app.command("pause")
@reports_errors
def schedule_pause(ctx: typer.Context, schedule_id: str, as_json: JsonOption = False) -> None:
    """Pause a schedule (it fires no more until resumed)."""
    _set_enabled(ctx, schedule_id, False, as_json)


@schedule_app.command("resume")
@reports_errors
def schedule_resume(ctx: typer.Context, schedule_id: str, as_json: JsonOption = False) -> None:
    """Resume a schedule from now (paused time is not made up for)."""
    _set_enabled(ctx, schedule_id, True, as_json)


@schedule_app.command("delete")
@reports_errors
def schedule_delete(ctx: typer.Context, schedule_id: str) -> None:
    """Delete a schedule and its firing history (the runs it launched stay)."""
    with _client(ctx) as client:
        client._backend.delete_pipeline_schedule(schedule_id)
    console.print(f"Schedule {schedule_id} deleted.")


@schedule_app.command("next")
@reports_errors
def schedule_next(
    ctx: typer.Context,
    schedule_id: Annotated[str | None, typer.Argument(help="A schedule's id.")] = None,
    cron: Annotated[str | None, typer.Option(help="Or try a cron expression.")] = None,
    timezone: Annotated[str, typer.Option(help="The time zone of --cron.")] = "UTC",
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=1000)] = 5,
    as_json: JsonOption = False,
) -> None:
    """Show the next firing times of a schedule (or of --cron in --timezone)."""
    from loopline.db import utcnow
    from loopline.pipelines._schedules import check_timezone, next_firings

    if (schedule_id is None) == (cron is None):
        raise InvalidInput("Give a schedule id, or --cron (with --timezone), not both.")
    if schedule_id is not None:
        with _client(ctx) as client:
            record = client._backend.get_pipeline_schedule(schedule_id)
        cron, timezone = record.cron, record.timezone
    assert cron is not None
    times = next_firings(cron, timezone, utcnow(), count)
    if as_json:
        print_json([t.isoformat() for t in times])
        return
    zone = check_timezone(timezone)
    table = Table("UTC", f"{timezone}", title=f"Next firings of '{cron}'")
    for t in times:
        table.add_row(_when(t), _when(t.astimezone(zone)))
    console.print(table)


@schedule_app.command("firings")
@reports_errors
def schedule_firings(
    ctx: typer.Context,
    schedule_id: str,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    as_json: JsonOption = False,
) -> None:
    """Show a schedule's firings, newest first: when, the run launched, or why none."""
    with _client(ctx) as client:
        firings = client._backend.pipeline_schedule_firings(schedule_id, limit)
    if as_json:
        print_json(firings)
        return
    table = Table("due (UTC)", "fired (UTC)", "run", "missed", "error")
    for f in firings:
        table.add_row(
            _when(f.fire_at), _when(f.fired_at), f.run_id or "-", str(f.missed), f.error or ""
        )
    console.print(table)
