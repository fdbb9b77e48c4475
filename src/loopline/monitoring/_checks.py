"""What one monitor run measures over its window: drift, live quality, latency and errors.

Each check returns :class:`Figure` values, one per metric and model version. A check that
cannot run (no reference profile, a broken option) raises; the monitor run records that as
the check's error and runs the others. A window without predictions gives ``no data``
figures, never an error, and never a value an alert rule could read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from loopline.errors import InvalidInput, LooplineError, NotFound
from loopline.monitoring._types import OperationalWindow

if TYPE_CHECKING:
    import pandas as pd

    from loopline.monitoring._drift import DriftReport
    from loopline.monitoring._evaluation import EvaluationStore
    from loopline.monitoring._reference import ReferenceProfile

__all__ = [
    "Figure",
    "OperationsSource",
    "ReferenceSource",
    "Window",
    "DRIFT_OPTIONS",
    "check_drift_options",
    "check_quality_options",
    "drift_figures",
    "quality_figures",
    "latency_figures",
]

DRIFT_OPTIONS = frozenset(
    {
        "reference",
        "prediction_column",
        "columns",
        "alpha",
        "numeric_effect_floor",
        "categorical_effect_floor",
        "wasserstein_threshold",
        "psi_threshold",
        "jensenshannon_threshold",
        "drift_share",
        "min_rows",
        "numeric_method",
        "categorical_method",
        "methods",
    }
)
"""``reference``: a dataset (``"name"`` or ``"name:3"``) to compare with instead of each model
version's training profile; ``prediction_column``: the reference column the logged
prediction is compared with (default: predictions are not compared); ``columns``: only these;
the rest are :class:`~loopline.monitoring.DriftOptions` fields."""

QUALITY_OPTIONS = frozenset({"task", "positive"})


class OperationsSource(Protocol):
    """Where a monitor reads requests, errors and latency per model version of an endpoint
    over ``[start, end)``. The backend gives the serving side's counts (every request, not
    only the logged sample); without one, monitors read the latency of logged predictions.

    Example:
        >>> def figures(project, endpoint, start, end):
        ...     return [OperationalWindow("churn", 3, 1200, 2, 1.1, 2.5, 4.0, 1.3)]
        >>> MonitorService(..., operations=figures)
    """

    def __call__(
        self, project: str, endpoint: str, start: datetime, end: datetime
    ) -> list[OperationalWindow]: ...


ReferenceSource = Callable[[str, str, int | None], "ReferenceProfile"]
"""(project, model or dataset, version) -> the reference profile to compare with."""


@dataclass(frozen=True, slots=True)
class Window:
    project: str
    endpoint: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Figure:
    """One value of one metric for one model version (``model`` None: the whole endpoint)."""

    check: str
    metric: str
    value: float | None
    model: str | None = None
    version: int | None = None
    status: str = "ok"
    message: str = ""
    report: str | None = None


def check_drift_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The drift options, checked now (so a mistake shows when the monitor is made)."""
    from loopline.monitoring._drift import DriftOptions, with_options

    unknown = sorted(set(options) - DRIFT_OPTIONS)
    if unknown:
        from loopline.errors import did_you_mean

        raise InvalidInput(
            f"drift: unknown option {unknown[0]!r}.{did_you_mean(unknown[0], DRIFT_OPTIONS)}",
            details={"field": "drift"},
        )
    thresholds = {k: v for k, v in options.items() if k in DriftOptions.__dataclass_fields__}
    with_options(None, **thresholds)  # raises InvalidInput naming the field
    reference = options.get("reference")
    if reference is not None and not isinstance(reference, str):
        raise InvalidInput("drift: reference is a dataset name ('name' or 'name:3').")
    columns = options.get("columns")
    if columns is not None and (
        not isinstance(columns, list | tuple) or not all(isinstance(c, str) for c in columns)
    ):
        raise InvalidInput("drift: columns is a list of column names.")
    out = dict(options)
    if columns is not None:
        out["columns"] = list(columns)
    json.dumps(out)
    return out


def check_quality_options(options: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - QUALITY_OPTIONS)
    if unknown:
        raise InvalidInput(
            f"quality: unknown option {unknown[0]!r} (options: task, positive).",
            details={"field": "quality"},
        )
    if options.get("task") not in (None, "classification", "regression"):
        raise InvalidInput("quality: task is 'classification' or 'regression'.")
    return dict(options)


def _versions(frame: pd.DataFrame) -> list[tuple[str, int | None]]:
    pairs = frame[["model", "version"]].drop_duplicates().itertuples(index=False)
    found = {(str(m), None if v is None or v != v else int(v)) for m, v in pairs}
    return sorted(found, key=lambda p: (p[0], -1 if p[1] is None else p[1]))


# -- drift --


def drift_figures(
    store: EvaluationStore,
    window: Window,
    options: Mapping[str, Any],
    reference_of: ReferenceSource,
    save_report: Callable[[DriftReport], str],
    primary: pd.DataFrame,
) -> list[Figure]:
    """Drift of each model version's logged inputs (and prediction) in the window against its
    reference profile. A version whose reference cannot be had gets an ``error`` figure."""
    from loopline.monitoring._drift import drift_report

    served = primary[primary["error"].isna()]
    if served.empty:
        return [Figure("drift", "drift_share", None, status="no data", message="no predictions")]
    thresholds = {
        k: v for k, v in options.items() if k not in ("reference", "prediction_column", "columns")
    }
    target = options.get("prediction_column")
    figures: list[Figure] = []
    failures: list[str] = []
    for model, version in _versions(served):
        dataset = options.get("reference")
        try:
            if dataset:
                name, _, ref = str(dataset).partition(":")
                profile = reference_of(window.project, f"dataset:{name}", int(ref) if ref else None)
            else:
                profile = reference_of(window.project, model, version)
        except LooplineError as exc:
            failures.append(f"{model} v{version}: {exc}")
            figures.append(Figure("drift", "drift_share", None, model, version, "error", str(exc)))
            continue
        current = store.inputs(
            window.project,
            window.endpoint,
            start=window.start,
            end=window.end,
            model=model,
            version=version,
            route="primary",
            with_output=bool(target),
        )
        if target:
            current = current.rename(columns={"output": str(target)})
        title = (
            f"Drift of {window.endpoint}, {model} v{version}, "
            f"{window.start:%Y-%m-%d %H:%M} to {window.end:%Y-%m-%d %H:%M} UTC"
        )
        report = drift_report(
            profile, current, columns=options.get("columns"), title=title, **thresholds
        )
        missing = report.columns.loc[
            report.columns["note"] == "not in the current data", "column"
        ].tolist()
        judged = int(report.columns["method"].notna().sum())
        message = (
            f"{len(report.drifted)} of {judged} columns drifted"
            + (f": {', '.join(report.drifted[:10])}" if report.drifted else "")
            + (f"; not logged: {', '.join(map(str, missing[:10]))}" if missing else "")
        )
        if judged == 0:
            figures.append(
                Figure("drift", "drift_share", None, model, version, "no data",
                       f"no column could be judged ({message})")
            )  # fmt: skip
            continue
        digest = save_report(report)
        figures += [
            Figure("drift", "drift_share", report.drift_share, model, version, "ok", message,
                   digest),
            Figure("drift", "drifted_columns", float(len(report.drifted)), model, version),
            Figure("drift", "drift", 1.0 if report.drift else 0.0, model, version),
        ]  # fmt: skip
    if failures and len(failures) == len(_versions(served)):
        raise _CheckFailed("; ".join(failures), figures)
    return figures


class _CheckFailed(LooplineError):
    """A check failed as a whole; ``figures`` are the error figures it still records."""

    def __init__(self, message: str, figures: list[Figure]) -> None:
        super().__init__(message)
        self.figures = figures


# -- live quality --


def quality_figures(
    window: Window, options: Mapping[str, Any], primary: pd.DataFrame
) -> list[Figure]:
    """Scores of each model version on its labelled, successful predictions of the window
    (labels for request ids the window did not log are simply not joined)."""
    from loopline.monitoring._quality import (
        CLASSIFICATION,
        REGRESSION,
        classification_scores,
        guess_task,
        regression_scores,
    )

    if primary.empty:
        return [Figure("quality", "labelled", None, status="no data", message="no predictions")]
    judged = primary[primary["label"].notna() & primary["error"].isna()]
    task = options.get("task") or (guess_task(judged["label"]) if len(judged) else None)
    names = REGRESSION if task == "regression" else CLASSIFICATION
    figures: list[Figure] = []
    for model, version in _versions(primary):
        mine = judged[(judged["model"] == model) & _same_version(judged, version)]
        figures.append(Figure("quality", "labelled", float(len(mine)), model, version))
        if mine.empty:
            figures.append(
                Figure("quality", names[0], None, model, version, "no data", "no labels yet")
            )
            continue
        if task == "regression":
            scores = regression_scores(mine["output"], mine["label"])
        else:
            proba = mine["proba"] if "proba" in mine.columns else None
            scores = classification_scores(
                mine["output"], mine["label"], proba, options.get("positive")
            )
        for name in names:
            value = scores.get(name, math.nan)
            if value is None or math.isnan(value):
                continue
            figures.append(Figure("quality", name, float(value), model, version))
    return figures


def _same_version(frame: pd.DataFrame, version: int | None) -> Any:
    if version is None:
        return frame["version"].isna()
    return frame["version"] == version


# -- latency and errors --


def latency_figures(
    window: Window, operations: OperationsSource | None, logged: pd.DataFrame
) -> list[Figure]:
    """Requests, error rate and latency per model version: the serving side's counts when
    there are some, else the logged predictions' (a sample, when the endpoint samples)."""
    found = (
        operations(window.project, window.endpoint, window.start, window.end) if operations else []
    )
    source = "serving statistics"
    if not found:
        found = _from_logs(logged)
        source = "logged predictions"
    if not found:
        return [Figure("latency", "requests", None, status="no data", message="no requests")]
    figures: list[Figure] = []
    for w in found:
        figures.append(Figure("latency", "requests", float(w.requests), w.model, w.version,
                              message=f"from {source}"))  # fmt: skip
        if w.requests == 0:
            continue
        figures.append(Figure("latency", "error_rate", w.errors / w.requests, w.model, w.version))
        for metric, value in (
            ("p50_ms", w.p50_ms),
            ("p95_ms", w.p95_ms),
            ("p99_ms", w.p99_ms),
            ("mean_ms", w.mean_ms),
        ):
            if value is not None and math.isfinite(value):
                figures.append(Figure("latency", metric, float(value), w.model, w.version))
    return figures


def _from_logs(logged: pd.DataFrame) -> list[OperationalWindow]:
    out: list[OperationalWindow] = []
    if logged.empty:
        return out
    for model, version in _versions(logged):
        mine = logged[(logged["model"] == model) & _same_version(logged, version)]
        latency = mine["latency_ms"].to_numpy(dtype=np.float64)
        latency = latency[np.isfinite(latency)]
        p50, p95, p99 = (
            (float(x) for x in np.percentile(latency, [50, 95, 99]))
            if latency.size
            else (None, None, None)
        )
        out.append(
            OperationalWindow(
                model=model,
                version=version,
                requests=len(mine),
                errors=int(mine["error"].notna().sum()),
                p50_ms=p50,
                p95_ms=p95,
                p99_ms=p99,
                mean_ms=float(latency.mean()) if latency.size else None,
            )
        )
    return out


def split_label(label: str) -> tuple[str, int | None]:
    """``"churn/3"`` (how inference servers name a model version) -> ``("churn", 3)``."""
    name, _, version = label.rpartition("/")
    if name and version.isdigit():
        return name, int(version)
    return label, None


def missing_reference(project: str, model: str, version: int | None) -> NotFound:
    return NotFound(
        f"Model {model!r} version {version} in project {project!r} has no reference profile "
        f"(it was not trained from a dataset version with a profile): give the monitor "
        f"drift={{'reference': 'dataset-name'}} to compare with a dataset instead."
    )
