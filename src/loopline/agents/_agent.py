"""The agent: pulls tasks from queues, runs each in a process of its own, reports how it ended.

One loop, no threads: reap finished task processes (upload their outcome, report the end),
heartbeat (extend leases; stop the tasks the store says to stop: cancelled, or lost to another
agent), then claim tasks while slots are free. When the store cannot be reached (a server
restarting, a network cut), tasks keep running and the loop retries with exponential backoff;
their leases are long enough to ride out a restart, and reports wait until the store answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from loopline.agents._types import AgentRecord, TaskRecord
from loopline.errors import Conflict, LooplineError, NotFound, ServerUnreachable, StorageError

if TYPE_CHECKING:
    from loopline.blobs import BlobRef
    from loopline.config import Settings

__all__ = ["Agent", "AgentStore", "GRACE_SECONDS"]

GRACE_SECONDS = 3.0
"""How long a stopped task process has between SIGTERM and SIGKILL."""
MAX_BACKOFF_SECONDS = 10.0
_UNREACHABLE = (ServerUnreachable, StorageError)


class AgentStore(Protocol):
    """What an agent needs of a backend (LocalBackend and RemoteBackend both have it)."""

    def put_blob(self, source: Path | bytes) -> BlobRef: ...

    def get_blob(self, digest: str) -> bytes: ...

    def register_agent(
        self,
        name: str,
        host: str,
        queues: Sequence[str],
        *,
        resources: Mapping[str, float] | None = None,
        concurrency: int = 1,
        pid: int | None = None,
        labels: Mapping[str, Any] | None = None,
    ) -> AgentRecord: ...

    def claim_task(self, agent_id: str, *, lease_seconds: float = 30.0) -> TaskRecord | None: ...

    def heartbeat_agent(
        self, agent_id: str, task_ids: Sequence[str] = (), *, lease_seconds: float = 30.0
    ) -> list[str]: ...

    def finish_task(
        self,
        task_id: str,
        agent_id: str,
        status: str,
        *,
        result: str | None = None,
        error: str | None = None,
    ) -> TaskRecord: ...

    def stop_agent(self, agent_id: str) -> AgentRecord: ...


@dataclass(eq=False)
class _Running:
    record: TaskRecord
    process: subprocess.Popen[bytes]
    folder: Path
    stopping: bool = False
    stop_sent: float = 0.0


@dataclass
class _Report:
    task_id: str
    status: str
    result: str | None = None
    error: str | None = None


@dataclass
class AgentStats:
    """What an agent did (for its log line at exit, and for tests)."""

    claimed: list[str] = field(default_factory=list)
    finished: dict[str, str] = field(default_factory=dict)


class Agent:
    """Pulls tasks from ``queues`` and runs up to ``concurrency`` of them at a time.

    Example:
        >>> agent = Agent(backend, settings, ["gpu", "default"], concurrency=2)
        >>> agent.run(stop_event)   # until stop_event is set (or SIGTERM, from the CLI)
    """

    def __init__(
        self,
        store: AgentStore,
        settings: Settings,
        queues: Sequence[str],
        *,
        concurrency: int = 1,
        resources: Mapping[str, float] | None = None,
        name: str | None = None,
        lease_seconds: float = 30.0,
        poll_seconds: float = 0.5,
        labels: Mapping[str, Any] | None = None,
        log: Any = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.queues = list(queues)
        self.concurrency = concurrency
        self.resources = dict(resources or {})
        self.host = socket.gethostname()
        self.name = name or f"{self.host}-{os.getpid()}"
        self.lease_seconds = lease_seconds
        self.heartbeat_seconds = max(0.2, lease_seconds / 3)
        self.poll_seconds = poll_seconds
        self.labels = dict(labels or {})
        self.record: AgentRecord | None = None
        self.running: dict[str, _Running] = {}
        self.reports: list[_Report] = []
        self.stats = AgentStats()
        self._log = log or (lambda text: print(text, flush=True))
        self._backoff = 0.0
        self._last_heartbeat = 0.0
        self._work = Path(tempfile.mkdtemp(prefix="loopline-agent-"))

    # -- the loop -------------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> AgentStats:
        """Work until ``stop`` is set; then stop the running tasks and leave (their tasks go
        back to their queues)."""
        stop = stop or threading.Event()
        while not stop.is_set() and self.record is None:
            self._guarded(self._register)
            if self.record is None:
                stop.wait(self._backoff)
        try:
            while not stop.is_set():
                self._guarded(self._tick)
                if stop.wait(self._backoff or self.poll_seconds):
                    break
        finally:
            self._leave()
        return self.stats

    def _guarded(self, step: Any) -> None:
        try:
            step()
        except _UNREACHABLE as exc:
            self._backoff = min(MAX_BACKOFF_SECONDS, max(0.5, self._backoff * 2))
            self._log(f"store unreachable ({_first_line(exc)}); retrying in {self._backoff:g} s")
        else:
            self._backoff = 0.0

    def _register(self) -> None:
        self.record = self.store.register_agent(
            self.name,
            self.host,
            self.queues,
            resources=self.resources,
            concurrency=self.concurrency,
            pid=os.getpid(),
            labels=self.labels,
        )
        self._log(
            f"agent {self.record.id} ({self.name}) pulls from {', '.join(self.queues)} "
            f"on {self.store_location()}"
        )

    def store_location(self) -> str:
        return str(getattr(self.store, "location", "the store"))

    def _tick(self) -> None:
        self._reap()
        self._send_reports()
        if time.monotonic() - self._last_heartbeat >= self.heartbeat_seconds:
            self._heartbeat()
        try:
            while len(self.running) < self.concurrency:
                if not self._claim_one():
                    break
        except NotFound:  # the store forgot us, or someone stopped us: start afresh
            self._register()

    @property
    def agent_id(self) -> str:
        assert self.record is not None
        return self.record.id

    def _heartbeat(self) -> None:
        try:
            stop = self.store.heartbeat_agent(
                self.agent_id, list(self.running), lease_seconds=self.lease_seconds
            )
        except NotFound:  # the store forgot us (a new database): start afresh
            self._register()
            return
        self._last_heartbeat = time.monotonic()
        for task_id in stop:
            running = self.running.get(task_id)
            if running is not None and not running.stopping:
                self._log(f"stopping task {task_id} (cancelled, or no longer ours)")
                running.stopping = True
                running.stop_sent = time.monotonic()
                _terminate(running.process)

    def _claim_one(self) -> bool:
        record = self.store.claim_task(self.agent_id, lease_seconds=self.lease_seconds)
        if record is None:
            return False
        self.stats.claimed.append(record.id)
        self._log(
            f"took task {record.id} ({record.kind} {record.name!r}, attempt {record.attempts})"
        )
        try:
            self.running[record.id] = self._start(record)
        except _UNREACHABLE:
            raise  # backed off by the loop; the task's lease returns it to its queue
        except LooplineError as exc:
            self.reports.append(_Report(record.id, "failed", error=f"Could not start: {exc}"))
        return True

    def _start(self, record: TaskRecord) -> _Running:
        from loopline.pipelines._templates import settings_env

        folder = self._work / record.id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "payload").write_bytes(self.store.get_blob(record.payload))
        job = {
            "kind": record.kind,
            "task_id": record.id,
            "payload": str(folder / "payload"),
            "outcome": str(folder / "outcome"),
        }
        (folder / "job.json").write_text(json.dumps(job))
        env = {**settings_env(self.settings), **record.env}
        with (folder / "log.txt").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "loopline.agents._child", str(folder / "job.json")],
                env=env,
                cwd=folder,
                stdin=subprocess.PIPE,  # closes when we die: the child then ends too
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return _Running(record, process, folder)

    def _reap(self) -> None:
        for task_id, running in list(self.running.items()):
            code = running.process.poll()
            if code is None:
                if running.stopping and time.monotonic() - running.stop_sent > GRACE_SECONDS:
                    with contextlib.suppress(OSError):
                        running.process.kill()  # it ignored SIGTERM
                continue
            del self.running[task_id]
            _close_stdin(running.process)
            self.reports.append(self._report(running, code))
            shutil.rmtree(running.folder, ignore_errors=True)

    def _report(self, running: _Running, code: int) -> _Report:
        task_id = running.record.id
        outcome = running.folder / "outcome"
        if running.stopping:
            return _Report(task_id, "cancelled", error="Stopped by its agent.")
        if code == 0 and running.record.kind == "step" and outcome.exists():
            from loopline.pipelines._worker import Outcome

            data = outcome.read_bytes()
            import pickle

            parsed: Outcome = pickle.loads(data)  # noqa: S301 - written by our own child
            digest = self.store.put_blob(data).digest
            return _Report(
                task_id, "succeeded" if parsed.ok else "failed", digest, parsed.error or None
            )
        if code == 0:
            return _Report(task_id, "succeeded")
        log = (running.folder / "log.txt").read_text(errors="replace")[-4000:]
        return _Report(
            task_id, "failed", error=f"The task's process ended ({_exit_text(code)}).\n{log}"
        )

    def _send_reports(self) -> None:
        while self.reports:
            report = self.reports[0]
            try:
                self.store.finish_task(
                    report.task_id,
                    self.agent_id,
                    report.status,
                    result=report.result,
                    error=report.error,
                )
            except (Conflict, NotFound) as exc:  # the lease ran out: another attempt owns it
                self._log(f"task {report.task_id}: result dropped ({_first_line(exc)})")
            self.reports.pop(0)
            self.stats.finished[report.task_id] = report.status
            self._log(f"task {report.task_id} {report.status}")

    def _leave(self) -> None:
        for running in self.running.values():
            _terminate(running.process)
        for running in self.running.values():
            _reap_process(running.process)
            _close_stdin(running.process)
        self.running.clear()
        shutil.rmtree(self._work, ignore_errors=True)
        if self.record is not None:
            with contextlib.suppress(LooplineError):
                self._send_reports()
                self.store.stop_agent(self.agent_id)
        self._log("agent stopped")


def _terminate(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        process.terminate()


def _close_stdin(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()


def _reap_process(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            process.kill()
        process.wait()


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
