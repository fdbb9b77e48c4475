"""The process an agent starts for one task: ``python -m loopline.agents._child JOB``.

It reaches the store with the agent's settings (``LOOPLINE_*`` in its environment, plus the
task's declared variables), runs the task, and leaves its outcome in a file for the agent to
upload. It ends when its agent ends (its stdin closes), so a killed agent leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import sys
import threading
from pathlib import Path
from typing import Any

__all__ = ["main", "run_step_payload", "ORPHAN_EXIT"]

ORPHAN_EXIT = 70
"""Exit code of a task process whose agent went away."""


def _die_with_parent() -> None:
    def watch() -> None:
        # os.read, not sys.stdin: a buffered read would hold a lock at interpreter shutdown.
        try:
            while os.read(0, 1024):
                pass
        except OSError:
            pass
        os._exit(ORPHAN_EXIT)

    threading.Thread(target=watch, name="loopline-agent-watch", daemon=True).start()


class StepTimeout(Exception):
    """The step ran past its timeout."""


def run_step_payload(body: dict[str, Any], client: Any, *, alarm: bool = True) -> bytes:
    """Run the step a payload holds, logging through ``client``; answer its pickled outcome.
    Shared by agents' task processes and Ray workers."""
    from dataclasses import replace

    from loopline.pipelines._templates import unpack
    from loopline.pipelines._worker import Task, execute

    if body.get("format") != "loopline-agent-task/1":
        from loopline.errors import InvalidInput

        raise InvalidInput("Not a task payload this version of Loopline understands.")
    snapshot = body.get("snapshot")
    if snapshot:
        folder = str(unpack(client._backend.get_blob(snapshot), snapshot, client.settings.home))
        if folder not in sys.path:
            sys.path.insert(0, folder)
    task: Task = replace(body["task"], settings=client.settings)
    if alarm and task.timeout is not None:

        def expired(_signum: int, _frame: object) -> None:
            raise StepTimeout(f"Step {task.step!r} timed out after {task.timeout:g} s.")

        signal.signal(signal.SIGALRM, expired)
        signal.setitimer(signal.ITIMER_REAL, task.timeout)
    try:
        outcome = execute(task)
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return pickle.dumps(outcome, protocol=5)


def main(argv: list[str]) -> int:
    _die_with_parent()
    job: dict[str, Any] = json.loads(Path(argv[0]).read_text())
    from loopline.pipelines import _context

    client = _context.make_client()
    try:
        if job["kind"] == "step":
            body = pickle.loads(Path(job["payload"]).read_bytes())  # noqa: S301 - our own payload
            Path(job["outcome"]).write_bytes(run_step_payload(body, client))
        elif job["kind"] == "pipeline":
            from loopline.pipelines._templates import _drive

            spec = json.loads(Path(job["payload"]).read_bytes())
            _drive(spec)
            status = client._backend.get_pipeline_run(spec["run"]).status
            if status != "succeeded":
                raise SystemExit(f"Pipeline run {spec['run']} {status}.")
        elif job["kind"] == "rerun":
            spec = json.loads(Path(job["payload"]).read_bytes())
            client.rerun(spec["run"], spec.get("params") or {})
        else:
            raise SystemExit(f"Task {job['task_id']}: unknown kind {job['kind']!r}.")
    finally:
        for made in list(_context._worker_clients.values()):
            made.close()
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
