"""The one-liners: ``ll.start_run``, ``ll.log_metric``... over the default client and the
current run (a context variable)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from loopline._client import default_client
from loopline._runs import ActiveRun, active_run, require_run

if TYPE_CHECKING:
    import pandas as pd

    from loopline.tracking import Artifact, Run

__all__ = [
    "start_run",
    "active_run",
    "end_run",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_tag",
    "set_tags",
    "log_artifact",
    "log_text",
    "log_dict",
    "log_figure",
    "flush",
    "get_run",
    "get_metric_history",
    "search_runs",
]


def start_run(
    project: str | None = None,
    *,
    name: str | None = None,
    params: Mapping[str, object] | None = None,
    tags: Mapping[str, object] | None = None,
    parent: ActiveRun | str | None = None,
    capture: bool = True,
) -> ActiveRun:
    """Start a run and make it the current one.

    Args:
        project: the project (created when missing; default ``LOOPLINE_PROJECT``).
        name: a name for people (default ``run-<id>``).
        params: params to record at once.
        tags: tags to set at once.
        parent: a run (or run id) this one is a child of.
        capture: record the environment (git state, packages, machine) and tee the console
            output into a ``console.log`` artifact.

    Example:
        >>> import loopline as ll
        >>> with ll.start_run(project="churn", params={"lr": 0.01}) as run:
        ...     for epoch in range(10):
        ...         ll.log_metric("loss", 1 / (epoch + 1))
    """
    return default_client().start_run(
        project, name=name, params=params, tags=tags, parent=parent, capture=capture
    )


def end_run(status: str = "finished") -> None:
    """End the current run (``finished``, ``failed`` or ``killed``)."""
    require_run().end(status)  # type: ignore[arg-type]


def log_metric(
    key: str, value: float, step: int | None = None, timestamp: float | None = None
) -> None:
    """Log a metric value in the current run (batched: microseconds, not a round trip)."""
    require_run().log_metric(key, value, step, timestamp)


def log_metrics(
    metrics: Mapping[str, float], step: int | None = None, timestamp: float | None = None
) -> None:
    require_run().log_metrics(metrics, step, timestamp)


def log_param(key: str, value: object) -> None:
    require_run().log_param(key, value)


def log_params(params: Mapping[str, object]) -> None:
    require_run().log_params(params)


def set_tag(key: str, value: object) -> None:
    require_run().set_tag(key, value)


def set_tags(tags: Mapping[str, object]) -> None:
    require_run().set_tags(tags)


def log_artifact(path: str | os.PathLike[str], name: str | None = None) -> list[Artifact]:
    """Store a file or a folder with the current run."""
    return require_run().log_artifact(path, name)


def log_text(text: str, name: str) -> Artifact:
    return require_run().log_text(text, name)


def log_dict(data: Mapping[str, Any] | Sequence[Any], name: str) -> Artifact:
    return require_run().log_dict(data, name)


def log_figure(figure: Any, name: str) -> Artifact:
    return require_run().log_figure(figure, name)


def flush() -> None:
    """Block until every metric logged so far is stored."""
    default_client().flush()


def get_run(run_id: str) -> Run:
    return default_client().get_run(run_id)


def get_metric_history(run_id: str, key: str) -> pd.DataFrame:
    """A DataFrame of step, value, timestamp (UTC) for one metric of a run."""
    return default_client().get_metric_history(run_id, key)


def search_runs(
    project: str | None = None,
    filter: str = "",
    order_by: Sequence[str] = (),
    limit: int = 1000,
) -> pd.DataFrame:
    """Runs of ``project`` matching ``filter``, as a DataFrame.

    Example:
        >>> ll.search_runs("churn", filter="metrics.acc > 0.9 and params.model = 'rf'",
        ...                order_by=["metrics.acc desc"], limit=10)
    """
    return default_client().search_runs(project, filter, order_by, limit)
