"""Runs from Python: ``ll.start_run`` and the one-liners that log into the current run.

The current run is a context variable (each thread and asyncio task sees its own), not a
global. Metrics go through a :class:`~loopline.tracking.MetricWriter`: a call appends to memory
and a background thread stores batches, so ``log_metric`` in a training loop costs
microseconds, not a database round trip.

A run ends as:
- ``finished`` when its ``with`` block ends normally, or ``run.end()`` is called, or the
  interpreter exits normally with the run still open;
- ``failed`` when an exception leaves its ``with`` block, or the interpreter dies of one;
- ``killed`` on Ctrl-C (KeyboardInterrupt) or SIGTERM.
Buffered metrics are stored first in every case; SIGKILL loses at most the last flush interval.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from contextvars import ContextVar, Token
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from loopline.errors import Conflict, InvalidInput, LooplineError
from loopline.tracking import (
    Artifact,
    MetricPoint,
    MetricSeries,
    Run,
    RunStatus,
    RunTable,
    validate_key,
)
from loopline.tracking._types import metric_value

if TYPE_CHECKING:
    import pandas as pd

    from loopline._client import Client

__all__ = ["ActiveRun", "RunSession"]

_current: ContextVar[ActiveRun | None] = ContextVar("loopline_current_run", default=None)


class RunSession:
    """What a :class:`~loopline.Client` needs to run experiments: its writer and open runs."""

    def __init__(self, client: Client) -> None:
        from loopline.tracking import MetricWriter

        self.client = client
        self.backend = client._backend
        self.writer = MetricWriter(self.backend.log_metrics)
        self.open_runs: weakref.WeakValueDictionary[str, ActiveRun] = weakref.WeakValueDictionary()
        _exit_guard.watch(self)

    def close(self, status: RunStatus = "finished") -> None:
        """End the runs still open (as ``status``), store every metric, stop the writer."""
        _exit_guard.forget(self)
        try:
            for run in list(self.open_runs.values()):
                with contextlib.suppress(Conflict):  # ended elsewhere meanwhile: nothing to do
                    run.end(status)
        finally:
            self.writer.close()


class ActiveRun:
    """A run this process is logging to. Use it as a context manager, or call :meth:`end`.

    Example:
        >>> with ll.start_run(project="churn", params={"lr": 0.1}) as run:
        ...     for step in range(100):
        ...         run.log_metric("loss", 1 / (step + 1))
        >>> run.status
        'finished'
    """

    def __init__(self, session: RunSession, info: Run) -> None:
        self._session = session
        self._info = info
        self._steps: dict[str, int] = {}
        self._valid_keys: set[str] = set()
        self._token: Token[ActiveRun | None] | None = None
        self._ended: RunStatus | None = None
        self._console: Any = None

    # -- identity --

    @property
    def id(self) -> str:
        return self._info.id

    @property
    def name(self) -> str:
        return self._info.name

    @property
    def project(self) -> str:
        return self._info.project

    @property
    def status(self) -> RunStatus:
        return self._ended or "running"

    @property
    def params(self) -> dict[str, str]:
        """The params the run was started with, as text, overrides of a rerun included: read
        settings from here (``float(run.params["lr"])``) so a rerun can change them."""
        return dict(self._info.params)

    @property
    def cloned_from(self) -> str | None:
        return self._info.cloned_from

    def info(self) -> Run:
        """The run as stored now (params, tags, latest metrics), after a flush."""
        self.flush()
        return self._session.backend.get_run(self.id)

    def __repr__(self) -> str:
        return f"<ActiveRun {self.name!r} {self.id} in {self.project!r}: {self.status}>"

    # -- logging --

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: float | None = None
    ) -> None:
        """Log one value of a metric. ``step`` defaults to the key's previous step plus one
        (starting at 0); ``timestamp`` is seconds since the epoch (default: now)."""
        if key not in self._valid_keys:
            validate_key(key, "metric")
            self._check_open()
            self._valid_keys.add(key)
        if type(value) is not float:
            value = metric_value(key, value)
        if step is None:
            step = self._steps.get(key, -1) + 1
        elif type(step) is not int:
            step = _whole(step, key)
        self._steps[key] = step
        ts = time.time_ns() // 1_000_000 if timestamp is None else int(timestamp * 1000)
        self._session.writer.add(self.id, MetricPoint(key, value, step, ts))

    def log_metrics(
        self, metrics: Mapping[str, float], step: int | None = None, timestamp: float | None = None
    ) -> None:
        """Log several metrics at the same step and time."""
        ts = time.time() if timestamp is None else timestamp
        for key, value in metrics.items():
            self.log_metric(key, value, step, ts)

    def log_param(self, key: str, value: object) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, object]) -> None:
        """Record params (each key once per run; the same value again is fine)."""
        self._check_open()
        self._session.backend.log_params(self.id, params)

    def set_tag(self, key: str, value: object) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, object]) -> None:
        self._session.backend.set_tags(self.id, tags)

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> list[Artifact]:
        """Store a file (as ``name``, default its file name) or a folder (its files under
        ``name/``, default the folder's name) with the run."""
        source = Path(path)
        if source.is_dir():
            prefix = name or source.name
            files = sorted(p for p in source.rglob("*") if p.is_file())
            return [
                self._session.backend.log_artifact(
                    self.id, f"{prefix}/{f.relative_to(source).as_posix()}", f
                )
                for f in files
            ]
        if not source.exists():
            raise InvalidInput(f"Cannot log artifact {str(path)!r}: no such file or folder.")
        return [self._session.backend.log_artifact(self.id, name or source.name, source)]

    def log_bytes(self, data: bytes, name: str) -> Artifact:
        """Store ``data`` as the artifact ``name``."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInput(f"log_bytes needs bytes, not {type(data).__name__}.")
        return self._session.backend.log_artifact(self.id, name, bytes(data))

    def log_text(self, text: str, name: str) -> Artifact:
        """Store ``text`` (UTF-8) as the artifact ``name``, e.g. ``"notes/summary.md"``."""
        if not isinstance(text, str):
            raise InvalidInput(f"log_text needs a str, not {type(text).__name__}.")
        return self._session.backend.log_artifact(self.id, name, text.encode("utf-8"))

    def log_dict(self, data: Mapping[str, Any] | Sequence[Any], name: str) -> Artifact:
        """Store ``data`` as a JSON artifact ``name`` (for example ``"config.json"``)."""
        try:
            payload = json.dumps(data, indent=2, sort_keys=True, default=str).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"log_dict({name!r}): the data is not JSON-able: {exc}") from exc
        return self._session.backend.log_artifact(self.id, name, payload)

    def log_figure(self, figure: Any, name: str) -> Artifact:
        """Store a matplotlib figure as an image (the format follows ``name``: .png, .svg, .pdf)."""
        import io

        buffer = io.BytesIO()
        fmt = Path(name).suffix.lstrip(".") or "png"
        try:
            figure.savefig(buffer, format=fmt, bbox_inches="tight")
        except AttributeError as exc:
            raise InvalidInput(
                f"log_figure needs a matplotlib Figure, not {type(figure).__name__}."
            ) from exc
        return self._session.backend.log_artifact(self.id, name, buffer.getvalue())

    def flush(self) -> None:
        """Block until every metric logged so far is stored."""
        self._session.writer.flush()

    # -- lifecycle --

    def end(self, status: RunStatus = "finished") -> None:
        """Store what is buffered, then end the run. Ending twice does nothing."""
        if self._ended is not None:
            return
        try:
            self._session.writer.flush()
        finally:
            self._ended = status
            self._stop_console()
            self._session.backend.end_run(self.id, status)
            self._session.open_runs.pop(self.id, None)
            if self._token is not None:
                try:
                    _current.reset(self._token)
                except ValueError:  # ended from another context (a signal, atexit)
                    _current.set(None)
                self._token = None

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.end("finished")
        elif issubclass(exc_type, KeyboardInterrupt | SystemExit) and not (
            isinstance(exc, SystemExit) and exc.code in (0, None)
        ):
            self.end("killed")
        elif isinstance(exc, SystemExit):
            self.end("finished")
        else:
            self.end("failed")

    def _check_open(self) -> None:
        if self._ended is not None:
            raise LooplineError(
                f"Run {self.name!r} ({self.id}) has ended ({self._ended}); start a new run "
                f"with ll.start_run()."
            )

    def _stop_console(self) -> None:
        console, self._console = self._console, None
        if console is None:
            return
        console.stop()
        if Path(console.path).exists():
            try:
                self._session.backend.log_artifact(self.id, "console.log", Path(console.path))
            finally:
                Path(console.path).unlink(missing_ok=True)


def start_run(
    client: Client,
    *,
    project: str | None = None,
    name: str | None = None,
    params: Mapping[str, object] | None = None,
    tags: Mapping[str, object] | None = None,
    parent: ActiveRun | str | None = None,
    capture: bool = True,
) -> ActiveRun:
    """Start a run through ``client`` and make it the current run (see ``ll.start_run``)."""
    session = client._run_session()
    # A run nests only when asked: starting a run while another is current makes a sibling,
    # and the new one becomes current until it ends.
    parent_id = parent.id if isinstance(parent, ActiveRun) else parent
    cloned_from = None
    if parent_id is None and client._take_rerun():
        # `loopline runs rerun` started this process: the first top-level run is the clone,
        # and the overrides win over the params the script passes.
        cloned_from = client.settings.rerun_of
        params = {**(params or {}), **client.settings.param_overrides}
    environment_digest = _capture_environment(client) if capture else None
    info = session.backend.create_run(
        project or client.settings.project,
        name=name,
        params=params,
        tags=tags,
        parent_id=parent_id,
        environment_digest=environment_digest,
        cloned_from=cloned_from,
    )
    run = ActiveRun(session, info)
    session.open_runs[run.id] = run
    run._token = _current.set(run)
    if capture:
        run._console = _start_console(client, run.id)
    return run


def active_run() -> ActiveRun | None:
    """The current run of this thread or task, if any."""
    run = _current.get()
    return run if run is not None and run.status == "running" else None


def require_run() -> ActiveRun:
    run = active_run()
    if run is None:
        raise LooplineError(
            "No active run: start one first, e.g. `with ll.start_run(project='demo'):`."
        )
    return run


def runs_frame(runs: RunTable) -> pd.DataFrame:
    """Runs as a DataFrame: one row each, columns run_id, name, status, times, then
    ``params.*``, ``metrics.*`` and ``tags.*`` (as MLflow's search_runs)."""
    import pandas as pd

    # Column by column: a DataFrame from a dict of lists is several times faster than one
    # from a list of per-run dicts, and a search can answer thousands of runs.
    columns: dict[str, list[Any]] = {
        "run_id": runs.ids,
        "name": runs.names,
        "status": runs.statuses,
        "start_time": runs.start_times,
        "end_time": runs.end_times,
        "parent_id": runs.parent_ids,
    }
    extra: dict[str, list[Any]] = {}
    for prefix, values in (("params", runs.params), ("metrics", runs.metrics), ("tags", runs.tags)):
        for key, column in values.items():
            extra[f"{prefix}.{key}"] = column
    for name in sorted(extra):
        columns[name] = extra[name]
    return pd.DataFrame(columns)


def history_frame(series: MetricSeries) -> pd.DataFrame:
    """A metric's history: columns step, value, timestamp (aware UTC)."""
    import pandas as pd

    return pd.DataFrame(
        {
            "step": series.steps,
            "value": series.values,
            "timestamp": pd.to_datetime(series.timestamps_ms, unit="ms", utc=True),
        }
    )


def _whole(step: object, key: str) -> int:
    if isinstance(step, bool) or not isinstance(step, int | float) or step != int(step):
        raise InvalidInput(f"Metric {key!r}: step must be a whole number, not {step!r}.")
    return int(step)


# Runs started within this many seconds of a capture share it: a sweep that starts thousands
# of runs from one process would otherwise spend most of its time asking git the same thing.
ENVIRONMENT_REUSE_SECONDS = 10.0


def _capture_environment(client: Client) -> str | None:
    cached = client._environment_cache
    if cached is not None and time.monotonic() - cached[0] < ENVIRONMENT_REUSE_SECONDS:
        return cached[1]
    digest = _capture_environment_now(client)
    client._environment_cache = (time.monotonic(), digest)
    return digest


def _capture_environment_now(client: Client) -> str:
    from loopline.tracking._environment import capture_environment

    env = capture_environment()
    data = env.to_dict()
    git = env.git
    script = env.entry_point.path
    if script is not None and (git is None or git.commit is None or not git.diff_complete):
        # Git alone cannot bring this code back: keep a snapshot of it (deduplicated).
        from loopline.tracking._snapshot import code_snapshot

        root = Path(git.root) if git is not None else None
        path = root / script if root is not None else Path(env.entry_point.cwd) / script
        snapshot = code_snapshot(path, root)
        if snapshot is not None:
            data["code_snapshot"] = client._backend.put_blob(snapshot).digest
    payload = json.dumps(data, sort_keys=True, default=str).encode("utf-8")
    return client._backend.put_blob(payload).digest


def _start_console(client: Client, run_id: str) -> Any:
    try:
        from loopline.tracking._console import ConsoleCapture
    except ImportError:  # pragma: no cover - shipped together
        return None
    folder = client.settings.staging_dir
    folder.mkdir(parents=True, exist_ok=True)
    backend = client._backend

    def ship(offset: int, data: bytes) -> None:
        backend.append_console(run_id, offset, data)

    console = ConsoleCapture(folder / f"console-{run_id}.log", ship=ship)
    console.start()
    return console


class _ExitGuard:
    """Ends open runs at interpreter exit and on SIGTERM, after storing their metrics."""

    def __init__(self) -> None:
        self._sessions: weakref.WeakSet[RunSession] = weakref.WeakSet()
        self._installed = False
        self._lock = threading.Lock()
        self._crashed = False
        self._previous_hook = sys.excepthook

    def watch(self, session: RunSession) -> None:
        with self._lock:
            self._sessions.add(session)
            if self._installed:
                return
            self._installed = True
            atexit.register(self._at_exit)
            self._previous_hook = sys.excepthook
            sys.excepthook = self._excepthook
            # Only the main thread may set handlers, and a handler the program set wins.
            main = threading.current_thread() is threading.main_thread()
            if main and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                signal.signal(signal.SIGTERM, self._on_sigterm)

    def forget(self, session: RunSession) -> None:
        with self._lock:
            self._sessions.discard(session)

    def _end_all(self, status: RunStatus) -> None:
        for session in list(self._sessions):
            try:
                session.close(status)
            except LooplineError as exc:
                sys.stderr.write(f"loopline: could not end runs cleanly: {exc}\n")

    def _excepthook(
        self, kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        self._crashed = True
        self._previous_hook(kind, value, tb)

    def _at_exit(self) -> None:
        self._end_all("failed" if self._crashed else "finished")

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self._end_all("killed")
        # Then die of SIGTERM as the process would have: the exit status says so.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


_exit_guard = _ExitGuard()
