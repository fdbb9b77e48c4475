"""`loopline datasets ...` and `loopline lineage`: versioned datasets from the command line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.tree import Tree

from loopline.cli._context import settings_from
from loopline.cli._output import JsonOption, console, print_json, reports_errors

if TYPE_CHECKING:
    from loopline._client import Client
    from loopline.datasets import Lineage, LineageNode

app = typer.Typer(
    help="Versioned datasets: list, show, commit, copy locally, diff.", no_args_is_help=True
)

ProjectOption = Annotated[
    str | None, typer.Option("--project", "-p", help="Default: LOOPLINE_PROJECT.")
]
RefArgument = Annotated[
    str, typer.Argument(help="[project/]dataset[:version]; version: a number, alias or latest.")
]
_RUN_ID = re.compile(r"[0-9a-f]{32}")


def _client(ctx: typer.Context, project: str | None = None) -> Client:
    from loopline._client import Client

    return Client(settings=settings_from(ctx, LOOPLINE_PROJECT=project))


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover - the loop always returns


@app.command("list")
@reports_errors
def list_datasets(
    ctx: typer.Context, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """List the datasets of a project with their latest version."""
    from loopline._datasets import Dataset

    with _client(ctx, project) as client:
        name = client.settings.project
        datasets = Dataset.list(name, client=client)
    if as_json:
        print_json(datasets)
        return
    if not datasets:
        console.print(
            f"No datasets in project {name!r}. Commit one with `loopline datasets commit FOLDER "
            f"--name NAME`."
        )
        return
    table = Table("dataset", "versions", "latest", "files", "size", "committed (UTC)", "message")
    table.title = f"Datasets in {name}"
    for d in datasets:
        v = d.latest
        table.add_row(
            d.name,
            str(d.version_count),
            "-" if v is None else str(v.number),
            "-" if v is None else f"{v.file_count:,}",
            "-" if v is None else _size(v.total_bytes),
            "-" if v is None else v.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            "" if v is None else v.message.splitlines()[0] if v.message else "",
        )
    console.print(table)


@app.command("versions")
@reports_errors
def list_versions(
    ctx: typer.Context, name: str, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """List the versions of a dataset, newest first."""
    from loopline._datasets import Dataset

    with _client(ctx, project) as client:
        versions = [v.info for v in Dataset.versions(name, client=client)]
    if as_json:
        print_json(versions)
        return
    table = Table(
        "version",
        "aliases",
        "files",
        "size",
        "+",
        "-",
        "~",
        "committed (UTC)",
        "message",
        title=f"Versions of {name}",
    )
    for v in versions:
        table.add_row(
            str(v.number),
            ", ".join(v.aliases),
            f"{v.file_count:,}",
            _size(v.total_bytes),
            str(v.added),
            str(v.removed),
            str(v.modified),
            v.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            v.message.splitlines()[0] if v.message else "",
        )
    console.print(table)


@app.command("show")
@reports_errors
def show(
    ctx: typer.Context,
    ref: RefArgument,
    limit: Annotated[int, typer.Option(help="Files to list.", min=0)] = 20,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a version: its numbers, aliases, files and the profile of its tables."""
    from loopline._datasets import resolve_ref

    with _client(ctx, project) as client:
        version = resolve_ref(client, ref)
        files = version.files()
        profile = version.profile()
    info = version.info
    if as_json:
        print_json({"version": info, "files": files[:limit], "profile": profile})
        return
    aliases = f" ({', '.join(info.aliases)})" if info.aliases else ""
    parent = f", from version {info.parent}" if info.parent else ""
    console.print(
        f"[bold]{info.ref}[/]{aliases}: {info.file_count:,} files, {_size(info.total_bytes)}"
        f"{parent}; +{info.added} -{info.removed} ~{info.modified}; committed "
        f"{info.created_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    console.print(f"digest {info.digest}")
    if info.message:
        console.print(f"message: {info.message}")
    if info.run_id:
        console.print(f"produced by run {info.run_id}")
    if files and limit:
        table = Table("path", "size", "sha256")
        for f in files[:limit]:
            table.add_row(f.path, _size(f.size), f.digest[:12])
        if len(files) > limit:
            table.caption = f"{len(files) - limit:,} more files"
        console.print(table)
    for path, data in sorted((profile or {}).get("files", {}).items()):
        table = Table("column", "type", "nulls", "min", "mean", "max", "top", title=path)
        if data.get("error"):
            console.print(f"{path}: not read as a table ({data['error']})")
            continue
        table.caption = f"{data['rows']:,} rows"
        for c in data["columns"]:
            top = ", ".join(f"{v} ({n})" for v, n in c.get("top", [])[:3])
            table.add_row(
                c["name"],
                c["type"],
                f"{c['null_share']:.1%}",
                _num(c.get("min")),
                _num(c.get("mean")),
                _num(c.get("max")),
                top,
            )
        console.print(table)


def _num(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@app.command("diff")
@reports_errors
def diff(
    ctx: typer.Context,
    a: RefArgument,
    b: Annotated[str, typer.Argument(help="The other version: a reference, or a number.")],
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """What changed from version A to version B (B may be a bare number of A's dataset)."""
    from loopline._datasets import Dataset, resolve_ref

    with _client(ctx, project) as client:
        va = resolve_ref(client, a)
        vb = resolve_ref(client, f"{va.project}/{va.dataset}:{b}" if ":" not in b else b)
        result = Dataset.diff(va, vb)
    if as_json:
        print_json(result)
        return
    if result.is_empty:
        console.print(f"{result.a} and {result.b} hold the same files.")
        return
    table = Table("", "path", "size", title=f"{result.a} → {result.b}")
    for c in result.added:
        table.add_row("[green]+[/]", c.path, _size(c.new_size or 0))
    for c in result.removed:
        table.add_row("[red]-[/]", c.path, _size(c.old_size or 0))
    for c in result.modified:
        table.add_row(
            "[yellow]~[/]", c.path, f"{_size(c.old_size or 0)} → {_size(c.new_size or 0)}"
        )
    table.caption = (
        f"{len(result.added)} added, {len(result.removed)} removed, "
        f"{len(result.modified)} modified, {result.unchanged} unchanged"
    )
    console.print(table)


@app.command("get")
@reports_errors
def get(
    ctx: typer.Context,
    ref: RefArgument,
    dest: Annotated[
        Path | None, typer.Option("--dest", "-d", help="Default: under LOOPLINE_HOME.")
    ] = None,
    copy: Annotated[bool, typer.Option("--copy", help="Copy files; never hard-link.")] = False,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make a verified local copy of a version; print its folder."""
    from loopline._datasets import resolve_ref

    with _client(ctx, project) as client:
        version = resolve_ref(client, ref)
        folder = version.local_copy(dest, link=not copy)
    if as_json:
        print_json({"version": version.info, "path": str(folder)})
    else:
        console.print(str(folder))


@app.command("commit")
@reports_errors
def commit(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="The folder whose files become the version.")],
    name: Annotated[str, typer.Option("--name", "-n", help="The dataset.")],
    message: Annotated[str, typer.Option("--message", "-m")] = "",
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Commit a folder as the next version of a dataset (exactly its files; unchanged files
    are not stored again)."""
    from loopline._datasets import Dataset
    from loopline.errors import InvalidInput

    if not folder.is_dir():
        raise InvalidInput(f"{str(folder)!r} is not a folder. Give the folder to commit.")
    with _client(ctx, project) as client:
        draft = Dataset.create(name, parent="latest", client=client)
        for path in draft.files():
            draft.remove(path)
        draft.add_files(folder)
        version = draft.commit(message)
    if as_json:
        print_json(version.info)
        return
    info = version.info
    console.print(
        f"Committed [bold]{info.ref}[/]: {info.file_count:,} files, {_size(info.total_bytes)} "
        f"(+{info.added} -{info.removed} ~{info.modified}), digest {info.digest[:12]}."
    )


@app.command("alias")
@reports_errors
def alias(
    ctx: typer.Context,
    ref: RefArgument,
    name: Annotated[str, typer.Argument(help="The alias, like golden.")],
    project: ProjectOption = None,
) -> None:
    """Point an alias at a version (moving it from another)."""
    from loopline._datasets import resolve_ref

    with _client(ctx, project) as client:
        version = resolve_ref(client, ref).set_alias(name)
    console.print(f"{name} → {version.info.ref}")


@reports_errors
def lineage(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="A run id, or a dataset version like digits:3.")],
    depth: Annotated[int, typer.Option(min=1, max=50, help="Steps to walk each way.")] = 10,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show where a run's or a dataset version's data came from, and where it went."""
    from loopline._datasets import resolve_ref

    with _client(ctx, project) as client:
        if _RUN_ID.fullmatch(ref):
            graph = client._backend.lineage(run_id=ref, depth=depth)
        else:
            graph = resolve_ref(client, ref).lineage(depth)
    if as_json:
        print_json(graph)
        return
    console.print(lineage_tree(graph))


def lineage_tree(graph: Lineage) -> Tree:
    """The lineage as a Rich tree: the root, then what fed it and what it fed."""
    root = graph.nodes[graph.root]
    tree = Tree(_label(root))
    if graph.upstream:
        _grow(tree.add("[dim]came from[/]"), graph, graph.root, graph.parents, {graph.root})
    if graph.downstream:
        _grow(tree.add("[dim]went into[/]"), graph, graph.root, graph.children, {graph.root})
    if not graph.upstream and not graph.downstream:
        tree.add("[dim]no recorded lineage[/]")
    return tree


def _grow(branch: Tree, graph: Lineage, key: str, step: object, seen: set[str]) -> None:
    assert callable(step)
    for nxt in step(key):
        if nxt in seen:
            branch.add(_label(graph.nodes[nxt]) + " [dim](seen above)[/]")
            continue
        _grow(branch.add(_label(graph.nodes[nxt])), graph, nxt, step, seen | {nxt})


def _label(node: LineageNode) -> str:
    if node.kind == "run":
        return f"[cyan]run[/] {node.label} ({node.id[:8]}, {node.status}) in {node.project}"
    return f"[green]dataset[/] {node.project}/{node.label}"
