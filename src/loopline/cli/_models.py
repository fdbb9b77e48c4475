"""`loopline models ...`: list, show, versions, alias, status, card and load-test."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markdown import Markdown
from rich.table import Table

from loopline.cli._context import settings_from
from loopline.cli._output import JsonOption, console, print_json, reports_errors

if TYPE_CHECKING:
    from loopline._models import ModelRegistry

app = typer.Typer(
    help="Registered models: versions, aliases, statuses, model cards.", no_args_is_help=True
)

ProjectOption = Annotated[
    str | None, typer.Option("--project", "-p", help="default: LOOPLINE_PROJECT")
]


def _registry(ctx: typer.Context) -> ModelRegistry:
    from loopline._client import Client
    from loopline._models import ModelRegistry

    return ModelRegistry(Client(settings=settings_from(ctx)))


def _split(ref: str) -> tuple[str, str]:
    """``digits@champion`` / ``digits/3`` / ``digits`` -> (name, version ref)."""
    if "@" in ref:
        name, _, alias = ref.partition("@")
        return name, alias
    name, _, number = ref.partition("/")
    return name, number or "latest"


@app.command("list")
@reports_errors
def list_models(
    ctx: typer.Context, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """List the registered models of a project."""
    registry = _registry(ctx)
    with registry.client:
        name = project or registry.client.settings.project
        models = registry.list(name)
    if as_json:
        print_json(models)
        return
    if not models:
        console.print(f"No registered models in project {name!r}.")
        return
    table = Table(
        "model", "versions", "latest", "aliases", "created (UTC)", title=f"Models in {name}"
    )
    for m in models:
        table.add_row(
            m.name,
            str(m.version_count),
            "-" if m.latest is None else f"{m.latest.number} ({m.latest.status})",
            ", ".join(f"{a}->{n}" for a, n in m.aliases.items()) or "-",
            m.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    console.print(table)


@app.command("show")
@reports_errors
def show_model(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="name, name/3 or name@alias")],
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one version (the latest unless given): lineage, metrics, signature, requirements."""
    registry = _registry(ctx)
    name, version_ref = _split(ref)
    with registry.client:
        version = registry.version(name, version_ref, project=project)
    if as_json:
        print_json(version)
        return
    console.print(f"[bold]{version.ref}[/]  {version.status}  flavor {version.flavor}")
    rows: list[tuple[str, Any]] = [
        ("aliases", ", ".join(version.aliases) or "-"),
        ("registered", f"{version.created_at:%Y-%m-%d %H:%M:%S} UTC by {version.creator}"),
        ("source run", version.run_id or "deleted"),
        ("training data", ", ".join(t.ref for t in version.training_data) or "-"),
        ("size", f"{version.size:,} bytes"),
        ("requirements", ", ".join(version.requirements) or "-"),
        ("load with", f'll.load_model("{version.uri}")'),
    ]
    for key, value in rows:
        console.print(f"  {key:<14} {value}")
    if version.metrics:
        console.print(
            "  metrics        " + ", ".join(f"{k}={v:.6g}" for k, v in version.metrics.items())
        )


@app.command("versions")
@reports_errors
def list_versions(
    ctx: typer.Context, name: str, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """List the versions of a model, newest first."""
    registry = _registry(ctx)
    with registry.client:
        versions = registry.versions(name, project=project)
    if as_json:
        print_json(versions)
        return
    keys = sorted({k for v in versions for k in v.metrics})[:5]
    table = Table(
        "version", "status", "aliases", "flavor", "created (UTC)", "by", *keys, title=name
    )
    for v in versions:
        table.add_row(
            str(v.number),
            v.status,
            ", ".join(v.aliases) or "-",
            v.flavor,
            v.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            v.creator,
            *(f"{v.metrics[k]:.6g}" if k in v.metrics else "-" for k in keys),
        )
    console.print(table)


@app.command("alias")
@reports_errors
def alias(
    ctx: typer.Context,
    name: str,
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS")],
    version: Annotated[
        str | None, typer.Argument(help="the version number (omit with --remove)")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", "-r", help="why: kept in the history")] = "",
    remove: Annotated[bool, typer.Option("--remove", help="remove the alias")] = False,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Point an alias (champion, challenger...) at a version, or --remove it."""
    registry = _registry(ctx)
    with registry.client:
        if remove:
            registry.remove_alias(name, alias_name, reason=reason, project=project)
            result: Any = {"removed": alias_name}
            message = f"Removed {alias_name!r} from {name!r}."
        else:
            if version is None:
                raise typer.BadParameter("give the version the alias should point at")
            result = registry.set_alias(name, alias_name, version, reason=reason, project=project)
            message = f"{name}@{alias_name} -> version {result.number}."
    if as_json:
        print_json(result)
    else:
        console.print(message)


@app.command("status")
@reports_errors
def status(
    ctx: typer.Context,
    name: str,
    version: str,
    new_status: Annotated[
        str, typer.Argument(metavar="STATUS", help="registered, approved or archived")
    ],
    reason: Annotated[str, typer.Option("--reason", "-r")] = "",
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set a version's status: registered, approved or archived."""
    from loopline.registry import validate_status

    registry = _registry(ctx)
    with registry.client:
        result = registry.set_status(
            name, version, validate_status(new_status), reason=reason, project=project
        )
    if as_json:
        print_json(result)
    else:
        console.print(f"{result.ref} is {result.status}.")


@app.command("history")
@reports_errors
def history(
    ctx: typer.Context, name: str, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """Registrations, alias moves and status changes of a model, newest first."""
    from loopline.registry import describe_event

    registry = _registry(ctx)
    with registry.client:
        events = registry.events(name, project=project)
    if as_json:
        print_json(events)
        return
    table = Table("when (UTC)", "who", "what", "why", title=f"History of {name}")
    for e in events:
        table.add_row(e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, describe_event(e), e.reason)
    console.print(table)


@app.command("card")
@reports_errors
def card(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="name, name/3 or name@alias")],
    project: ProjectOption = None,
    raw: Annotated[bool, typer.Option("--raw", help="print the Markdown source")] = False,
) -> None:
    """Print a version's model card."""
    registry = _registry(ctx)
    name, version_ref = _split(ref)
    with registry.client:
        text = registry.card(name, version_ref, project=project)
    if raw:
        typer.echo(text)
    else:
        console.print(Markdown(text))


@app.command("load-test")
@reports_errors
def load_test(
    ctx: typer.Context,
    uri: Annotated[str, typer.Argument(help="models:/name/3, models:/name@alias, or name@alias")],
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Load a model as serving would and predict on its logged input example."""
    if not uri.startswith(("models:/", "runs:")):
        name, version_ref = _split(uri)
        where = f"{project}/{name}" if project else name
        plain = version_ref.isdigit() or version_ref == "latest"
        uri = f"models:/{where}/{version_ref}" if plain else f"models:/{where}@{version_ref}"
    registry = _registry(ctx)
    with registry.client:
        start = time.perf_counter()
        model = registry.load(uri)
        loaded = time.perf_counter() - start
        example = model.input_example()
        result: dict[str, Any] = {
            "uri": uri,
            "flavor": model.flavor,
            "load_seconds": round(loaded, 4),
        }
        if example is None:
            result["predict"] = "skipped: no input example was logged"
        else:
            start = time.perf_counter()
            out = model.predict(example)
            result["predict_seconds"] = round(time.perf_counter() - start, 4)
            result["output_shape"] = list(getattr(out, "shape", (len(out),)))
    if as_json:
        print_json(result)
        return
    console.print(f"Loaded {model.source} ({model.flavor}) in {loaded * 1000:.0f} ms.")
    if "output_shape" in result:
        console.print(
            f"Predicted on the input example in {result['predict_seconds'] * 1000:.1f} ms: "
            f"output shape {result['output_shape']}."
        )
    else:
        console.print(str(result["predict"]))
