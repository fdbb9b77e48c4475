"""How the CLI talks to people (Rich) and to scripts (--json), and how it reports errors."""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from loopline.errors import LooplineError

__all__ = ["JsonOption", "console", "err_console", "print_json", "reports_errors", "to_jsonable"]

P = ParamSpec("P")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
"""The ``--json`` flag every command that prints takes."""
R = TypeVar("R")

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def to_jsonable(value: Any) -> Any:
    """Our value objects as plain JSON types (dataclasses, datetimes, paths, lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def print_json(value: Any) -> None:
    """Print ``value`` as JSON on stdout, for scripts (no colour, no wrapping)."""
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2) + "\n")
    sys.stdout.flush()


def reports_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a LooplineError into one red line on stderr and exit status 1: no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except LooplineError as exc:
            err_console.print(f"[bold red]error:[/] {escape(exc.message)}")
            raise typer.Exit(1) from exc

    return wrapper
