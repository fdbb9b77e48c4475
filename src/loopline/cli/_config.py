"""`loopline config`: what Loopline will use, and where each value can be set."""

from __future__ import annotations

import typer
from rich.table import Table

from loopline.cli._context import settings_from
from loopline.cli._output import JsonOption, console, print_json, reports_errors
from loopline.config import VARIABLES, mask_password


@reports_errors
def config(
    ctx: typer.Context,
    as_json: JsonOption = False,
) -> None:
    """Show the resolved settings (secrets hidden) and the variables that set them."""
    settings = settings_from(ctx)
    resolved = {
        "mode": settings.mode,
        "home": str(settings.home),
        "database": None if settings.db_url is None else mask_password(settings.db_url),
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
