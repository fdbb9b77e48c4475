"""`loopline ui`: the web UI over the embedded store, on this machine only."""

from __future__ import annotations

import threading
import time
from typing import Annotated

import typer

from loopline.cli._context import settings_from
from loopline.cli._output import console, reports_errors

HOST = "127.0.0.1"


@reports_errors
def ui(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free port).")
    ] = 8766,
    browser: Annotated[
        bool, typer.Option("--browser/--no-browser", help="Open the UI in a web browser.")
    ] = True,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Open the web UI on your runs (the embedded store, or what LOOPLINE_URI names).

    It binds 127.0.0.1 only. Against a server (LOOPLINE_URI=http://...) there is nothing to
    start: the server serves the UI itself, and this prints its address.
    """
    settings = settings_from(ctx)
    if settings.mode != "local":
        url = f"{settings.server_url}/ui"
        console.print(f"The server at {settings.server_url} serves the UI: [bold]{url}[/]")
        if browser:
            _open(url)
        return

    import socket

    import uvicorn

    from loopline.backends import LocalBackend
    from loopline.server import create_app

    backend = LocalBackend.open(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))  # bound here, so port 0 gives a real port to print
    url = f"http://{HOST}:{sock.getsockname()[1]}/ui"
    server = uvicorn.Server(
        uvicorn.Config(create_app(backend=backend), log_level=log_level, access_log=False)
    )

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            console.print(
                f"Loopline UI on [bold]{url}[/] (database {backend.location}); Ctrl-C stops it."
            )
            if browser:
                _open(url)

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        backend.close()


def _open(url: str) -> None:
    import webbrowser

    webbrowser.open(url)
