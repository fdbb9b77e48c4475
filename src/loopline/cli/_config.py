"""`loopline config`: what Loopline will use, and where each value can be set."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from loopline.cli._context import settings_from
from loopline.cli._output import console, print_json, reports_errors
from loopline.config import VARIABLES


@reports_errors
def config(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show the resolved settings (secrets hidden) and the variables that set them."""
    settings = settings_from(ctx)
    resolved = {
        "mode": settings.mode,
        "home": str(settings.home),
        "database": settings.db_url,
        "server": settings.server_url,
        "artifacts": settings.artifacts,
        "project": settings.project,
        "auto_upgrade": settings.auto_upgrade,
        "token": "set" if settings.token else None,
    }
    if as_json:
        print_json({"settings": resolved, "variables": VARIABLES})
        return
    table = Table("setting", "value", title="Resolved settings")
    for key, value in resolved.items():
        table.add_row(key, "-" if value is None else str(value))
    console.print(table)
    variables = Table("variable", "meaning", title="Variables (a config.toml may set them too)")
    for name, meaning in VARIABLES.items():
        variables.add_row(name, meaning)
    console.print(variables)
