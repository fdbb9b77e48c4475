"""Parameter sweeps: many runs of one pipeline, in parallel, on any executor.

``ll.sweep(pipeline, {"lr": [0.01, 0.1], "depth": [3, 5]})`` runs the grid's four trials,
``parallel`` at a time; each trial is a pipeline run, so a tracked run with its params, and its
steps run where ``executor`` says (worker processes, agents, Ray). With an Optuna study instead
of a grid, the study proposes each trial's params (``space(trial)``) and learns each result.

A published template's name works as well as a pipeline: its trials are launched as
``ll.launch`` does (``executor="queue"``: each trial a whole-run task an agent drives).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal

from loopline.errors import InvalidInput, LooplineError

__all__ = ["sweep", "SweepResult", "Trial", "grid_points"]

Objective = str | Callable[[Any], float]


@dataclass(frozen=True, slots=True)
class Trial:
    """One point of a sweep: its params, its pipeline run, and the objective's value."""

    number: int
    params: dict[str, Any]
    run_id: str | None
    status: str
    value: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class SweepResult:
    """Every trial, in the order they were proposed.

    Example:
        >>> result = ll.sweep(training, {"lr": [0.01, 0.1]}, objective="evaluate.accuracy")
        >>> result.best.params
        {'lr': 0.1}
    """

    trials: list[Trial]
    objective: str | None = None
    direction: Literal["maximize", "minimize"] = "maximize"

    @property
    def best(self) -> Trial | None:
        """The succeeded trial with the best value (``None`` without an objective)."""
        scored = [t for t in self.trials if t.status == "succeeded" and t.value is not None]
        if not scored:
            return None
        pick = max if self.direction == "maximize" else min
        return pick(scored, key=lambda t: t.value or 0.0)

    @property
    def failed(self) -> list[Trial]:
        return [t for t in self.trials if t.status != "succeeded"]


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of a grid, first parameter slowest.

    Example:
        >>> grid_points({"lr": [0.1, 0.2], "depth": [3]})
        [{'lr': 0.1, 'depth': 3}, {'lr': 0.2, 'depth': 3}]
    """
    if not grid:
        raise InvalidInput('A sweep grid names at least one parameter: {"lr": [0.01, 0.1]}.')
    for name, values in grid.items():
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
            raise InvalidInput(
                f"Grid parameter {name!r} needs a non-empty list of values, not {values!r}."
            )
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]


def sweep(
    target: Any,
    search: Mapping[str, Sequence[Any]] | Any,
    *,
    space: Callable[[Any], Mapping[str, Any]] | None = None,
    n_trials: int | None = None,
    objective: Objective | None = None,
    direction: Literal["maximize", "minimize"] = "maximize",
    executor: str = "local",
    parallel: int = 2,
    client: Any = None,
    project: str | None = None,
    **fixed: Any,
) -> SweepResult:
    """Run ``target`` (a pipeline, or a published template's name) once per point of
    ``search``: a grid (``{"lr": [0.01, 0.1]}``) or an Optuna study (then ``space(trial)``
    proposes the params and ``n_trials`` says how many).

    Args:
        objective: a metric logged by a step (``"evaluate.accuracy"``: step, dot, metric) or a
            function of the trial's pipeline run record; needed with a study.
        executor: where each trial's steps run: ``"local"``, ``"queue"``, ``"ray"``.
        parallel: trials running at the same time.
        fixed: params every trial gets.

    Example:
        >>> result = ll.sweep(training, {"lr": [0.01, 0.1, 1.0]}, objective="train.loss",
        ...                   direction="minimize", executor="queue", parallel=3)
        >>> [t.status for t in result.trials]
        ['succeeded', 'succeeded', 'succeeded']
    """
    from loopline.pipelines._context import default_client

    if direction not in ("maximize", "minimize"):
        raise InvalidInput(f"direction is 'maximize' or 'minimize', not {direction!r}.")
    if parallel < 1:
        raise InvalidInput("parallel is at least 1.")
    client = client if client is not None else default_client()
    study = None if isinstance(search, Mapping) else search
    if study is not None:
        if not (hasattr(study, "ask") and hasattr(study, "tell")):
            raise InvalidInput("search is a grid (a dict of lists) or an Optuna study.")
        if space is None or n_trials is None or objective is None:
            raise InvalidInput("A study needs space=, n_trials= and objective= as well.")
        points: list[dict[str, Any]] = []
    else:
        points = grid_points(search)
    run = _runner(target, executor, client, project)
    label = objective if isinstance(objective, str) else None
    trials: dict[int, Trial] = {}
    asked: dict[int, Any] = {}
    pending: dict[Future[Trial], int] = {}
    total = n_trials if study is not None and n_trials is not None else len(points)
    with ThreadPoolExecutor(parallel, thread_name_prefix="loopline-sweep") as pool:
        number = 0
        while number < total or pending:
            while number < total and len(pending) < parallel:
                if study is not None:
                    asked[number] = study.ask()
                    params = dict(space(asked[number]))  # type: ignore[misc]
                else:
                    params = points[number]
                job = pool.submit(_trial, run, number, {**fixed, **params}, objective, client)
                pending[job] = number
                number += 1
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for job in done:
                index = pending.pop(job)
                trial = job.result()
                trials[index] = trial
                if study is not None:
                    _tell(study, asked.pop(index), trial)
    return SweepResult([trials[i] for i in sorted(trials)], label, direction)


def _runner(target: Any, executor: str, client: Any, project: str | None) -> Callable[..., Any]:
    """A function running one trial with its params; it answers the pipeline run record."""
    if isinstance(target, str):
        if executor == "queue":
            from loopline.agents._submit import launch as queue_launch
            from loopline.agents._submit import wait_for

            def through_queue(**params: Any) -> Any:
                task = queue_launch(target, params, project=project, client=client)
                wait_for(task, client=client)
                job = json.loads(client._backend.get_blob(task.payload))
                return client._backend.get_pipeline_run(job["run"])

            return through_queue
        from loopline.pipelines._templates import launch

        def launched(**params: Any) -> Any:
            return launch(target, params, project=project, client=client)

        return launched
    if not hasattr(target, "run") or not hasattr(target, "dag"):
        raise InvalidInput(f"A sweep runs a pipeline or a template's name, not {target!r}.")

    def ran(**params: Any) -> Any:
        result = target.run(
            executor=executor,
            client=client,
            project=project,
            raise_on_failure=False,
            **params,
        )
        return result.record

    return ran


def _trial(
    run: Callable[..., Any],
    number: int,
    params: dict[str, Any],
    objective: Objective | None,
    client: Any,
) -> Trial:
    try:
        record = run(**params)
    except LooplineError as exc:
        return Trial(number, params, None, "failed", error=str(exc))
    if record.status != "succeeded":
        failed = [s.name for s in record.steps if s.status == "failed"]
        why = f"steps failed: {', '.join(failed)}" if failed else record.status
        return Trial(number, params, record.id, record.status, error=why)
    value: float | None = None
    if isinstance(objective, str):
        metrics = client._backend.pipeline_run_metrics(record.id)
        if objective not in metrics:
            from loopline.errors import did_you_mean

            return Trial(
                number,
                params,
                record.id,
                "failed",
                error=f"No step logged {objective!r}.{did_you_mean(objective, metrics)} "
                f"Logged: {', '.join(sorted(metrics)) or 'nothing'}.",
            )
        value = float(metrics[objective])
    elif objective is not None:
        value = float(objective(record))
    return Trial(number, params, record.id, "succeeded", value)


def _tell(study: Any, asked: Any, trial: Trial) -> None:
    if trial.status == "succeeded" and trial.value is not None:
        study.tell(asked, trial.value)
        return
    from importlib import import_module

    # Optuna is the caller's: it is there whenever a study is.
    study.tell(asked, state=import_module("optuna.trial").TrialState.FAIL)
