"""`loopline server`: run the HTTP API."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from loopline.cli._context import settings_from
from loopline.cli._output import console, err_console, reports_errors


@reports_errors
def server(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to bind. Only loopback unless you mean it.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8765,
    db: Annotated[
        str | None, typer.Option("--db", help="Database URI (default: LOOPLINE_URI).")
    ] = None,
    artifacts: Annotated[
        str | None, typer.Option(help="Blob store root: a folder or s3://bucket/prefix.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the Loopline REST API (and, later, the UI) over HTTP."""
    import uvicorn

    from loopline.backends import LocalBackend
    from loopline.server import create_app

    settings = settings_from(ctx, LOOPLINE_URI=db, LOOPLINE_ARTIFACTS=artifacts)
    if settings.mode != "local":
        from loopline.errors import InvalidInput

        raise InvalidInput(
            f"LOOPLINE_URI is a server URL ({settings.server_url}); the server needs a database: "
            f"pass --db sqlite:///... or --db postgresql://..."
        )
    loopback = host in ("127.0.0.1", "localhost", "::1")
    if settings.auth is None and not loopback:
        # Reachable from other machines: accounts, roles and the audit log come on by default.
        settings = settings.with_(auth=True)
        os.environ["LOOPLINE_AUTH"] = "on"  # for worker processes, which read the environment
    if not settings.auth and not loopback:
        err_console.print(
            f"[bold yellow]warning:[/] binding {host} with LOOPLINE_AUTH=off: anyone who can "
            f"reach {host}:{port} can read and change everything in it."
        )
    if settings.auth and not settings.admin_user:
        err_console.print(
            "Authentication is on. Create the first admin with LOOPLINE_ADMIN_USER and "
            "LOOPLINE_ADMIN_PASSWORD (see docs/security.md)."
        )
    # Open once here so a bad database or schema is one clear line, not a worker traceback.
    backend = LocalBackend.open(settings)
    console.print(
        f"Loopline server on [bold]http://{host}:{port}[/] "
        f"(database {backend.location}, blobs {settings.artifacts}, "
        f"auth {'on' if settings.auth else 'off'})"
    )
    if workers == 1:
        uvicorn.run(create_app(backend=backend), host=host, port=port, log_level=log_level)
        backend.close()
        return
    backend.close()
    # Worker processes build their own app from the environment: hand them the settings.
    os.environ["LOOPLINE_URI"] = settings.db_url or ""
    os.environ["LOOPLINE_ARTIFACTS"] = settings.artifacts
    uvicorn.run(
        "loopline.server:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )
