"""The Ray executor (``p.run(executor="ray")``, extra ``ray``): each step a Ray task.

A step's resources become its Ray request (``cpu`` → ``num_cpus``, ``gpu`` → ``num_gpus``,
``memory`` → ``memory`` in bytes, anything else a custom resource). Its task and its outcome
go through the blob store, as with agents: the Ray task receives a digest, fetches the payload,
runs the step (logging into its tracked run), stores the outcome and answers its digest, so
Ray's object store never holds a dataset twice and a result survives the Ray cluster.

Ray is used as it is found: connected already (``ray.init(address=...)`` in your code, or
:func:`connect_ray`), or a local instance started on first use with the settings this
machine needs (loopback listeners, no usage reports, no dashboard). Nothing here ever runs
``ray stop``: :func:`connect_ray` starts an instance that ``ray.shutdown()`` ends.
"""

from __future__ import annotations

import os
import pickle
import time
from dataclasses import dataclass
from typing import Any

from loopline.agents._executor import step_payload
from loopline.errors import InvalidInput, LooplineError
from loopline.pipelines._worker import Outcome, Task

__all__ = ["RayExecutor", "connect_ray", "ray_options", "SAFE_RAY_ENV"]

SAFE_RAY_ENV = {
    # Otherwise Ray binds the machine's external interface even when asked for 127.0.0.1.
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
}
"""Set (unless already set) before a local Ray starts; a remote cluster keeps its own."""


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - the extra is installed in CI
        raise InvalidInput(
            'executor="ray" needs Ray: pip install "loopline[ray]" (or "ray[default]").'
        ) from exc
    return ray


def connect_ray(address: str | None = None, *, num_cpus: int | None = None) -> None:
    """Connect to Ray: ``"ray://host:10001"`` (a cluster's client port), ``"auto"`` (the
    cluster this machine belongs to), or ``None``: start a local instance (loopback only, no
    dashboard, no usage reports). A connection that exists already is kept.

    Example:
        >>> ll.agents.connect_ray("ray://head:10001")
        >>> training.run(executor="ray")
    """
    ray = _ray()
    if ray.is_initialized():
        return
    if address is None:
        for key, value in SAFE_RAY_ENV.items():
            os.environ.setdefault(key, value)
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False)


def ray_options(resources: dict[str, Any]) -> dict[str, Any]:
    """A step's resources as Ray task options (one CPU unless it asks otherwise).

    Example:
        >>> ray_options({"gpu": 1, "memory": 4e9, "tpu": 2})
        {'num_cpus': 1, 'num_gpus': 1, 'memory': 4000000000, 'resources': {'tpu': 2}}
    """
    options: dict[str, Any] = {"num_cpus": 1}
    custom: dict[str, float] = {}
    for name, amount in resources.items():
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
            raise InvalidInput(f"Resource {name!r}: {amount!r} is not a number >= 0.")
        if name == "cpu":
            options["num_cpus"] = amount
        elif name == "gpu":
            options["num_gpus"] = amount
        elif name == "memory":
            options["memory"] = int(amount)
        else:
            custom[name] = amount
    if custom:
        options["resources"] = custom
    return options


def _run_in_ray(settings: Any, digest: str) -> str:
    """The body of every step's Ray task: payload digest in, outcome digest out."""
    from loopline.agents._child import run_step_payload
    from loopline.pipelines._context import make_client

    client = make_client(settings)
    try:
        body = pickle.loads(client._backend.get_blob(digest))  # noqa: S301 - our own payload
        data = run_step_payload(body, client, alarm=False)
        stored: str = client._backend.put_blob(data).digest
        return stored
    finally:
        client.close()


@dataclass
class _Submitted:
    task: Task
    ref: Any
    started: float


class RayExecutor:
    """Runs each step as a Ray task with its resource request.

    Example:
        >>> result = training.run(executor="ray")
        >>> result.status
        'succeeded'
    """

    def __init__(self, max_workers: int | None = None) -> None:
        del max_workers  # Ray schedules by resources, not by a worker count
        self._client: Any = None
        self._remote: Any = None
        self._snapshots: dict[str, str | None] = {}
        self._submitted: dict[str, _Submitted] = {}  # step -> its Ray task

    def _store(self, task: Task) -> Any:
        if self._client is None:
            from loopline.pipelines._context import make_client

            if task.settings is None:
                raise InvalidInput("The Ray executor needs tasks made by a pipeline runner.")
            self._client = make_client(task.settings)
            connect_ray()
            self._remote = _ray().remote(_run_in_ray)
        return self._client._backend

    def submit(self, task: Task) -> None:
        from loopline.agents._executor import _snapshot_of

        store = self._store(task)
        module = task.code.module
        snapshot = None
        if task.code.pickled is None and module is not None:
            if module not in self._snapshots:
                self._snapshots[module] = _snapshot_of(store, module)
            snapshot = self._snapshots[module]
        digest = store.put_blob(step_payload(task, snapshot)).digest
        options = ray_options(dict(task.resources))
        ref = self._remote.options(**options, max_retries=0).remote(task.settings, digest)
        self._submitted[task.step] = _Submitted(task, ref, time.monotonic())

    def wait(self, timeout: float | None) -> list[Outcome]:
        if not self._submitted:
            return []
        ray = _ray()
        refs = [s.ref for s in self._submitted.values()]
        ray.wait(refs, num_returns=1, timeout=self._until_deadline(timeout))
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        done = set(ready)
        outcomes = []
        now = time.monotonic()
        for step, sent in list(self._submitted.items()):
            if sent.ref in done:
                del self._submitted[step]
                outcomes.append(self._outcome(sent))
            elif sent.task.timeout is not None and now - sent.started >= sent.task.timeout:
                ray.cancel(sent.ref, force=True)
                del self._submitted[step]
                outcomes.append(
                    Outcome(
                        step,
                        sent.task.attempt,
                        False,
                        error=f"Step {step!r} timed out after {sent.task.timeout:g} s and its "
                        "Ray task was cancelled.",
                    )
                )
        return outcomes

    def _until_deadline(self, timeout: float | None) -> float | None:
        deadlines = [
            s.started + s.task.timeout - time.monotonic()
            for s in self._submitted.values()
            if s.task.timeout is not None
        ]
        if not deadlines:
            return timeout
        soonest = max(0.0, min(deadlines))
        return soonest if timeout is None else min(timeout, soonest)

    def _outcome(self, sent: _Submitted) -> Outcome:
        step, attempt = sent.task.step, sent.task.attempt
        try:
            digest = _ray().get(sent.ref)
            outcome: Outcome = pickle.loads(self._client._backend.get_blob(digest))  # noqa: S301
        except LooplineError as exc:
            return Outcome(step, attempt, False, error=f"Step {step!r}: {exc}")
        except Exception as exc:  # noqa: BLE001 - Ray's errors (a crashed worker...) fail the step
            return Outcome(step, attempt, False, error=f"Step {step!r} failed in Ray: {exc}")
        return outcome

    def cancel(self, step: str) -> None:
        sent = self._submitted.pop(step, None)
        if sent is not None:
            _ray().cancel(sent.ref, force=True)

    def release(self) -> None:
        for step in list(self._submitted):
            self.cancel(step)
        if self._client is not None:
            self._client.close()
            self._client = None
