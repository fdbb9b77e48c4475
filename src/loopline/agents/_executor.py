"""The queue executor (``p.run(executor="queue")``): each ready step becomes a task on a queue.

A step's task is a blob: the step's :class:`~loopline.pipelines._worker.Task` (its code by
module and name, or pickled by value; its inputs) without the runner's settings, which agents
replace with their own. When the step's code lives in a module of the user's project, a code
snapshot of that module and the local modules it imports goes to the blob store too, once, and
the agent puts it first on the step's import path: agents need the SDK, not the project.

Where a step goes: a step asking for resources other than ``cpu`` and ``memory`` (``{"gpu":
1}``) goes to the highest-priority queue tagged with all of them; any other to ``default``.
"""

from __future__ import annotations

import contextlib
import pickle
import time
import types
from dataclasses import dataclass, replace
from typing import Any, cast

from loopline.agents._types import QueueRecord, TaskRecord
from loopline.errors import InvalidInput, LooplineError, ServerUnreachable
from loopline.pipelines._worker import Outcome, Task

__all__ = ["QueueExecutor", "PAYLOAD_FORMAT", "step_payload", "route", "POLL_SECONDS"]

PAYLOAD_FORMAT = "loopline-agent-task/1"
POLL_SECONDS = 0.1
"""How often a waiting executor asks the store about its tasks."""
PLAIN_RESOURCES = frozenset({"cpu", "memory"})
"""Resources every agent has some of: they never decide the queue."""


def step_payload(task: Task, snapshot: str | None) -> bytes:
    """The blob an agent runs for a pipeline step (the runner's settings left out)."""
    body = {"format": PAYLOAD_FORMAT, "task": replace(task, settings=None), "snapshot": snapshot}
    return pickle.dumps(body, protocol=5)


def route(resources: dict[str, Any], queues: list[QueueRecord], default: str = "default") -> str:
    """The queue for a step asking for ``resources``.

    Raises:
        InvalidInput: it asks for a resource (``gpu``) that no queue is tagged with.
    """
    special = {k for k, v in resources.items() if k not in PLAIN_RESOURCES and v}
    if not special:
        return default
    for queue in queues:  # highest priority first
        if special <= set(queue.tags):
            return queue.name
    wanted = ", ".join(sorted(special))
    raise InvalidInput(
        f"A step asks for {wanted}, but no queue is tagged with it. Make one and start an "
        f"agent that has it: `loopline queues create gpu --tag {sorted(special)[0]}` then "
        f"`loopline agent --queue gpu --resource {sorted(special)[0]}=1`."
    )


@dataclass
class _Sent:
    task: Task
    record: TaskRecord


class QueueExecutor:
    """Sends steps to agents through the store's queues; the runner decides everything else.

    Example:
        >>> result = training.run(executor="queue")   # with `loopline agent` running somewhere
        >>> result.status
        'succeeded'
    """

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        max_attempts: int = 3,
        default_queue: str = "default",
    ) -> None:
        # max_workers is the local executor's; agents decide their own concurrency.
        del max_workers
        self.max_attempts = max_attempts
        self.default_queue = default_queue
        self._client: Any = None
        self._sent: dict[str, _Sent] = {}  # task id -> what was sent
        self._snapshots: dict[str, str | None] = {}
        self._queues: list[QueueRecord] | None = None

    def _store(self, task: Task) -> Any:
        if self._client is None:
            from loopline.pipelines._context import make_client

            if task.settings is None:
                raise InvalidInput("The queue executor needs tasks made by a pipeline runner.")
            self._client = make_client(task.settings)
        return self._client._backend

    def _snapshot(self, store: Any, task: Task) -> str | None:
        module = task.code.module
        if task.code.pickled is not None or module is None:
            return None
        if module not in self._snapshots:
            self._snapshots[module] = _snapshot_of(store, module)
        return self._snapshots[module]

    def submit(self, task: Task) -> None:
        store = self._store(task)
        resources = dict(task.resources)
        if self._queues is None:
            self._queues = store.list_queues()
        queue = route(resources, self._queues or [], self.default_queue)
        blob = store.put_blob(step_payload(task, self._snapshot(store, task)))
        run = task.run
        record: TaskRecord = store.enqueue_task(
            queue,
            "step",
            blob.digest,
            name=f"{task.step} (run {run.parent_id})" if run is not None else task.step,
            project=run.project if run is not None else None,
            resources={k: float(v) for k, v in resources.items() if isinstance(v, int | float)},
            max_attempts=self.max_attempts,
        )
        self._sent[record.id] = _Sent(task, record)

    def wait(self, timeout: float | None) -> list[Outcome]:
        if not self._sent:
            return []
        deadline = None if timeout is None else time.monotonic() + timeout
        store = self._client._backend
        while True:
            try:
                done = [r for r in store.list_tasks(ids=list(self._sent)) if r.done]
            except ServerUnreachable:  # a server restarting: its tasks go on; ask again later
                done = []
            if done:
                return [self._outcome(store, r) for r in done]
            if deadline is not None and time.monotonic() >= deadline:
                return []
            left = POLL_SECONDS if deadline is None else deadline - time.monotonic()
            time.sleep(max(0.0, min(POLL_SECONDS, left)))

    def _outcome(self, store: Any, record: TaskRecord) -> Outcome:
        sent = self._sent.pop(record.id)
        step, attempt = sent.task.step, sent.task.attempt
        if record.result is not None and record.status != "cancelled":
            try:
                outcome: Outcome = pickle.loads(store.get_blob(record.result))  # noqa: S301
            except (LooplineError, pickle.UnpicklingError, EOFError) as exc:
                return Outcome(step, attempt, False, error=f"Task {record.id}: {exc}")
            return replace(outcome, step=step, attempt=attempt)
        why = record.error or record.status
        return Outcome(step, attempt, False, error=f"Task {record.id} {record.status}: {why}")

    def cancel(self, step: str) -> None:
        for task_id, sent in list(self._sent.items()):
            if sent.task.step == step:
                self._client._backend.cancel_task(task_id)
                del self._sent[task_id]

    def release(self) -> None:
        for task_id in list(self._sent):
            with contextlib.suppress(LooplineError):
                self._client._backend.cancel_task(task_id)
        self._sent.clear()
        if self._client is not None:
            self._client.close()
            self._client = None


def _snapshot_of(store: Any, module: str) -> str | None:
    """A code snapshot of ``module`` and the local modules it imports, stored; ``None`` when
    it is not a module of the user's project (an installed package: agents import it)."""
    from loopline.pipelines._templates import snapshot

    stand_in = types.SimpleNamespace(
        name=module, func=types.SimpleNamespace(__module__=module), steps={}
    )
    try:
        data, _ = snapshot(cast(Any, stand_in))
    except InvalidInput:
        return None
    digest: str = store.put_blob(data).digest
    return digest
