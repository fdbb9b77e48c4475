"""`loopline features ...`: apply definitions, materialize, list views, look up online values."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from loopline.cli._context import settings_from
from loopline.cli._output import JsonOption, console, err_console, print_json, reports_errors
from loopline.errors import InvalidInput

if TYPE_CHECKING:
    from loopline._features import FeatureStore

app = typer.Typer(
    help="Feature store: apply definitions, materialize, list views, online lookups.",
    no_args_is_help=True,
)

ProjectOption = Annotated[
    str | None, typer.Option("--project", "-p", help="Default: LOOPLINE_PROJECT.")
]


def _store(ctx: typer.Context, project: str | None) -> FeatureStore:
    from loopline._client import Client
    from loopline._features import FeatureStore

    client = Client(settings=settings_from(ctx, LOOPLINE_PROJECT=project))
    return FeatureStore(client)


@app.command("apply")
@reports_errors
def apply(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A Python file defining entities and views.")],
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register the entities and views FILE defines (versioned; unchanged ones stay)."""
    from loopline._features import load_definitions

    definitions = load_definitions(file)
    store = _store(ctx, project)
    try:
        results = store.apply(definitions, base=file.resolve().parent)
    finally:
        store.client.close()
    if as_json:
        print_json(results)
        return
    table = Table("kind", "name", "version", "status", title=f"Applied to project {store.project}")
    for r in results:
        style = {"created": "green", "updated": "yellow"}.get(r.status, "dim")
        table.add_row(r.kind, r.name, str(r.version), f"[{style}]{r.status}[/]")
    console.print(table)


@app.command("materialize")
@reports_errors
def materialize(
    ctx: typer.Context,
    until: Annotated[
        str, typer.Option("--until", help="'now', or an ISO 8601 time with its zone.")
    ] = "now",
    view: Annotated[
        list[str] | None, typer.Option("--view", "-v", help="Only these views (repeatable).")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="From the start, ignoring the watermark.")
    ] = False,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Copy the latest feature values into the online store, from each view's watermark."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    end = _parse_until(until)
    store = _store(ctx, project)
    show = not as_json and not store.client.settings.quiet
    bars: dict[str, Any] = {}
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            disable=not show,
            transient=False,
        ) as progress:

            def advance(name: str, done: int, total: int) -> None:
                if name not in bars:
                    bars[name] = progress.add_task(name, total=total)
                progress.update(bars[name], completed=done, total=total)

            results = store.materialize(end, views=view or None, full=full, progress=advance)
    finally:
        store.client.close()
    if as_json:
        print_json(results)
        return
    table = Table("view", "from (exclusive)", "to", "entities written", "seconds")
    for r in results:
        start = "the start" if r.start is None else r.start.isoformat(timespec="seconds")
        table.add_row(
            r.view, start, r.end.isoformat(timespec="seconds"), f"{r.rows:,}", f"{r.seconds:.2f}"
        )
    console.print(table)
    if not results:
        console.print("No online feature views to materialize.")


@app.command("list")
@reports_errors
def list_views(
    ctx: typer.Context, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """List feature views with their source, version and freshness."""
    store = _store(ctx, project)
    try:
        views = store.list_views()
    finally:
        store.client.close()
    if as_json:
        print_json(views)
        return
    if not views:
        console.print("No feature views yet. Define some and run `loopline features apply FILE`.")
        return
    table = Table("view", "version", "entities", "features", "source", "ttl", "materialized up to")
    for v in views:
        source = v.source.location if v.source is not None else "on demand: " + ", ".join(v.sources)
        if v.source_version:
            source += f" (materialized from {v.source_version})"
        ttl = "-" if v.ttl_seconds is None else f"{v.ttl_seconds:g}s"
        mark = "-" if v.watermark is None else v.watermark.isoformat(timespec="seconds")
        table.add_row(
            v.name,
            str(v.version),
            ", ".join(v.entities),
            ", ".join(f"{f.name}:{f.dtype}" for f in v.features),
            source,
            ttl,
            mark,
        )
    console.print(table)


@app.command("get-online")
@reports_errors
def get_online(
    ctx: typer.Context,
    features: Annotated[list[str], typer.Argument(help="'view:feature' references.")],
    entity: Annotated[
        list[str], typer.Option("--entity", "-e", help="KEY=V1,V2,... (repeat per join key).")
    ],
    request: Annotated[
        list[str] | None,
        typer.Option("--request", "-r", help="Request data for on-demand views: NAME=V1,V2."),
    ] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Look up the latest values of FEATURES for some entities."""
    store = _store(ctx, project)
    try:
        found = store.get_online(
            features,
            _columns(entity, "--entity"),
            request_data=_columns(request or [], "--request"),
        )
    finally:
        store.client.close()
    if as_json:
        print_json(found.to_json()["columns"])
        return
    table = Table(*found.columns)
    for i in range(len(found)):
        table.add_row(*(_show(column[i]) for column in found.columns.values()))
    console.print(table)


def _parse_until(text: str) -> datetime:
    if text.strip().lower() == "now":
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"--until {text!r} is not 'now' or an ISO 8601 time.") from exc
    if value.tzinfo is None:
        raise InvalidInput(f"--until {text!r} has no time zone: add one, like {text}+00:00 (or Z).")
    return value


def _columns(items: list[str], option: str) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not name:
            raise InvalidInput(f"{option} {item!r}: expected NAME=V1,V2,...")
        out[name] = [_value(v) for v in values.split(",")]
    return out


def _value(text: str) -> Any:
    # Numbers stay numbers (entity ids are often integers); anything else is text.
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float) and not isinstance(value, bool) else text


def _show(value: Any) -> str:
    if value is None:
        return "[dim]-[/]"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
