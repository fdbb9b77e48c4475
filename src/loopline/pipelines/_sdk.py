"""The pipeline SDK: ``@ll.step``, ``@ll.pipeline`` and ``ll.when``.

Calling a step inside a pipeline function does not run it: it adds a node to the DAG being built
and answers references to the step's future outputs. Pipeline parameters are references too, so
the DAG is the same whatever values a run is given (a template's form is its parameters).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import sys
import typing
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, Literal, ParamSpec, TypeVar, overload

from loopline.errors import InvalidInput
from loopline.pipelines._dag import (
    DAG,
    Condition,
    Constant,
    Input,
    ListInput,
    Node,
    ParamInput,
    Ref,
)
from loopline.pipelines._dag import (
    ParamSpec as PipelineParam,
)

if TYPE_CHECKING:
    from loopline.pipelines._runner import DebugSession, PipelineResult
    from loopline.pipelines._types import ScheduleRecord, TemplateRecord

__all__ = ["Step", "step", "Pipeline", "pipeline", "when", "StepOutput", "ParamRef"]

P = ParamSpec("P")
R = TypeVar("R")

RESERVED = frozenset(
    {
        "executor",
        "only",
        "from_step",
        "reuse",
        "cache",
        "client",
        "project",
        "max_workers",
        "step_through",
        "raise_on_failure",
        "name",
    }
)


class StepOutput:
    """A reference to an output of a step in a pipeline being built (not its value)."""

    __slots__ = ("name", "ref")

    def __init__(self, ref: Ref, name: str) -> None:
        self.ref = ref
        self.name = name

    def __repr__(self) -> str:
        return f"<output {self.name!r} of step {self.ref.step!r}>"

    def __bool__(self) -> bool:
        raise InvalidInput(
            f"{self!r} has no value while the pipeline is being built, so it cannot be tested "
            "with `if`. Pass it to a step, or branch with `with ll.when(output):`."
        )

    def __iter__(self) -> Iterator[Any]:
        raise InvalidInput(
            f"Step {self.ref.step!r} has one output, so it cannot be unpacked. Annotate its "
            "return type as tuple[A, B] (or a NamedTuple) for several outputs."
        )


class ParamRef:
    """A pipeline parameter while the pipeline is being built: pass it to steps."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<pipeline parameter {self.name!r}>"

    def __bool__(self) -> bool:
        raise InvalidInput(
            f"Pipeline parameter {self.name!r} has no value while the pipeline is being built; "
            "pass it to a step that decides (and, to branch, use `with ll.when(output):`)."
        )


@dataclass(frozen=True, slots=True)
class StepConfig:
    cache: bool = True
    retries: int = 0
    timeout: float | None = None
    resources: tuple[tuple[str, Any], ...] = ()


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.steps: dict[str, Step[..., Any]] = {}
        self.conditions: list[Condition] = []

    def add(self, step: Step[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            bound = step.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidInput(f"Step {step.name!r} was called with bad arguments: {exc}.") from exc
        inputs: list[tuple[str, Input]] = []
        for arg, value in bound.arguments.items():
            kind = step.signature.parameters[arg].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                raise InvalidInput(f"Step {step.name!r}: **{arg} is not supported; name them.")
            key = f"*{arg}" if kind is inspect.Parameter.VAR_POSITIONAL else arg
            inputs.append((key, _as_input(step.name, arg, value)))
        name = step.name
        if name in self.steps:
            n = 2
            while f"{name}_{n}" in self.steps:
                n += 1
            name = f"{name}_{n}"
        node = Node(
            name=name,
            step=step.path,
            inputs=tuple(inputs),
            conditions=tuple(self.conditions),
            outputs=step.output_names,
            cache=step.config.cache,
            retries=step.config.retries,
            timeout=step.config.timeout,
            resources=step.config.resources,
        )
        self.nodes.append(node)
        self.steps[name] = step
        refs = [StepOutput(Ref(name, i), out) for i, out in enumerate(step.output_names)]
        if not refs:
            return None
        if step.named_tuple is not None:
            return step.named_tuple(*refs)
        if step.multiple:
            return tuple(refs)
        return refs[0]


_building: ContextVar[_Builder | None] = ContextVar("loopline_pipeline_builder", default=None)


def _as_input(step: str, arg: str, value: Any) -> Input:
    if isinstance(value, StepOutput):
        return value.ref
    if isinstance(value, ParamRef):
        return ParamInput(value.name)
    if isinstance(value, list | tuple) and any(
        isinstance(v, StepOutput | ParamRef | list | tuple) for v in value
    ):
        return ListInput(tuple(_as_input(step, arg, v) for v in value))
    try:
        return Constant(json.dumps(value, sort_keys=True, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"Step {step!r} got a {type(value).__name__} for {arg!r} as a literal; literals "
            "inside a pipeline must be JSON data (they are recorded as the step's params). "
            "Make it a pipeline parameter or the output of a step."
        ) from exc


class Step(Generic[P, R]):
    """A function that runs as one step of a pipeline; see :func:`step`."""

    _loopline_step = True

    def __init__(self, func: Callable[P, R], config: StepConfig, name: str | None = None) -> None:
        self.func = func
        self.config = config
        self.name = name or func.__name__
        functools.update_wrapper(self, func)

    @cached_property
    def signature(self) -> inspect.Signature:
        return inspect.signature(self.func)

    @property
    def path(self) -> str:
        return f"{self.func.__module__}:{self.func.__qualname__}"

    @cached_property
    def _return_hint(self) -> Any:
        try:
            hints = typing.get_type_hints(self.func)
        except Exception:  # noqa: BLE001 - unresolvable hints: fall back to the raw annotation
            hints = dict(getattr(self.func, "__annotations__", {}))
        return hints.get("return", inspect.Signature.empty)

    @cached_property
    def named_tuple(self) -> type | None:
        hint = self._return_hint
        if isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields"):
            return hint
        return None

    @cached_property
    def multiple(self) -> bool:
        hint = self._return_hint
        if self.named_tuple is not None:
            return True
        args = typing.get_args(hint)
        return typing.get_origin(hint) is tuple and bool(args) and args[-1] is not Ellipsis

    @cached_property
    def output_names(self) -> tuple[str, ...]:
        hint = self._return_hint
        if hint is None or hint is type(None):
            return ()
        if self.named_tuple is not None:
            return tuple(self.named_tuple._fields)  # type: ignore[attr-defined]
        if self.multiple:
            return tuple(f"output_{i}" for i in range(len(typing.get_args(hint))))
        return ("output",)

    @cached_property
    def code_digest(self) -> str:
        from loopline.pipelines._cache import source_digest

        return source_digest(self.func)

    @cached_property
    def importable(self) -> bool:
        """Whether a worker process can import this step by module and name."""
        module = sys.modules.get(self.func.__module__)
        if module is None or module.__name__ == "__main__" or "<" in self.func.__qualname__:
            return False
        obj: Any = module
        for part in self.func.__qualname__.split("."):
            obj = getattr(obj, part, None)
        return obj is self

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        builder = _building.get()
        if builder is None:
            raise InvalidInput(
                f"Step {self.name!r} was called outside a pipeline. Call it inside a function "
                f"decorated with @ll.pipeline, or call {self.name}.func(...) to run the plain "
                "function."
            )
        result: R = builder.add(self, args, kwargs)
        return result

    def __reduce__(self) -> tuple[Any, ...]:
        if self.importable:
            return (_import_step, (self.func.__module__, self.func.__qualname__))
        return (Step, (self.func, self.config, self.name))

    def __repr__(self) -> str:
        return f"<step {self.name!r} ({self.path})>"


def _import_step(module: str, qualname: str) -> Any:
    from importlib import import_module

    obj: Any = import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


@overload
def step(func: Callable[P, R], /) -> Step[P, R]: ...


@overload
def step(
    *,
    cache: bool = True,
    retries: int = 0,
    timeout: float | None = None,
    resources: dict[str, Any] | None = None,
    name: str | None = None,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...


def step(
    func: Callable[P, R] | None = None,
    /,
    *,
    cache: bool = True,
    retries: int = 0,
    timeout: float | None = None,
    resources: dict[str, Any] | None = None,
    name: str | None = None,
) -> Step[P, R] | Callable[[Callable[P, R]], Step[P, R]]:
    """Make a plain function a pipeline step.

    Args:
        cache: reuse outputs when code, params and inputs are the same as a past execution.
        retries: how many more times to run the step after it fails (run mode).
        timeout: seconds before the step is stopped and fails (run mode; debug never stops).
        resources: what the step asks of an executor (``{"cpu": 2, "gpu": 1}``), recorded.
        name: the step's name in the DAG (default: the function's name).

    Example:
        >>> @ll.step(retries=2)
        ... def train(data: list[float], lr: float = 0.1) -> float:
        ...     return sum(data) * lr
    """
    if retries < 0 or (timeout is not None and timeout <= 0):
        raise InvalidInput("A step's retries must be >= 0 and its timeout > 0 seconds.")
    config = StepConfig(cache, retries, timeout, tuple(sorted((resources or {}).items())))

    def wrap(f: Callable[P, R]) -> Step[P, R]:
        if isinstance(f, Step):
            raise InvalidInput(f"{f!r} is a step already.")
        return Step(f, config, name)

    return wrap(func) if func is not None else wrap


@contextlib.contextmanager
def when(output: Any, equals: Any = True) -> Iterator[None]:
    """Steps called inside the block run only when ``output`` equals ``equals``; otherwise they
    (and whatever reads their outputs) are ``skipped``. The DAG stays static.

    Example:
        >>> @ll.pipeline
        ... def train_and_ship(threshold: float = 0.9):
        ...     model = train()
        ...     good = evaluate(model, threshold)
        ...     with ll.when(good):
        ...         ship(model)
    """
    builder = _building.get()
    if builder is None:
        raise InvalidInput("ll.when(...) is used inside an @ll.pipeline function.")
    if not isinstance(output, StepOutput):
        raise InvalidInput(
            f"ll.when needs the output of a step, not {type(output).__name__}: the condition "
            "is decided when the pipeline runs."
        )
    json.dumps(equals)
    builder.conditions.append(Condition(output.ref, equals))
    try:
        yield
    finally:
        builder.conditions.pop()


_TYPES = {str: "str", int: "int", float: "float", bool: "bool", list: "list", dict: "dict"}


def _param_specs(func: Callable[..., Any]) -> tuple[PipelineParam, ...]:
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # noqa: BLE001 - fall back to untyped parameters
        hints = {}
    specs = []
    for param in inspect.signature(func).parameters.values():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise InvalidInput(f"Pipeline {func.__name__!r}: *args/**kwargs cannot be a form.")
        if param.name in RESERVED:
            raise InvalidInput(
                f"Pipeline {func.__name__!r} has a parameter called {param.name!r}, a name "
                f"p.run() uses itself; rename it (reserved: {', '.join(sorted(RESERVED))})."
            )
        hint = hints.get(param.name)
        kind = _TYPES.get(typing.get_origin(hint) or hint, "any")  # type: ignore[arg-type]
        has_default = param.default is not inspect.Parameter.empty
        default = param.default if has_default else None
        if has_default:
            try:
                json.dumps(default)
            except TypeError as exc:
                raise InvalidInput(
                    f"Pipeline parameter {param.name!r} has a default that is not JSON data."
                ) from exc
        specs.append(PipelineParam(param.name, kind, default, not has_default))
    return tuple(specs)


class Pipeline:
    """A DAG of steps with parameters; made by :func:`pipeline`.

    Example:
        >>> result = my_pipeline.run(lr=0.1)
        >>> result.status
        'succeeded'
    """

    def __init__(
        self, func: Callable[..., Any], *, name: str | None = None, project: str | None = None
    ) -> None:
        self.func = func
        self.name = name or func.__name__
        self.project = project
        self.params = _param_specs(func)
        functools.update_wrapper(self, func)  # type: ignore[arg-type]

    @cached_property
    def _built(self) -> tuple[DAG, dict[str, Step[..., Any]]]:
        builder = _Builder()
        token = _building.set(builder)
        try:
            self.func(**{p.name: ParamRef(p.name) for p in self.params})
        finally:
            _building.reset(token)
        if not builder.nodes:
            raise InvalidInput(f"Pipeline {self.name!r} calls no step.")
        return DAG(tuple(builder.nodes), self.params), builder.steps

    @property
    def dag(self) -> DAG:
        """The DAG, built on first use by calling the pipeline function with references."""
        return self._built[0]

    @property
    def steps(self) -> dict[str, Step[..., Any]]:
        """Each node's step, by node name."""
        return dict(self._built[1])

    @overload
    def debug(
        self,
        *,
        step_through: Literal[False] = False,
        cache: bool = False,
        client: Any = None,
        project: str | None = None,
        **params: Any,
    ) -> PipelineResult: ...

    @overload
    def debug(
        self,
        *,
        step_through: Literal[True],
        cache: bool = False,
        client: Any = None,
        project: str | None = None,
        **params: Any,
    ) -> DebugSession: ...

    def debug(
        self,
        *,
        step_through: bool = False,
        cache: bool = False,
        client: Any = None,
        project: str | None = None,
        **params: Any,
    ) -> PipelineResult | DebugSession:
        """Run in this process, one step after the other; exceptions propagate and breakpoints
        work. With ``step_through=True`` answer a session whose ``next()`` runs one step.

        Example:
            >>> s = my_pipeline.debug(step_through=True, lr=0.1)
            >>> s.next().name
            'load'
            >>> s.outputs["load"]
            [1.0, 2.0]
        """
        from loopline.pipelines._runner import DebugSession

        session = DebugSession(
            self, params, client=client, project=project or self.project, cache=cache
        )
        return session if step_through else session.finish()

    def run(
        self,
        *,
        executor: str = "local",
        only: Sequence[str] | None = None,
        from_step: str | None = None,
        reuse: str | None = None,
        cache: bool = True,
        client: Any = None,
        project: str | None = None,
        max_workers: int | None = None,
        raise_on_failure: bool = True,
        **params: Any,
    ) -> PipelineResult:
        """Run ready steps in parallel through ``executor`` (``"local"``: worker processes).

        Args:
            only: run just these steps; take upstream outputs from ``reuse`` or the cache.
            from_step: run this step and everything downstream of it.
            reuse: a pipeline run id, or ``"latest"``, to take upstream outputs from.
            cache: ``False`` executes every step, whatever the cache holds.
            max_workers: worker processes (default: the number of CPUs).
            raise_on_failure: raise :class:`PipelineFailed` when the run fails or stops.

        Example:
            >>> my_pipeline.run(lr=0.1, only=["train", "evaluate"], reuse="latest").ran
            ['train', 'evaluate']
        """
        from loopline.pipelines._runner import ExecutorRunner

        runner = ExecutorRunner(
            self,
            params,
            client=client,
            project=project or self.project,
            cache=cache,
            only=only,
            from_step=from_step,
            reuse=reuse,
            executor=executor,
            max_workers=max_workers,
        )
        return runner.run(raise_on_failure=raise_on_failure)

    def retry(
        self,
        run_id: str,
        *,
        client: Any = None,
        max_workers: int | None = None,
        raise_on_failure: bool = True,
    ) -> PipelineResult:
        """Run again the steps of run ``run_id`` that failed, were stopped or never started,
        with its parameters, reusing the outputs of those that finished (a new run).

        Example:
            >>> training.retry(failed.id).reused
            ['load', 'split']
        """
        from loopline.pipelines._context import default_client
        from loopline.pipelines._runner import ExecutorRunner
        from loopline.pipelines._templates import RETRY_TAG, retry_plan

        client = client if client is not None else default_client()
        earlier = client._backend.get_pipeline_run(run_id)
        runner = ExecutorRunner(
            self,
            dict(earlier.params),
            client=client,
            project=earlier.project,
            only=retry_plan(earlier),
            reuse=earlier.id,
            max_workers=max_workers,
            tags={RETRY_TAG: earlier.id},
        )
        return runner.run(raise_on_failure=raise_on_failure)

    def copy(self, run_id: str, *, client: Any = None, **params: Any) -> PipelineResult:
        """A new run with the parameters of run ``run_id``, changed by ``params``.

        Example:
            >>> training.copy(earlier.id, lr=0.3).record.params["lr"]
            0.3
        """
        from loopline.pipelines._context import default_client

        client = client if client is not None else default_client()
        earlier = client._backend.get_pipeline_run(run_id)
        return self.run(client=client, project=earlier.project, **{**earlier.params, **params})

    def publish(
        self,
        name: str | None = None,
        *,
        description: str = "",
        client: Any = None,
        project: str | None = None,
    ) -> TemplateRecord:
        """Freeze this pipeline as a new version of template ``name`` (default: its name): the
        DAG spec, parameter schema, a snapshot of its module and local imports, requirements.

        Example:
            >>> training.publish("digits-training", description="weekly retrain").version
            1
        """
        from loopline.pipelines._context import default_client
        from loopline.pipelines._templates import snapshot

        client = client if client is not None else default_client()
        code, requirements = snapshot(self)
        blob = client._backend.put_blob(code)
        record: TemplateRecord = client._backend.publish_pipeline_template(
            project or self.project or client.settings.project,
            name or self.name,
            dag=self.dag.to_spec(),
            code=blob.digest,
            entry=f"{self.func.__module__}:{self.func.__qualname__}",
            description=description,
            requirements=list(requirements),
        )
        return record

    def schedule(
        self,
        cron: str,
        *,
        name: str | None = None,
        params: dict[str, Any] | None = None,
        version: int | str = "latest",
        timezone: str = "UTC",
        enabled: bool = True,
        notify: Sequence[Any] = (),
        client: Any = None,
        project: str | None = None,
    ) -> ScheduleRecord:
        """Launch the published template ``name`` (default: this pipeline's name) on ``cron``
        read in ``timezone``; see :func:`loopline.pipelines.schedule`. Publish first.

        Example:
            >>> training.publish("digits-training")
            >>> training.schedule("0 3 * * *", name="digits-training", params={"lr": 0.1})
        """
        from loopline.pipelines._schedules import schedule

        return schedule(
            name or self.name,
            cron,
            params=params,
            version=version,
            timezone=timezone,
            enabled=enabled,
            notify=tuple(notify),
            project=project or self.project,
            client=client,
        )

    def __repr__(self) -> str:
        return f"<pipeline {self.name!r}>"


@overload
def pipeline(func: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(
    *, name: str | None = None, project: str | None = None
) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    project: str | None = None,
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Make a function that calls steps a pipeline. Its parameters (with their type hints and
    defaults) are the pipeline's parameters.

    Example:
        >>> @ll.pipeline
        ... def training(lr: float = 0.1):
        ...     data = load()
        ...     train(data, lr)
        >>> training.run(lr=0.2).status
        'succeeded'
    """

    def wrap(f: Callable[..., Any]) -> Pipeline:
        return Pipeline(f, name=name, project=project)

    return wrap(func) if func is not None else wrap
