"""`loopline monitor ...`: list monitors, run them once now, pause, resume, delete; alerts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from loopline.backends import open_backend
from loopline.cli._context import settings_from
from loopline.cli._output import JsonOption, console, print_json, reports_errors

if TYPE_CHECKING:
    from loopline.monitoring import MonitorRunRecord

app = typer.Typer(
    help="Monitors of endpoints (drift, live quality, latency) and their alerts.",
    no_args_is_help=True,
)

ProjectOption = Annotated[
    str | None, typer.Option("--project", "-p", help="default: LOOPLINE_PROJECT")
]


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else "-"


@app.command("list")
@reports_errors
def list_monitors(
    ctx: typer.Context, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """List the monitors of a project: schedule, last run, status, open alerts."""
    settings = settings_from(ctx)
    backend = open_backend(settings)
    try:
        monitors = backend.list_monitors(project or settings.project)
    finally:
        backend.close()
    if as_json:
        print_json(monitors)
        return
    if not monitors:
        console.print("No monitors yet. Make one with ll.monitor(endpoint, schedule=...).")
        return
    table = Table("name", "endpoint", "schedule", "last run (UTC)", "status", "open alerts")
    for m in monitors:
        schedule = m.schedule if m.enabled else f"{m.schedule} (paused)"
        table.add_row(m.name, m.endpoint, schedule, _when(m.last_run_at), m.status,
                      str(m.open_alerts))  # fmt: skip
    console.print(table)


@app.command("run")
@reports_errors
def run(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="The monitor to run.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Run every enabled monitor.")] = False,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a monitor (or --all) once now, over the window since its previous run."""
    from loopline.errors import InvalidInput

    if (name is None) == (not every):
        raise InvalidInput("Name one monitor, or give --all (not both).")
    settings = settings_from(ctx)
    where = project or settings.project
    backend = open_backend(settings)
    try:
        names = [name] if name else [m.name for m in backend.list_monitors(where) if m.enabled]
        runs = [backend.run_monitor(where, n) for n in names]
    finally:
        backend.close()
    if as_json:
        print_json(runs)
        return
    for r in runs:
        _print_run(r)


def _print_run(run: MonitorRunRecord) -> None:
    console.print(
        f"[bold]{run.monitor}[/] {_when(run.window_start)} to {_when(run.window_end)}: "
        f"{run.status}" + (f", {len(run.alerts)} alert change(s)" if run.alerts else "")
    )
    for check, why in run.errors.items():
        console.print(f"  [red]{check} failed[/]: {why}")
    table = Table("check", "metric", "model version", "value", "status", "note")
    for r in run.results:
        version = f"{r.model} v{r.version}" if r.model else "-"
        value = "-" if r.value is None else f"{r.value:.4g}"
        table.add_row(r.check, r.metric, version, value, r.status, r.message[:80])
    console.print(table)


@app.command("pause")
@reports_errors
def pause(ctx: typer.Context, name: str, project: ProjectOption = None) -> None:
    """Pause a monitor (the scheduler skips it)."""
    _set_enabled(ctx, name, project, False)


@app.command("resume")
@reports_errors
def resume(ctx: typer.Context, name: str, project: ProjectOption = None) -> None:
    """Resume a paused monitor (from its next scheduled time)."""
    _set_enabled(ctx, name, project, True)


def _set_enabled(ctx: typer.Context, name: str, project: str | None, enabled: bool) -> None:
    settings = settings_from(ctx)
    backend = open_backend(settings)
    try:
        backend.set_monitor_enabled(project or settings.project, name, enabled)
    finally:
        backend.close()
    console.print(f"Monitor [bold]{name}[/] {'resumed' if enabled else 'paused'}.")


@app.command("delete")
@reports_errors
def delete(ctx: typer.Context, name: str, project: ProjectOption = None) -> None:
    """Delete a monitor with its results and alerts."""
    settings = settings_from(ctx)
    backend = open_backend(settings)
    try:
        backend.delete_monitor(project or settings.project, name)
    finally:
        backend.close()
    console.print(f"Deleted monitor [bold]{name}[/].")


@app.command("alerts")
@reports_errors
def alerts(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option(help="firing or resolved")] = None,
    monitor: Annotated[str | None, typer.Option(help="only this monitor's")] = None,
    limit: int = 100,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """List alerts, oldest first."""
    settings = settings_from(ctx)
    backend = open_backend(settings)
    try:
        found = backend.list_alerts(
            project or settings.project, state=state, monitor=monitor, limit=limit
        )
    finally:
        backend.close()
    if as_json:
        print_json(found)
        return
    table = Table("fired (UTC)", "state", "monitor", "rule", "value", "message")
    for a in found:
        table.add_row(_when(a.fired_at), a.state, a.monitor, a.rule, f"{a.value:.4g}", a.message)
    console.print(table)
