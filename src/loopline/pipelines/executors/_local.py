"""The local executor: long-lived worker processes on this machine.

Workers start once (a fresh interpreter each, which imports only Loopline: never the user's
``__main__`` script again, unlike multiprocessing's spawn and forkserver) and then run task after
task: no process start per step. Each worker has its own pipe, so the runner knows which
task runs where: a step past its timeout, or one being stopped, gets SIGTERM then SIGKILL after
a grace period, and only its worker is replaced. A step's code is shipped to a worker once (by
module and name, or pickled by value) and kept there by digest.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait

from loopline.pipelines._worker import Outcome, StepCode, Task, execute

__all__ = ["LocalExecutor", "shared_local_executor", "GRACE_SECONDS"]

GRACE_SECONDS = 2.0
"""How long a stopped or timed-out step has between SIGTERM and SIGKILL."""


@dataclass(eq=False)
class _Worker:
    process: subprocess.Popen[bytes]
    conn: Connection
    task: Task | None = None
    started: float = 0.0
    known: set[str] = field(default_factory=set)


def serve(fd: int) -> None:
    """A worker process's main loop: tasks in, outcomes out, over the socket ``fd``."""
    # Ctrl-C belongs to the runner, which stops steps itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(fd)
    # The runner's import path, so steps import by module and name as they do there.
    sys.path[:] = conn.recv()
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        conn.send(execute(task))


def _signal_text(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


class LocalExecutor:
    """Runs tasks in up to ``max_workers`` worker processes.

    Example:
        >>> executor = LocalExecutor(max_workers=2)
        >>> executor.submit(task)
        >>> executor.wait(timeout=10)
        [Outcome(step='train', attempt=1, ok=True, ...)]
        >>> executor.close()
    """

    def __init__(self, max_workers: int | None = None) -> None:
        self.size = max(1, max_workers or os.cpu_count() or 1)
        self._workers: list[_Worker] = []
        self._queue: deque[Task] = deque()
        self._done: list[Outcome] = []
        self.in_use = False
        self.shared = False

    def submit(self, task: Task) -> None:
        self._queue.append(task)
        self._dispatch()

    def _spawn(self) -> _Worker:
        ours, theirs = socket.socketpair()
        with theirs:
            process = subprocess.Popen(
                [sys.executable, "-c", _ENTRY, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        conn = Connection(ours.detach())
        conn.send(list(sys.path))
        worker = _Worker(process, conn)
        self._workers.append(worker)
        return worker

    def _dispatch(self) -> None:
        while self._queue:
            worker = next((w for w in self._workers if w.task is None), None)
            if worker is None:
                if len(self._workers) >= self.size:
                    return
                worker = self._spawn()
            task = self._queue.popleft()
            sent = task
            if task.code.digest in worker.known:
                sent = replace(task, code=StepCode(task.code.digest))
            try:
                worker.conn.send(sent)
            except (OSError, ValueError):  # the worker died while idle: replace it, try again
                self._kill(worker)  # reaps it (or ends it, if it is only stuck)
                self._queue.appendleft(task)
                continue
            worker.known.add(task.code.digest)
            worker.task = task
            worker.started = time.monotonic()

    def wait(self, timeout: float | None) -> list[Outcome]:
        if not self._done:
            self._collect(timeout)
        self._dispatch()
        done, self._done = self._done, []
        return done

    def _collect(self, timeout: float | None) -> None:
        busy = [w for w in self._workers if w.task is not None]
        if not busy:
            return
        now = time.monotonic()
        deadlines = [
            w.started + w.task.timeout for w in busy if w.task and w.task.timeout is not None
        ]
        if deadlines:
            until = max(0.0, min(deadlines) - now)
            timeout = until if timeout is None else min(timeout, until)
        ready = set(wait([w.conn for w in busy], timeout))
        for worker in busy:
            task = worker.task
            assert task is not None
            if worker.conn in ready or worker.conn.poll():
                try:
                    outcome: Outcome = worker.conn.recv()
                except (EOFError, OSError):
                    self._died(worker, task)
                    continue
                worker.task = None
                self._done.append(outcome)
            elif task.timeout is not None and time.monotonic() - worker.started >= task.timeout:
                self._kill(worker)
                self._done.append(
                    Outcome(
                        task.step,
                        task.attempt,
                        False,
                        error=f"Step {task.step!r} timed out after {task.timeout:g} s and "
                        "was stopped (SIGTERM, then SIGKILL).",
                    )
                )

    def _died(self, worker: _Worker, task: Task) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(GRACE_SECONDS)
        how = _signal_text(worker.process.returncode)
        # Its connection broke, but it may still be alive: never leave it running, or unreaped.
        self._kill(worker)
        self._done.append(
            Outcome(
                task.step,
                task.attempt,
                False,
                error=f"The worker process running step {task.step!r} died ({how}).",
            )
        )

    def cancel(self, step: str) -> None:
        for task in list(self._queue):
            if task.step == step:
                self._queue.remove(task)
        for worker in list(self._workers):
            if worker.task is not None and worker.task.step == step:
                self._kill(worker)

    def _kill(self, worker: _Worker) -> None:
        process = worker.process
        with contextlib.suppress(OSError):
            process.terminate()
        try:
            process.wait(GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                process.kill()
            process.wait()
        self._discard(worker)

    def _discard(self, worker: _Worker) -> None:
        with contextlib.suppress(OSError):
            worker.conn.close()
        if worker in self._workers:
            self._workers.remove(worker)

    def release(self) -> None:
        """The run is over: stop what still runs; a shared pool keeps its idle workers."""
        self._queue.clear()
        self._done.clear()
        for worker in list(self._workers):
            if worker.task is not None:
                self._kill(worker)
        self.in_use = False
        if not self.shared:
            self.close()

    def close(self) -> None:
        for worker in list(self._workers):
            with contextlib.suppress(OSError, ValueError):
                worker.conn.send(None)
        for worker in list(self._workers):
            try:
                worker.process.wait(1.0)
            except subprocess.TimeoutExpired:
                self._kill(worker)
            else:
                self._discard(worker)


_ENTRY = (
    "import sys; from loopline.pipelines.executors._local import serve; serve(int(sys.argv[1]))"
)

_shared: LocalExecutor | None = None
_shared_lock = threading.Lock()


def shared_local_executor(max_workers: int | None = None) -> LocalExecutor:
    """The process's pool of workers, kept between runs (workers start once per process); a
    private pool when it is busy with another run or another size is asked for."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = LocalExecutor(max_workers)
            _shared.shared = True
            atexit.register(_shared.close)
        if not _shared.in_use and (max_workers is None or max_workers == _shared.size):
            _shared.in_use = True
            return _shared
    private = LocalExecutor(max_workers)
    private.in_use = True
    return private
