"""`loopline runs ...`: list, show, compare and delete runs."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from loopline.cli._context import settings_from
from loopline.cli._output import JsonOption, console, print_json, reports_errors

if TYPE_CHECKING:
    from loopline._client import Client

app = typer.Typer(help="List, show, compare and delete runs.", no_args_is_help=True)


def _client(ctx: typer.Context) -> Client:
    from loopline._client import Client

    return Client(settings=settings_from(ctx))


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.6g}"


@app.command("list")
@reports_errors
def list_runs(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
    filter: Annotated[str, typer.Option("--filter", "-f", help='e.g. "metrics.acc > 0.9"')] = "",
    order_by: Annotated[list[str] | None, typer.Option("--order-by", "-o")] = None,
    limit: Annotated[int, typer.Option(min=1, max=50_000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """List runs, newest first, optionally filtered and sorted."""
    with _client(ctx) as client:
        name = project or client.settings.project
        runs = client.list_runs(name, filter, order_by or (), limit)
    if as_json:
        print_json(runs)
        return
    if not runs:
        console.print(f"No runs in project {name!r}" + (" match the filter." if filter else "."))
        return
    metric_keys = sorted({k for r in runs for k in r.metrics})[:6]
    table = Table("run", "id", "status", "started (UTC)", *metric_keys, title=f"Runs in {name}")
    for r in runs:
        table.add_row(
            r.name,
            r.id[:8],
            r.status,
            r.start_time.strftime("%Y-%m-%d %H:%M:%S"),
            *(_num(r.metrics.get(k)) for k in metric_keys),
        )
    console.print(table)


@app.command("show")
@reports_errors
def show_run(ctx: typer.Context, run_id: str, as_json: JsonOption = False) -> None:
    """Show one run: params, tags, metric summaries and artifacts."""
    with _client(ctx) as client:
        run = client.get_run(run_id)
        summaries = client.metric_summaries(run_id)
        artifacts = client.list_artifacts(run_id)
    if as_json:
        print_json({"run": run, "metrics": summaries, "artifacts": artifacts})
        return
    ended = run.end_time.strftime("%Y-%m-%d %H:%M:%S") if run.end_time else "-"
    console.print(
        f"[bold]{run.name}[/] {run.id} in {run.project}: {run.status}, started "
        f"{run.start_time:%Y-%m-%d %H:%M:%S}, ended {ended} (UTC)"
    )
    if run.params:
        table = Table("param", "value")
        for k, v in run.params.items():
            table.add_row(k, v)
        console.print(table)
    if summaries:
        table = Table("metric", "latest", "step", "min", "max", "points")
        for m in summaries:
            table.add_row(
                m.key, _num(m.latest), str(m.latest_step), _num(m.min), _num(m.max), str(m.count)
            )
        console.print(table)
    if run.tags:
        console.print("tags: " + ", ".join(f"{k}={v}" for k, v in run.tags.items()))
    if artifacts:
        table = Table("artifact", "bytes", "sha256")
        for a in artifacts:
            table.add_row(a.path, f"{a.size:,}", a.digest[:12])
        console.print(table)


@app.command("compare")
@reports_errors
def compare(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids.")],
    as_json: JsonOption = False,
) -> None:
    """Compare runs: params (differences highlighted) and metric summaries side by side."""
    with _client(ctx) as client:
        result = client.compare_runs(run_ids)
    if as_json:
        print_json(
            {
                "runs": [r.id for r in result.runs],
                "params": result.params,
                "differing_params": result.differing_params,
                "metrics": result.metrics,
            }
        )
        return
    names = [f"{r.name} ({r.id[:8]})" for r in result.runs]
    differing = set(result.differing_params)
    params = Table("param", *names, title="Params (differences in bold)")
    for key, values in result.params.items():
        style = "bold yellow" if key in differing else ""
        params.add_row(Text(key, style=style), *(Text(v or "-", style=style) for v in values))
    console.print(params)
    metrics = Table("metric (latest / min / max)", *names, title="Metrics")
    for key, per_run in result.metrics.items():
        metrics.add_row(
            key,
            *(
                "-" if m is None else f"{_num(m.latest)} / {_num(m.min)} / {_num(m.max)}"
                for m in per_run
            ),
        )
    console.print(metrics)


@app.command("delete")
@reports_errors
def delete(ctx: typer.Context, run_id: str) -> None:
    """Delete a run (hidden at once; its blobs go at the next `loopline gc`)."""
    with _client(ctx) as client:
        client.delete_run(run_id)
    console.print(f"Deleted run {run_id}.")


@app.command("rerun")
@reports_errors
def rerun(
    ctx: typer.Context,
    run_id: str,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="KEY=VALUE to override; repeatable.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run a run's script again in its recorded code state, with params overridden."""
    overrides: dict[str, str] = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            from loopline.errors import InvalidInput

            raise InvalidInput(f"--param {item!r}: expected KEY=VALUE, like --param lr=0.01.")
        overrides[key] = value
    with _client(ctx) as client:
        new = client.rerun(run_id, overrides, quiet=as_json)
    if as_json:
        print_json(new)
    else:
        console.print(
            f"Rerun of {run_id}: run [bold]{new.name}[/] {new.id} ({new.status}), "
            f"params {new.params}."
        )
