"""Runners: walk a pipeline's DAG, decide what each step needs, execute, record.

:class:`Runner` is the template: it binds parameters, plans partial runs, records the run and
its steps (in batches: one store call per scheduler tick, not per event), resolves each ready
step to skipped / reused / cached / execute, and ends the run. Subclasses only say how a step
executes: :class:`DebugRunner` in this process, one at a time; :class:`ExecutorRunner` through an
executor (worker processes for ``"local"``), ready steps in parallel.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from loopline.errors import Conflict, InvalidInput, NotFound, did_you_mean
from loopline.pipelines._cache import cache_key
from loopline.pipelines._dag import Constant, Input, ListInput, ParamInput, Ref
from loopline.pipelines._materializers import load_value, version_of
from loopline.pipelines._types import (
    DONE_STATUSES,
    CacheHit,
    OutputRef,
    PipelineFailed,
    PipelineRunRecord,
    PipelineStatus,
    StepRecord,
    StepStatus,
    StepUpdate,
)
from loopline.pipelines._worker import (
    Outcome,
    StepCode,
    Task,
    WireValue,
    call_step,
    encode_outputs,
)

if TYPE_CHECKING:
    from pathlib import Path

    from loopline.blobs import BlobRef
    from loopline.pipelines._sdk import Pipeline
    from loopline.pipelines.executors import Executor

__all__ = ["Runner", "DebugRunner", "ExecutorRunner", "DebugSession", "PipelineResult"]

FLUSH_SECONDS = 0.25
"""Longest a step change waits before it is recorded (live status), when nothing forces it."""
STOP_CHECK_SECONDS = 1.0
"""How often a running pipeline asks the store whether someone stopped it (``stop``)."""
KEEP_BYTES = 16 << 20
"""Outputs up to this size stay in memory for the steps that read them (no blob round trip)."""


class PipelineStore(Protocol):
    """What a runner needs of a backend (both LocalBackend and RemoteBackend have it)."""

    def put_blob(self, source: Path | bytes) -> BlobRef: ...

    def get_blob(self, digest: str) -> bytes: ...

    def create_pipeline_run(
        self,
        project: str,
        pipeline: str,
        params: dict[str, Any],
        dag: dict[str, Any],
        tags: dict[str, str] | None = None,
    ) -> PipelineRunRecord: ...

    def update_pipeline_steps(
        self, run_id: str, updates: Sequence[StepUpdate]
    ) -> list[StepRecord]: ...

    def finish_pipeline_run(self, run_id: str, status: PipelineStatus) -> PipelineRunRecord: ...

    def get_pipeline_run(self, run_id: str) -> PipelineRunRecord: ...

    def list_pipeline_runs(
        self, project: str, pipeline: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[PipelineRunRecord]: ...

    def lookup_step_cache(self, project: str, keys: Sequence[str]) -> dict[str, CacheHit]: ...


class PipelineResult:
    """What a run did: its record, which steps ran, were cached, reused or skipped, and their
    outputs (loaded from the blob store on demand).

    Example:
        >>> result = training.run(lr=0.1)
        >>> result.ran, result.cached
        (['load', 'train'], [])
        >>> result.output("train")
        0.93
    """

    def __init__(
        self, record: PipelineRunRecord, store: PipelineStore, values: dict[str, tuple[Any, ...]]
    ) -> None:
        self.record = record
        self._store = store
        self._values = values

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def status(self) -> PipelineStatus:
        return self.record.status

    def _with(self, *statuses: str) -> list[str]:
        return [s.name for s in self.record.steps if s.status in statuses]

    @property
    def ran(self) -> list[str]:
        """Steps that executed in this run (succeeded or failed)."""
        return self._with("succeeded", "failed", "stopped")

    @property
    def cached(self) -> list[str]:
        return self._with("cached")

    @property
    def reused(self) -> list[str]:
        """Steps whose outputs came from the earlier run named by ``reuse``."""
        return self._with("reused")

    @property
    def skipped(self) -> list[str]:
        return self._with("skipped")

    @property
    def failed(self) -> dict[str, str]:
        """Failed steps and their errors."""
        return {s.name: s.error or "" for s in self.record.steps if s.status == "failed"}

    def output(self, step: str, index: int | str = 0) -> Any:
        """An output's value (``index``: its position, or its name for NamedTuple outputs)."""
        record = self.record.step(step)
        if isinstance(index, str):
            names = [o for s in self.record.dag["steps"] if s["name"] == step for o in s["outputs"]]
            if index not in names:
                raise NotFound(
                    f"Step {step!r} has no output {index!r}.{did_you_mean(index, names)}"
                )
            index = names.index(index)
        if step in self._values:
            return self._values[step][index]
        if not record.outputs:
            raise NotFound(f"Step {step!r} has no stored outputs (it is {record.status}).")
        ref = record.outputs[index]
        return load_value(self._store.get_blob(ref.digest), ref.materializer)

    def __repr__(self) -> str:
        return f"<PipelineResult {self.record.pipeline!r} {self.id}: {self.status}>"


def _param_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


class Runner:
    """The template every runner follows; subclasses fill in how a step executes."""

    mode = "run"

    def __init__(
        self,
        pipeline: Pipeline,
        params: dict[str, Any],
        *,
        client: Any = None,
        project: str | None = None,
        cache: bool = True,
        only: Sequence[str] | None = None,
        from_step: str | None = None,
        reuse: str | None = None,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        from loopline.pipelines._context import default_client

        self.pipeline = pipeline
        self.dag = pipeline.dag
        self.steps = pipeline.steps
        self.params = self.dag.bind(params)
        self.client = client if client is not None else default_client()
        self.store: PipelineStore = self.client._backend
        self.project: str = project or self.client.settings.project
        self.cache = cache
        self.execute = self._plan(only, from_step)
        self.reuse_ref = reuse
        self.reused_run: PipelineRunRecord | None = None
        self.status: dict[str, StepStatus] = dict.fromkeys(self.dag.order, "pending")
        self.outputs: dict[str, tuple[OutputRef, ...]] = {}
        self.values: dict[str, tuple[Any, ...]] = {}
        self.bytes: dict[str, bytes] = {}
        self.keys: dict[str, str] = {}
        self.attempts: dict[str, int] = {}
        self.records: dict[str, StepRecord] = {}
        self.pending: list[StepUpdate] = []
        self.last_flush = time.monotonic()
        self.waiting = {n: len(self.dag.node(n).upstream()) for n in self.dag.order}
        self.ready: deque[str] = deque(n for n in self.dag.order if self.waiting[n] == 0)
        self.record: PipelineRunRecord | None = None
        self.adopt = run_id
        self.tags = dict(tags or {})
        self.stopped = False
        self.last_stop_check = time.monotonic()

    # -- planning -------------------------------------------------------------------------------

    def _plan(self, only: Sequence[str] | None, from_step: str | None) -> frozenset[str]:
        if only is not None and from_step is not None:
            raise InvalidInput("Pass only= or from_step=, not both.")
        if only is not None:
            if isinstance(only, str):
                only = [only]
            return frozenset(self.dag.node(n).name for n in only)
        if from_step is not None:
            return self.dag.descendants([from_step])
        return frozenset(self.dag.order)

    def _find_reused(self) -> PipelineRunRecord | None:
        if self.reuse_ref is None:
            return None
        if self.reuse_ref == "latest":
            earlier = self.store.list_pipeline_runs(self.project, self.pipeline.name, limit=1)
            if not earlier:
                raise NotFound(
                    f"Pipeline {self.pipeline.name!r} has no earlier run in project "
                    f"{self.project!r} to reuse outputs from; run it whole first."
                )
            return earlier[0]
        return self.store.get_pipeline_run(self.reuse_ref)

    # -- the template ---------------------------------------------------------------------------

    def begin(self) -> None:
        self.reused_run = self._find_reused()
        if self.adopt is not None:  # a run created for us (a launched template)
            self.record = self.store.get_pipeline_run(self.adopt)
            return
        self.record = self.store.create_pipeline_run(
            self.project,
            self.pipeline.name,
            self.params,
            self.dag.to_spec(),
            {"loopline.mode": self.mode, **self.tags},
        )

    def stop_requested(self) -> bool:
        """Whether the run was stopped from elsewhere (``loopline pipelines stop``), asked of
        the store at most once per STOP_CHECK_SECONDS."""
        if time.monotonic() - self.last_stop_check < STOP_CHECK_SECONDS:
            return False
        self.last_stop_check = time.monotonic()
        return self.store.get_pipeline_run(self.run_id).status != "running"

    @property
    def run_id(self) -> str:
        assert self.record is not None
        return self.record.id

    def run(self, *, raise_on_failure: bool = True) -> PipelineResult:
        """Begin, advance until nothing is ready or running, end. Ctrl-C stops the run."""
        self.begin()
        try:
            while True:
                tasks = self.advance()
                for task in tasks:
                    self._submit(task)
                if not self._busy():
                    if self.ready:
                        continue
                    break
                for outcome in self._wait():
                    self.complete(outcome)
                self.flush()
                if self.stop_requested():
                    self.stopped = True
                    self._cancel_all()
                    break
        except BaseException as exc:
            self._cancel_all()
            self.end("stopped" if isinstance(exc, KeyboardInterrupt) else "failed")
            raise
        finally:
            self._release()
        return self.end("stopped" if self.stopped else None, raise_on_failure=raise_on_failure)

    def _submit(self, task: Task) -> None:
        raise NotImplementedError

    def _busy(self) -> bool:
        raise NotImplementedError

    def _wait(self) -> list[Outcome]:
        raise NotImplementedError

    def _cancel_all(self) -> None:
        """Stop whatever still executes (hook)."""

    def _release(self) -> None:
        """Give back what the run held (hook)."""

    # -- deciding what a ready step needs -------------------------------------------------------

    def advance(self) -> list[Task]:
        """Resolve every ready step; answer the tasks of those that must execute."""
        names = list(self.ready)
        self.ready.clear()
        return self._resolve(names)

    def _resolve(self, names: list[str]) -> list[Task]:
        need_key: list[str] = []
        for name in names:
            node = self.dag.node(name)
            if any(self.status[r.step] == "skipped" for r in node.refs()) or not all(
                self._value(c.ref) == c.equals for c in node.conditions
            ):
                self._settle(name, StepUpdate(name, "skipped"), ())
                continue
            if name not in self.execute and self.reused_run is not None:
                earlier = self._earlier(name)
                if earlier is not None:
                    status: StepStatus = "skipped" if earlier.status == "skipped" else "reused"
                    update = StepUpdate(
                        name, status, outputs=earlier.outputs, source_run=earlier.run_id
                    )
                    self._settle(name, update, earlier.outputs)
                    continue
            self.keys[name] = self._key(name)
            need_key.append(name)
        hits: dict[str, CacheHit] = {}
        lookups = [
            self.keys[n]
            for n in need_key
            if n not in self.execute or (self.cache and self.dag.node(n).cache)
        ]
        if lookups:
            hits = self.store.lookup_step_cache(self.project, lookups)
        tasks: list[Task] = []
        for name in need_key:
            key = self.keys[name]
            hit = hits.get(key)
            if hit is not None and (name not in self.execute or self.dag.node(name).cache):
                update = StepUpdate(
                    name, "cached", cache_key=key, outputs=hit.outputs, source_run=hit.run_id
                )
                self._settle(name, update, hit.outputs)
                continue
            if name not in self.execute:
                self.flush(force=True)
                raise InvalidInput(
                    f"Step {name!r} is not among the steps to run, and neither the cache nor an "
                    f"earlier run has its outputs for these inputs. Run it too, or pass reuse= "
                    "with the id of a run that has them (or 'latest')."
                )
            tasks.append(self._task(name, key))
        if tasks:
            self.flush(force=True)  # the step runs must exist before the steps log into them
            tasks = [self._with_run(t) for t in tasks]
        return tasks

    def _earlier(self, name: str) -> StepRecord | None:
        assert self.reused_run is not None
        for record in self.reused_run.steps:
            if record.name == name and record.status in DONE_STATUSES:
                return record
        return None

    def _value(self, ref: Ref) -> Any:
        if ref.step in self.values:
            return self.values[ref.step][ref.output]
        out = self.outputs[ref.step][ref.output]
        return load_value(self._bytes(out), out.materializer)

    def _bytes(self, out: OutputRef) -> bytes:
        data = self.bytes.get(out.digest)
        if data is None:
            data = self.store.get_blob(out.digest)
            if len(data) <= KEEP_BYTES:
                self.bytes[out.digest] = data
        return data

    def _params_of(self, name: str) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for arg, value in self.dag.node(name).inputs:
            plain = self._plain(value)
            if plain is not _NOT_PLAIN:
                params[arg] = plain
        return params

    def _plain(self, value: Input) -> Any:
        if isinstance(value, Constant):
            return value.value
        if isinstance(value, ParamInput):
            return self.params[value.name]
        return _NOT_PLAIN

    def _key(self, name: str) -> str:
        node = self.dag.node(name)
        inputs: list[tuple[str, str]] = []
        for _, value in node.inputs:
            for ref in _refs(value):
                out = self.outputs[ref.step][ref.output]
                inputs.append((out.digest, version_of(out.materializer)))
        params = {arg: self._spec_value(v) for arg, v in node.inputs if not isinstance(v, Ref)}
        return cache_key(self.steps[name].code_digest, params, inputs)

    def _spec_value(self, value: Input) -> Any:
        if isinstance(value, ListInput):
            return [self._spec_value(v) for v in value.items]
        if isinstance(value, Ref):
            return f"@{value.step}.{value.output}"
        return self._plain(value)

    def _wire(self, value: Input) -> WireValue:
        if isinstance(value, Ref):
            out = self.outputs[value.step][value.output]
            return ("blob", self._bytes(out), out.materializer)
        if isinstance(value, ListInput):
            return ("list", [self._wire(v) for v in value.items])
        return ("value", self._plain(value))

    def _task(self, name: str, key: str) -> Task:
        node = self.dag.node(name)
        step = self.steps[name]
        attempt = self.attempts.get(name, 0) + 1
        self.attempts[name] = attempt
        self.pending.append(
            StepUpdate(
                name,
                "running",
                cache_key=key,
                params={k: _param_text(v) for k, v in self._params_of(name).items()},
                attempt=attempt,
            )
        )
        return Task(
            step=name,
            attempt=attempt,
            code=_code_of(step),
            args=(),  # filled when the task is submitted (see _with_run)
            outputs=node.outputs,
            multiple=step.multiple,
            timeout=node.timeout,
            resources=node.resources,
        )

    def _with_run(self, task: Task) -> Task:
        from dataclasses import replace

        from loopline.tracking import Run

        record = self.records[task.step]
        run = Run(
            id=record.run_id or "",
            project=self.project,
            name=task.step,
            status="running",
            start_time=record.started_at,  # type: ignore[arg-type]
            parent_id=self.run_id,
        )
        args = tuple((arg, self._wire(v)) for arg, v in self.dag.node(task.step).inputs)
        return replace(task, args=args, run=run, settings=self.client.settings)

    # -- recording ------------------------------------------------------------------------------

    def _settle(self, name: str, update: StepUpdate, outputs: tuple[OutputRef, ...]) -> None:
        """A step reached a state its downstream can use (or wait on forever: failed)."""
        self.status[name] = update.status
        self.pending.append(update)
        if update.status in DONE_STATUSES:
            self.outputs[name] = outputs
            for child in self.dag.downstream(name):
                self.waiting[child] -= 1
                if self.waiting[child] == 0:
                    self.ready.append(child)

    def complete(self, outcome: Outcome, values: tuple[Any, ...] | None = None) -> None:
        """Record what came of an execution; retry a failed one while retries remain."""
        name = outcome.step
        node = self.dag.node(name)
        if not outcome.ok:
            if self.attempts.get(name, 1) <= node.retries:
                self.pending.append(
                    StepUpdate(name, "failed", error=outcome.error, console=outcome.console or None)
                )
                self.ready.append(name)
                return
            self._settle(
                name,
                StepUpdate(name, "failed", error=outcome.error, console=outcome.console or None),
                (),
            )
            return
        refs = []
        for data, materializer, type_name in outcome.outputs:
            stored = self.store.put_blob(data)
            if len(data) <= KEEP_BYTES:
                self.bytes[stored.digest] = data
            refs.append(OutputRef(stored.digest, stored.size, materializer, type_name))
        if values is not None:
            self.values[name] = values
        update = StepUpdate(
            name,
            "succeeded",
            cache_key=self.keys.get(name),
            outputs=tuple(refs),
            console=outcome.console or None,
        )
        self._settle(name, update, tuple(refs))

    def flush(self, *, force: bool = False) -> None:
        """Send the pending step changes in one call (forced, or once per FLUSH_SECONDS)."""
        if not self.pending:
            return
        if not force and time.monotonic() - self.last_flush < FLUSH_SECONDS:
            return
        batch, self.pending = self.pending, []
        for record in self.store.update_pipeline_steps(self.run_id, batch):
            self.records[record.name] = record
        self.last_flush = time.monotonic()

    def end(
        self, status: PipelineStatus | None, *, raise_on_failure: bool = False
    ) -> PipelineResult:
        self.flush(force=True)
        if status is None:
            statuses = set(self.status.values())
            status = "succeeded" if statuses <= DONE_STATUSES else "failed"
        try:
            record = self.store.finish_pipeline_run(self.run_id, status)
        except Conflict:  # it was stopped from elsewhere: that decides its status
            record = self.store.get_pipeline_run(self.run_id)
            status = record.status
        result = PipelineResult(record, self.store, self.values)
        if raise_on_failure and status != "succeeded":
            details = "; ".join(
                f"{k}: {v.strip().splitlines()[-1] if v.strip() else '?'}"
                for k, v in result.failed.items()
            )
            raise PipelineFailed(
                f"Pipeline {self.pipeline.name!r} run {record.id} {status}"
                f"{': ' + details if details else ''}.",
                result,
            )
        return result


_NOT_PLAIN = object()


def _refs(value: Input) -> list[Ref]:
    if isinstance(value, Ref):
        return [value]
    if isinstance(value, ListInput):
        return [r for v in value.items for r in _refs(v)]
    return []


def _code_of(step: Any) -> StepCode:
    cached: StepCode | None = getattr(step, "_loopline_code", None)
    if cached is not None:
        return cached
    if step.importable:
        code = StepCode(step.code_digest, step.func.__module__, step.func.__qualname__)
    else:
        import cloudpickle  # type: ignore[import-untyped, unused-ignore]

        code = StepCode(step.code_digest, pickled=cloudpickle.dumps(step.func))
    step._loopline_code = code
    return code


class ExecutorRunner(Runner):
    """Run mode: ready steps execute in parallel through an executor."""

    mode = "run"

    def __init__(
        self,
        pipeline: Pipeline,
        params: dict[str, Any],
        *,
        executor: str = "local",
        max_workers: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(pipeline, params, **options)
        self.executor_name = executor
        self.max_workers = max_workers
        self._executor: Executor | None = None
        self.in_flight: set[str] = set()

    @property
    def executor(self) -> Executor:
        if self._executor is None:  # a fully cached run starts no worker
            from loopline.pipelines.executors import open_executor

            self._executor = open_executor(self.executor_name, max_workers=self.max_workers)
        return self._executor

    def _submit(self, task: Task) -> None:
        self.in_flight.add(task.step)
        self.executor.submit(task)

    def _busy(self) -> bool:
        return bool(self.in_flight)

    def _wait(self) -> list[Outcome]:
        outcomes = self.executor.wait(FLUSH_SECONDS)
        for outcome in outcomes:
            self.in_flight.discard(outcome.step)
        return outcomes

    def _cancel_all(self) -> None:
        if self._executor is not None:
            for step in list(self.in_flight):
                self._executor.cancel(step)
                self.pending.append(StepUpdate(step, "stopped", error="The run was stopped."))
            self.in_flight.clear()

    def _release(self) -> None:
        if self._executor is not None:
            self._executor.release()


class DebugRunner(Runner):
    """Debug mode: steps execute in this process, in order; their exceptions propagate."""

    mode = "debug"

    def step_once(self) -> str | None:
        """Resolve (and execute, if needed) the next ready step; answer its name."""
        if not self.ready:
            return None
        name = self.ready.popleft()
        tasks = self._resolve([name])
        for task in tasks:
            self._execute(task)
        return name

    def _execute(self, task: Task) -> None:
        from loopline.pipelines._context import logging_into

        name = task.step
        node = self.dag.node(name)
        args = [(arg, self._local(v)) for arg, v in node.inputs]
        assert task.run is not None
        try:
            with logging_into(task.run, client=self.client):
                values = call_step(self.steps[name].func, name, args, task.outputs, task.multiple)
            encoded = encode_outputs(name, values)
        except BaseException as exc:
            import traceback

            error = "".join(traceback.format_exception(exc))
            self._settle(name, StepUpdate(name, "failed", error=error), ())
            raise
        self.complete(Outcome(name, task.attempt, True, encoded), values)

    def _local(self, value: Input) -> Any:
        if isinstance(value, Ref):
            return self._value(value)
        if isinstance(value, ListInput):
            return [self._local(v) for v in value.items]
        return self._plain(value)


class DebugSession:
    """A debug run you advance yourself: ``next()`` runs one step, then look at its outputs.

    Example:
        >>> s = training.debug(step_through=True, lr=0.1)
        >>> s.next()
        'load'
        >>> s.outputs["load"]
        [1.0, 2.0, 3.0]
        >>> s.finish().status
        'succeeded'
    """

    def __init__(
        self,
        pipeline: Pipeline,
        params: dict[str, Any],
        *,
        client: Any = None,
        project: str | None = None,
        cache: bool = False,
    ) -> None:
        self._runner = DebugRunner(pipeline, params, client=client, project=project, cache=cache)
        self._runner.begin()
        self._result: PipelineResult | None = None

    @property
    def run_id(self) -> str:
        return self._runner.run_id

    @property
    def done(self) -> bool:
        return self._result is not None

    @property
    def upcoming(self) -> list[str]:
        """The steps ready to run next, in the order ``next()`` takes them."""
        return list(self._runner.ready)

    @property
    def statuses(self) -> dict[str, StepStatus]:
        return dict(self._runner.status)

    @property
    def outputs(self) -> dict[str, Any]:
        """Each finished step's output (a tuple for several outputs, None for none)."""
        found: dict[str, Any] = {}
        for name, status in self._runner.status.items():
            if status not in ("succeeded", "cached", "reused"):
                continue
            count = len(self._runner.dag.node(name).outputs)
            values = tuple(self._runner._value(Ref(name, i)) for i in range(count))
            found[name] = None if count == 0 else values[0] if count == 1 else values
        return found

    def next(self) -> str:
        """Run the next step (exceptions propagate, and end the run as failed); answer its name.

        Raises:
            InvalidInput: every step has run already.
        """
        if self._result is not None:
            raise InvalidInput(f"Debug run {self.run_id} is over; start another with debug().")
        try:
            name = self._runner.step_once()
        except BaseException:
            self._result = self._runner.end("failed")
            raise
        if name is None:
            raise InvalidInput("No step is left to run: call finish() for the result.")
        self._runner.flush(force=True)
        if not self._runner.ready:
            self._result = self._runner.end(None)
        return name

    def finish(self) -> PipelineResult:
        """Run the remaining steps and end the run."""
        while self._result is None:
            if not self._runner.ready:
                self._result = self._runner.end(None)
                break
            self.next()
        return self._result

    def __repr__(self) -> str:
        return f"<DebugSession {self.run_id}: next {self.upcoming}>"
