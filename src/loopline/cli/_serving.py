"""`loopline serve`, `loopline predict` and `loopline endpoints ...` (deploy, apply, rollback)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from loopline.cli._context import settings_from
from loopline.cli._output import JsonOption, console, print_json, reports_errors

if TYPE_CHECKING:
    from loopline._endpoints import Endpoints
    from loopline.serving import Endpoint, Revision

app = typer.Typer(
    help="Serving endpoints: routes (canary, A/B, shadow), revisions, rollbacks.",
    no_args_is_help=True,
)

ProjectOption = Annotated[
    str | None, typer.Option("--project", "-p", help="default: LOOPLINE_PROJECT")
]
RouteOption = Annotated[
    list[str] | None,
    typer.Option(
        "--route",
        "-r",
        help="MODEL_URI[=WEIGHT] (weights add up to 100), or MODEL_URI=shadow; repeatable.",
    ),
]


def _endpoints(ctx: typer.Context) -> Endpoints:
    from loopline._client import Client
    from loopline._endpoints import Endpoints

    return Endpoints(Client(settings=settings_from(ctx)))


def _routes(values: list[str]) -> list[object]:
    from loopline.errors import InvalidInput
    from loopline.serving import Route

    routes: list[object] = []
    for value in values:
        uri, sep, rest = value.rpartition("=") if "=" in value else (value, "", "")
        if not sep:
            routes.append(Route(value))
        elif rest == "shadow":
            routes.append(Route(uri, shadow=True))
        else:
            try:
                weight = int(rest)
            except ValueError:
                raise InvalidInput(
                    f"--route {value!r}: after '=' comes a weight (0-100) or 'shadow'."
                ) from None
            routes.append(Route(uri, weight=weight))
    return routes


def _show(endpoint: Endpoint) -> None:
    target = endpoint.target
    table = Table("model", "version", "weight", "shadow", title=f"{endpoint.name}")
    for r in target.spec.routes:
        table.add_row(r.name, str(r.version), str(r.weight), "yes" if r.shadow else "")
    console.print(table)
    newest = endpoint.revision
    line = f"serving revision {target.number} ({target.status})"
    if newest.number != target.number:
        line += f"; revision {newest.number} {newest.status}: {newest.error or newest.message}"
    console.print(line)


@app.command("list")
@reports_errors
def list_endpoints(
    ctx: typer.Context, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """List the endpoints of a project."""
    eps = _endpoints(ctx)
    with eps.client:
        found = eps.list(project)
    if as_json:
        print_json(found)
        return
    if not found:
        console.print("No endpoints yet. Make one: loopline endpoints deploy NAME -r models:/m/1")
        return
    table = Table("endpoint", "revision", "status", "routes")
    for e in found:
        routes = ", ".join(
            f"{r.name}/{r.version}" + (" (shadow)" if r.shadow else f" {r.weight}%")
            for r in e.target.spec.routes
        )
        table.add_row(e.name, str(e.target.number), e.revision.status, routes)
    console.print(table)


@app.command("show")
@reports_errors
def show_endpoint(
    ctx: typer.Context,
    name: str,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show an endpoint: what it serves and its newest revision."""
    eps = _endpoints(ctx)
    with eps.client:
        endpoint = eps.get(name, project=project)
    if as_json:
        print_json(endpoint)
    else:
        _show(endpoint)


@app.command("deploy")
@reports_errors
def deploy(
    ctx: typer.Context,
    name: str,
    route: RouteOption = None,
    sticky: Annotated[
        str | None, typer.Option(help="header:<name> or field:<name> for sticky A/B")
    ] = None,
    sample_rate: Annotated[float, typer.Option(help="fraction of predictions logged")] = 1.0,
    message: Annotated[
        str, typer.Option("--message", "-m", help="why (kept in the revision)")
    ] = "",
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an endpoint, or move it to new routes (a new revision).

    Example: loopline endpoints deploy digits -r models:/digits/3=90 -r models:/digits/4=10
    """
    from loopline.errors import InvalidInput

    if not route:
        raise InvalidInput("Give at least one --route MODEL_URI[=WEIGHT].")
    eps = _endpoints(ctx)
    with eps.client:
        endpoint = eps.deploy(
            name,
            _routes(route),  # type: ignore[arg-type]
            project=project,
            sticky=sticky,
            sample_rate=sample_rate,
            message=message,
        )
    if as_json:
        print_json(endpoint)
    else:
        _show(endpoint)


@app.command("apply")
@reports_errors
def apply(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="a YAML file with name, routes, ...")],
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create or update an endpoint from a YAML file (no new revision if nothing changed)."""
    eps = _endpoints(ctx)
    with eps.client:
        endpoint = eps.apply_file(file, project=project)
    if as_json:
        print_json(endpoint)
    else:
        _show(endpoint)


@app.command("rollback")
@reports_errors
def rollback(
    ctx: typer.Context,
    name: str,
    to: Annotated[int | None, typer.Option(help="the revision to serve again")] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Serve the previous revision again (or --to N). Servers switch with no restart."""
    eps = _endpoints(ctx)
    with eps.client:
        endpoint = eps.rollback(name, to=to, project=project)
    if as_json:
        print_json(endpoint)
    else:
        _show(endpoint)


@app.command("revisions")
@reports_errors
def revisions(
    ctx: typer.Context, name: str, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """Every revision of an endpoint, newest first."""
    eps = _endpoints(ctx)
    with eps.client:
        found: list[Revision] = eps.revisions(name, project=project)
    if as_json:
        print_json(found)
        return
    table = Table("rev", "status", "routes", "by", "when (UTC)", "message")
    for r in found:
        routes = ", ".join(
            f"{x.name}/{x.version}" + (" shadow" if x.shadow else f" {x.weight}%")
            for x in r.spec.routes
        )
        note = r.error or r.message
        if r.rollback_of is not None:
            note = f"(rollback to {r.rollback_of}) {note}"
        table.add_row(
            str(r.number),
            r.status,
            routes,
            r.actor,
            r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            note,
        )
    console.print(table)


@app.command("delete")
@reports_errors
def delete(
    ctx: typer.Context,
    name: str,
    project: ProjectOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False,
) -> None:
    """Delete an endpoint and its revisions (its servers stop answering)."""
    if not yes:
        typer.confirm(f"Delete endpoint {name!r} and its history?", abort=True)
    eps = _endpoints(ctx)
    with eps.client:
        eps.delete(name, project=project)
    console.print(f"Deleted endpoint {name!r}.")


@reports_errors
def serve(
    ctx: typer.Context,
    endpoint: Annotated[str | None, typer.Argument(help="the endpoint to serve")] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="serve one model instead: models:/name/3")
    ] = None,
    host: Annotated[str, typer.Option(help="address to bind (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8080,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
    max_body: Annotated[int, typer.Option(help="largest request body in bytes (413 above)")] = (
        16 * 1024 * 1024
    ),
    poll: Annotated[float, typer.Option(help="seconds between checks for a new revision")] = 1.0,
    project: ProjectOption = None,
) -> None:
    """Start an inference server for an endpoint (or one model).

    It speaks /invocations (MLflow scoring formats, CSV) and the Open Inference Protocol v2,
    follows the endpoint's revisions with no restart, and exposes /metrics.
    """
    from loopline._client import Client
    from loopline._endpoints import serve as run

    client = Client(settings=settings_from(ctx))
    console.print(
        f"Serving {endpoint or model} on http://{host}:{port} "
        f"(/invocations, /v2/models/..., /metrics). Ctrl+C stops."
    )
    run(
        endpoint,
        model=model,
        project=project or client.settings.project,
        host=host,
        port=port,
        workers=workers,
        max_body_bytes=max_body,
        poll_seconds=poll,
        client=client,  # the command line's settings (--uri...), opened once
    )


@reports_errors
def predict(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="models:/name/3 or models:/name@alias")],
    input: Annotated[Path, typer.Option("--input", "-i", help="Parquet file/folder or CSV")],
    output: Annotated[Path, typer.Option("--output", "-o", help="where to write (.parquet/.csv)")],
    chunk_rows: Annotated[int, typer.Option(help="rows per chunk")] = 50_000,
    restart: Annotated[bool, typer.Option(help="discard parts of an earlier job")] = False,
    as_json: JsonOption = False,
) -> None:
    """Score a file with a registered model, in chunks; run it again to resume."""
    from loopline._client import Client
    from loopline._endpoints import batch_predict

    with Client(settings=settings_from(ctx)) as client:
        result = batch_predict(
            model,
            input,
            output,
            chunk_rows=chunk_rows,
            restart=restart,
            progress=not as_json,
            client=client,
        )
    if as_json:
        print_json(result)
        return
    resumed = f", {result.resumed_chunks} resumed" if result.resumed_chunks else ""
    console.print(
        f"Scored {result.rows} rows in {result.chunks} chunks{resumed} with {result.model} "
        f"-> {result.output}"
    )
