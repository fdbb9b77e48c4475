"""The `loopline` command line (Typer): one module per command group."""

from loopline.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the `loopline` console script."""
    app()
