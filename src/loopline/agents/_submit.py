"""Whole pipeline runs and reruns as queue tasks: an agent drives them where it runs.

``launch`` is :func:`loopline.launch` for a queue: the run is created here (its parameters
checked against the template), and the agent that takes the task unpacks the template's code
snapshot and runs the pipeline; its steps run in that agent's worker processes, or go back to
the queues (``steps="queue"``) to fan out over other agents.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, Literal

from loopline.agents._types import TaskRecord
from loopline.errors import InvalidInput

__all__ = ["launch", "rerun", "wait_for"]


def _client_of(client: Any) -> Any:
    from loopline.pipelines._context import default_client

    return client if client is not None else default_client()


def launch(
    name: str,
    params: Mapping[str, Any] | None = None,
    version: int | str = "latest",
    *,
    queue: str = "default",
    steps: Literal["local", "queue"] = "local",
    project: str | None = None,
    client: Any = None,
    priority: int = 0,
    env: Mapping[str, str] | None = None,
) -> TaskRecord:
    """Queue a run of published template ``name``; answer its task (``task.name`` holds the
    pipeline run id).

    Args:
        steps: where the agent runs the steps: its own worker processes (``"local"``), or
            the queues again (``"queue"``), to spread them over agents.
        env: environment variables the run's process gets on the agent.

    Example:
        >>> task = ll.agents.launch("digits-training", {"lr": 0.1}, queue="gpu")
        >>> ll.agents.wait_for(task).status
        'succeeded'
    """
    from loopline.pipelines._dag import DAG
    from loopline.pipelines._templates import TEMPLATE_TAG

    if steps not in ("local", "queue"):
        raise InvalidInput(f"steps is 'local' or 'queue', not {steps!r}.")
    client = _client_of(client)
    store = client._backend
    project = project or client.settings.project
    template = store.get_pipeline_template(project, name, version)
    bound = DAG.from_spec(template.dag).bind(dict(params or {}))
    tags = {
        TEMPLATE_TAG: f"{template.name}:{template.version}",
        "loopline.mode": "run",
        "loopline.queue": queue,
    }
    record = store.create_pipeline_run(project, template.name, bound, template.dag, tags)
    job = {"run": record.id, "only": None, "reuse": None, "executor": steps}
    payload = store.put_blob(json.dumps(job).encode())
    task: TaskRecord = store.enqueue_task(
        queue,
        "pipeline",
        payload.digest,
        name=f"{template.name} (run {record.id})",
        project=project,
        priority=priority,
        env=env,
        max_attempts=1,  # a half-driven run is not driven twice
    )
    return task


def rerun(
    run_id: str,
    params: Mapping[str, str] | None = None,
    *,
    queue: str = "default",
    client: Any = None,
    priority: int = 0,
    env: Mapping[str, str] | None = None,
) -> TaskRecord:
    """Queue a rerun of tracked run ``run_id`` (its recorded code state, ``params`` changed):
    the agent that takes it does what ``loopline runs rerun`` does, there.

    Example:
        >>> task = ll.agents.rerun(run.id, {"lr": "0.05"}, queue="gpu")
    """
    client = _client_of(client)
    store = client._backend
    original = store.get_run(run_id)
    payload = store.put_blob(json.dumps({"run": run_id, "params": dict(params or {})}).encode())
    task: TaskRecord = store.enqueue_task(
        queue,
        "rerun",
        payload.digest,
        name=f"rerun of {original.name or run_id} ({run_id})",
        project=original.project,
        priority=priority,
        env=env,
        max_attempts=1,
    )
    return task


def wait_for(task: TaskRecord, *, client: Any = None, timeout: float | None = None) -> TaskRecord:
    """The task once it ended (or as it is after ``timeout`` seconds)."""
    store = _client_of(client)._backend
    deadline = None if timeout is None else time.monotonic() + timeout
    record = task
    while not record.done:
        if deadline is not None and time.monotonic() > deadline:
            break
        time.sleep(0.1)
        record = store.get_task(task.id)
    return record
