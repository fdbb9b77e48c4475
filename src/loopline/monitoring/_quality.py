"""Live quality: how right each model version is in production, window by window.

Once labels are joined to logged predictions (by request id), each time window and model
version gets the usual scores on its labelled, successful predictions:

- classification: ``accuracy``, ``precision``, ``recall``, ``f1`` (binary: of the positive
  class, the larger label unless ``positive`` names it; more classes: macro averages), and
  ``auc`` for binary models that log ``proba`` (the probability of the positive class is the
  last one, as scikit-learn orders ``classes_``);
- regression: ``rmse``, ``mae``, ``bias`` (mean of prediction minus label);

next to the operational figures of every logged request (counts, error rate, latency
percentiles; see :meth:`EvaluationStore.windows`).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from loopline.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

    from loopline.monitoring._evaluation import EvaluationStore

__all__ = ["Task", "live_quality", "classification_scores", "regression_scores"]

Task = Literal["classification", "regression"]
_KEYS = ["window_start", "model", "version", "route"]
CLASSIFICATION = ("accuracy", "precision", "recall", "f1", "auc")
REGRESSION = ("rmse", "mae", "bias")


def live_quality(
    store: EvaluationStore,
    project: str,
    endpoint: str,
    *,
    every: timedelta = timedelta(hours=1),
    start: datetime | None = None,
    end: datetime | None = None,
    model: str | None = None,
    version: int | None = None,
    route: str | None = None,
    task: Task | None = None,
    positive: Any = None,
) -> pd.DataFrame:
    """Scores per time window and model version, from the evaluation store.

    Args:
        task: ``"classification"`` or ``"regression"`` (default: guessed from the labels:
            text, booleans or at most 20 distinct whole numbers mean classification).
        positive: the positive class of a binary classifier (default: the larger label).

    Returns:
        One row per window and version: the columns of :meth:`EvaluationStore.windows`, then
        the scores of ``task`` (NaN where a window has no labelled prediction).

    Example:
        >>> live_quality(store, "demo", "churn-api", every=timedelta(days=1))  # doctest: +SKIP
    """
    if task is not None and task not in ("classification", "regression"):
        raise InvalidInput(f"task={task!r}: expected 'classification' or 'regression'.")
    windows = store.windows(
        project, endpoint, every=every, start=start, end=end, model=model, version=version,
        route=route,
    )  # fmt: skip
    rows = store.predictions(
        project, endpoint, start=start, end=end, model=model, version=version, route=route
    )
    judged = rows[rows["label"].notna() & rows["error"].isna()].copy()
    if task is None:
        task = guess_task(judged["label"]) if len(judged) else "classification"
    scores = REGRESSION if task == "regression" else CLASSIFICATION
    if judged.empty:
        for name in scores:
            windows[name] = math.nan
        return windows
    import pandas as pd

    # The windows of EvaluationStore.windows: multiples of `every` since the epoch, in UTC.
    since_epoch = (judged["ts"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(every)
    judged["window_start"] = pd.Timestamp(0, tz="UTC") + since_epoch * pd.Timedelta(every)
    found: list[dict[str, Any]] = []
    for key, group in judged.groupby(_KEYS, sort=True, dropna=False):
        values = dict(zip(_KEYS, key, strict=True))
        if task == "regression":
            values.update(regression_scores(group["output"], group["label"]))
        else:
            proba = group["proba"] if "proba" in group.columns else None
            values.update(classification_scores(group["output"], group["label"], proba, positive))
        found.append(values)
    scored = pd.DataFrame(found, columns=[*_KEYS, *scores])
    scored["version"] = scored["version"].astype(windows["version"].dtype)
    scored["window_start"] = scored["window_start"].astype(windows["window_start"].dtype)
    return windows.merge(scored, on=_KEYS, how="left")


def guess_task(labels: Any) -> Task:
    """Classification for text, booleans, or at most 20 distinct whole numbers."""
    import pandas as pd

    values = pd.Series(labels).dropna()
    if values.empty:
        return "classification"
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return "classification"
    numbers = values.to_numpy(dtype=np.float64)
    whole = bool(np.all(numbers == np.round(numbers)))
    return "classification" if whole and np.unique(numbers).size <= 20 else "regression"


def regression_scores(predicted: Any, actual: Any) -> dict[str, float]:
    """``rmse``, ``mae`` and ``bias`` (mean of predicted minus actual)."""
    try:
        p = np.asarray(predicted, dtype=np.float64)
        a = np.asarray(actual, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"Regression scores need numeric outputs and labels ({exc}); for class labels, "
            f"pass task='classification'."
        ) from exc
    error = p - a
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "bias": float(np.mean(error)),
    }


def classification_scores(
    predicted: Any, actual: Any, proba: Any = None, positive: Any = None
) -> dict[str, float]:
    """``accuracy``, ``precision``, ``recall``, ``f1`` and (binary, with ``proba``) ``auc``."""
    p = _labels(predicted)
    a = _labels(actual)
    classes = sorted(set(a.tolist()) | set(p.tolist()), key=_sort_key)
    out = {"accuracy": float(np.mean(p == a)) if a.size else math.nan}
    if len(classes) <= 2 and (positive is None or positive in classes or not classes):
        target = positive if positive is not None else (classes[-1] if classes else None)
        precision, recall, f1 = _prf(p == target, a == target)
        out.update(precision=precision, recall=recall, f1=f1)
        out["auc"] = _auc(proba, a == target) if proba is not None else math.nan
        return out
    scores = np.array([_prf(p == c, a == c) for c in classes])
    with np.errstate(invalid="ignore"):
        out.update(
            precision=float(np.nanmean(scores[:, 0])),
            recall=float(np.nanmean(scores[:, 1])),
            f1=float(np.nanmean(scores[:, 2])),
        )
    out["auc"] = math.nan
    return out


def _labels(values: Any) -> np.ndarray[Any, Any]:
    array = np.asarray(list(values), dtype=object)
    # 1 and 1.0 and True are the same class; "1" is not.
    return np.array([_canonical(v) for v in array], dtype=object)


def _canonical(value: Any) -> Any:
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))


def _prf(
    predicted: np.ndarray[Any, Any], actual: np.ndarray[Any, Any]
) -> tuple[float, float, float]:
    true_positive = float(np.sum(predicted & actual))
    precision = true_positive / float(np.sum(predicted)) if np.any(predicted) else math.nan
    recall = true_positive / float(np.sum(actual)) if np.any(actual) else math.nan
    if math.isnan(precision) or math.isnan(recall) or precision + recall == 0:
        f1 = 0.0 if precision == 0 or recall == 0 else math.nan
    else:
        f1 = 2 * precision * recall / (precision + recall)
    return precision, recall, f1


def _auc(proba: Any, actual: np.ndarray[Any, Any]) -> float:
    """ROC AUC by ranks (Mann-Whitney), ties counted half."""
    from scipy.stats import rankdata  # type: ignore[import-untyped]

    scores = np.array(
        [float(v[-1]) if isinstance(v, list | np.ndarray) and len(v) else math.nan for v in proba],
        np.float64,
    )
    keep = ~np.isnan(scores)
    scores, actual = scores[keep], actual[keep].astype(bool)
    positives, negatives = int(actual.sum()), int((~actual).sum())
    if positives == 0 or negatives == 0:
        return math.nan
    ranks = rankdata(scores)
    return float((ranks[actual].sum() - positives * (positives + 1) / 2) / (positives * negatives))
