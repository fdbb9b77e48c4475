"""`loopline projects ...`"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from loopline.backends import open_backend
from loopline.cli._context import settings_from
from loopline.cli._output import JsonOption, console, print_json, reports_errors

app = typer.Typer(help="Create and list projects.", no_args_is_help=True)


@app.command("list")
@reports_errors
def list_projects(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List every project."""
    backend = open_backend(settings_from(ctx))
    try:
        projects = backend.list_projects()
    finally:
        backend.close()
    if as_json:
        print_json(projects)
        return
    if not projects:
        console.print("No projects yet. Create one with `loopline projects create NAME`.")
        return
    table = Table("name", "description", "created (UTC)", title=f"Projects in {backend.location}")
    for p in projects:
        table.add_row(p.name, p.description, p.created_at.strftime("%Y-%m-%d %H:%M:%S"))
    console.print(table)


@app.command("create")
@reports_errors
def create_project(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Letters, digits, '.', '_' or '-'.")],
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create a project."""
    backend = open_backend(settings_from(ctx))
    try:
        project = backend.create_project(name, description)
    finally:
        backend.close()
    if as_json:
        print_json(project)
    else:
        console.print(f"Created project [bold]{project.name}[/] in {backend.location}.")
