"""Executing one step: resolving its code, decoding inputs, calling it, encoding outputs.

Shared by debug mode (in this process) and the worker processes of executors; nothing here
touches the metadata store: outcomes go back to the runner, which records them in batches.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopline.errors import InvalidInput
from loopline.pipelines._live_console import LiveConsole
from loopline.pipelines._materializers import dump_value, load_value

if TYPE_CHECKING:
    from loopline.config import Settings
    from loopline.tracking import Run

__all__ = ["StepCode", "Task", "Outcome", "execute", "call_step", "encode_outputs"]

WireValue = tuple[Any, ...]
"""An argument on its way to a worker: ``("blob", bytes, materializer)``, ``("value", x)`` or
``("list", [wire values])``."""


@dataclass(frozen=True, slots=True)
class StepCode:
    """How a worker finds a step's function: by module and name when it can import it, else
    the function itself, pickled by value (cloudpickle) once per run."""

    digest: str
    module: str | None = None
    qualname: str | None = None
    pickled: bytes | None = None

    def resolve(self) -> Callable[..., Any]:
        if self.pickled is not None:
            import pickle

            func: Callable[..., Any] = pickle.loads(self.pickled)  # noqa: S301 - our own code
            return func
        from importlib import import_module

        assert self.module is not None
        assert self.qualname is not None
        obj: Any = import_module(self.module)
        for part in self.qualname.split("."):
            obj = getattr(obj, part)
        inner: Callable[..., Any] = getattr(obj, "func", obj)
        return inner


@dataclass(frozen=True, slots=True)
class Task:
    """One execution of one step, as sent to an executor."""

    step: str
    attempt: int
    code: StepCode
    args: tuple[tuple[str, WireValue], ...]
    outputs: tuple[str, ...]
    multiple: bool
    timeout: float | None = None
    run: Run | None = None
    settings: Settings | None = None
    resources: tuple[tuple[str, Any], ...] = ()
    """What the step asks of an executor (``(("gpu", 1),)``): the queue and Ray executors
    place it by this."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What came of a task: encoded outputs, or an error (text: it crosses processes)."""

    step: str
    attempt: int
    ok: bool
    outputs: tuple[tuple[bytes, str, str], ...] = ()
    error: str | None = None
    console: str = ""


def decode(value: WireValue) -> Any:
    kind = value[0]
    if kind == "blob":
        return load_value(value[1], value[2])
    if kind == "list":
        return [decode(v) for v in value[1]]
    return value[1]


def call_step(
    func: Callable[..., Any],
    step: str,
    args: list[tuple[str, Any]],
    outputs: tuple[str, ...],
    multiple: bool,
) -> tuple[Any, ...]:
    """Call ``func`` with decoded arguments; answer its outputs as a tuple."""
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    for name, value in args:
        if name.startswith("*"):
            positional.extend(value)
        else:
            keywords[name] = value
    if positional:
        # *args come after the named ones, which must then be passed by position too.
        import inspect

        sig = inspect.signature(func)
        before = [
            keywords.pop(p)
            for p in list(sig.parameters)
            if p in keywords and sig.parameters[p].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        ]
        result = func(*before, *positional, **keywords)
    else:
        result = func(**keywords)
    return split_outputs(step, result, outputs, multiple)


def split_outputs(
    step: str, result: Any, outputs: tuple[str, ...], multiple: bool
) -> tuple[Any, ...]:
    if not outputs:
        return ()
    if not multiple:
        return (result,)
    if not isinstance(result, tuple) or len(result) != len(outputs):
        got = f"{len(result)} values" if isinstance(result, tuple) else type(result).__name__
        raise InvalidInput(
            f"Step {step!r} returned {got}, but its return type declares {len(outputs)} "
            f"outputs ({', '.join(outputs)})."
        )
    return tuple(result)


def encode_outputs(step: str, values: tuple[Any, ...]) -> tuple[tuple[bytes, str, str], ...]:
    encoded = []
    for value in values:
        data, name = dump_value(value, step=step)
        encoded.append((data, name, f"{type(value).__module__}.{type(value).__qualname__}"))
    return tuple(encoded)


_functions: dict[str, Callable[..., Any]] = {}


def execute(task: Task) -> Outcome:
    """Run a task in this (worker) process; never raises: errors become a failed Outcome."""
    console = _console_of(task)
    try:
        func = _functions.get(task.code.digest)
        if func is None:
            func = _functions[task.code.digest] = task.code.resolve()
        args = [(name, decode(value)) for name, value in task.args]
        with (
            console,
            contextlib.redirect_stdout(console),
            contextlib.redirect_stderr(console),
            _logging_into(task),
        ):
            values = call_step(func, task.step, args, task.outputs, task.multiple)
        outputs = encode_outputs(task.step, values)
    except BaseException as exc:  # noqa: BLE001 - reported to the runner, which decides
        text = "".join(traceback.format_exception(exc))
        return Outcome(task.step, task.attempt, False, error=text, console=console.text())
    return Outcome(task.step, task.attempt, True, outputs, console=console.text())


def _console_of(task: Task) -> LiveConsole:
    """The step's console: shipped to its tracked run while it runs, when it has one."""
    run, settings = task.run, task.settings
    if run is None or settings is None:
        return LiveConsole()
    from loopline.pipelines._context import worker_client

    backend = worker_client(settings)._backend  # made here, not racing in the shipping thread

    def ship(offset: int, data: bytes) -> None:
        backend.append_console(run.id, offset, data)

    return LiveConsole(ship)


def _logging_into(task: Task) -> contextlib.AbstractContextManager[None]:
    if task.run is None or task.settings is None:
        return contextlib.nullcontext()
    from loopline.pipelines._context import logging_into

    return logging_into(task.run, settings=task.settings)
