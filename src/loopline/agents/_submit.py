"""Whole pipeline runs and reruns as queue tasks: an agent drives them where it runs.

``launch`` is :func:`loopline.launch` for a queue: the run is created here (its parameters
checked against the template), and the agent that takes the task unpacks the template's code
snapshot and runs the pipeline; its steps run in that agent's worker processes, or go back to
the queues (``steps="queue"``) to fan out over other agents.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from loopline.agents._types import DEFAULT_QUEUE, TaskRecord
from loopline.errors import InvalidInput, did_you_mean
from loopline.pipelines import Notify, PipelineRunRecord

__all__ = ["launch", "launch_on_queue", "rerun", "wait_for", "EXECUTORS", "TASK_TAG"]


def _client_of(client: Any) -> Any:
    from loopline.pipelines._context import default_client

    return client if client is not None else default_client()


EXECUTORS = ("local", "queue")
"""Where a launched template's run is driven: here (``local``) or by an agent (``queue``)."""
TASK_TAG = "loopline.task"
"""The tag on a queued run naming the task that drives it."""
QUEUE_TAG = "loopline.queue"


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
    client = _client_of(client)
    store = client._backend
    record = store.launch_pipeline_template(
        project or client.settings.project,
        name,
        dict(params or {}),
        version,
        executor="queue",
        queue=queue,
        steps=steps,
        priority=priority,
        env=dict(env or {}),
    )
    task: TaskRecord = store.get_task(str(client.get_run(record.id).tags[TASK_TAG]))
    return task


def launch_on_queue(
    backend: Any,
    project: str,
    name: str,
    params: Mapping[str, Any],
    version: int | str = "latest",
    retry_of: str | None = None,
    *,
    notify: Sequence[Notify] = (),
    executor: str = "queue",
    queue: str | None = None,
    steps: str = "queue",
    priority: int = 0,
    env: Mapping[str, str] | None = None,
) -> PipelineRunRecord:
    """The local backend's ``launch_pipeline_template`` for ``executor="queue"``: check the
    parameters, create the run, and put a ``pipeline`` task on ``queue`` that an agent takes
    to drive it (its steps in the agent's workers, or back on the queues: ``steps``). The
    run is tagged with its task (``loopline.task``).

    Raises:
        InvalidInput: an unknown executor, queue or steps value (``details["field"]``
            names it), or a bad parameter.
    """
    from loopline.pipelines._templates import create_launched_run

    if executor not in EXECUTORS:
        raise InvalidInput(
            f"executor is one of {', '.join(map(repr, EXECUTORS))}, not {executor!r}."
            f"{did_you_mean(str(executor), EXECUTORS)}",
            details={"field": "executor"},
        )
    if executor != "queue":
        raise InvalidInput(
            f"queue {queue!r} is for executor='queue'; a local launch runs here.",
            details={"field": "queue"},
        )
    if steps not in ("local", "queue"):
        raise InvalidInput(
            f"steps is 'local' or 'queue', not {steps!r}.", details={"field": "steps"}
        )
    queue = queue or DEFAULT_QUEUE
    if queue != DEFAULT_QUEUE:  # the default queue is made on first use
        known = [q.name for q in backend.list_queues()]
        if queue not in known:
            raise InvalidInput(
                f"No queue is called {queue!r}.{did_you_mean(queue, known)} Create it with "
                f"`loopline queues create {queue}` and start an agent on it.",
                details={"field": "queue"},
            )
    variables = dict(env or {})
    if not all(isinstance(k, str) and k and isinstance(v, str) for k, v in variables.items()):
        raise InvalidInput("env maps variable names to string values.", details={"field": "env"})
    record, only = create_launched_run(
        backend.pipelines,
        project,
        name,
        params,
        version,
        retry_of,
        tags={QUEUE_TAG: queue},
        notify=notify,
    )
    job = {"run": record.id, "only": only, "reuse": retry_of, "executor": steps}
    try:
        payload = backend.put_blob(json.dumps(job).encode())
        task: TaskRecord = backend.enqueue_task(
            queue,
            "pipeline",
            payload.digest,
            name=f"{record.pipeline} (run {record.id})",
            project=project,
            priority=priority,
            env=variables,
            max_attempts=1,  # a half-driven run is not driven twice
        )
    except BaseException:
        with contextlib.suppress(Exception):
            backend.finish_pipeline_run(record.id, "failed")
        raise
    backend.set_tags(record.id, {TASK_TAG: task.id})
    return record


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
