"""`loopline db ...`: the metadata database's schema."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from loopline.cli._context import settings_from
from loopline.cli._output import JsonOption, console, print_json, reports_errors
from loopline.errors import InvalidInput

if TYPE_CHECKING:
    from loopline.db import Database

app = typer.Typer(help="Manage the metadata database's schema.", no_args_is_help=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URI (default: LOOPLINE_URI, or the embedded store)."),
]


def _open(ctx: typer.Context, db: str | None) -> Database:
    settings = settings_from(ctx, LOOPLINE_URI=db)
    if settings.db_url is None:
        raise InvalidInput(
            f"{settings.server_url} is a server: run `loopline db` on the server's machine, "
            f"with --db naming its database."
        )
    from loopline.db import Database

    return Database.connect(settings.db_url)


@app.command("upgrade")
@reports_errors
def upgrade(ctx: typer.Context, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Apply pending migrations (safe to run while servers are up, and to run twice)."""
    database = _open(ctx, db)
    try:
        result = database.upgrade()
    finally:
        database.close()
    if as_json:
        print_json({"database": database.url, "before": result.before, "after": result.after})
    elif result.changed:
        console.print(
            f"Upgraded {database.url} from {result.before or 'an empty database'} "
            f"to revision {result.after}."
        )
    else:
        console.print(f"{database.url} is already at revision {result.after}; nothing to do.")


@app.command("current")
@reports_errors
def current(ctx: typer.Context, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Show the schema revision of the database, and the one this Loopline needs."""
    from loopline.db import HEAD_REVISION

    database = _open(ctx, db)
    try:
        found = database.revision()
    finally:
        database.close()
    if as_json:
        print_json({"database": database.url, "current": found, "head": HEAD_REVISION})
        return
    state = "up to date" if found == HEAD_REVISION else "run `loopline db upgrade`"
    console.print(f"{database.url}: revision {found or 'none'} (needs {HEAD_REVISION}: {state}).")
