"""``ll.autolog()``: scikit-learn's ``fit`` records itself as a run.

Every classifier, regressor and clusterer scikit-learn lists (``sklearn.utils.all_estimators``),
``Pipeline``, ``GridSearchCV`` and ``RandomizedSearchCV`` get their ``fit`` wrapped. A wrapped
``fit``:

- uses the current run, or starts one named after the estimator (and ends it afterwards:
  finished, or failed when ``fit`` raises);
- records the estimator's params (``get_params(deep=True)``, as text; values that are
  estimators themselves are recorded by class name);
- after a successful fit, records training metrics on the data it was fitted on (classifiers:
  accuracy, weighted precision, recall and F1; regressors: MSE, MAE, R²), and the fitted model as
  the artifact ``model/model.pkl`` (pickle: load it only from a store you trust);
- records nothing for the fits a meta-estimator makes inside its own ``fit`` (a Pipeline's steps,
  a grid search's candidates): one fit, one record.

``ll.autolog(disable=True)`` puts the original methods back.
"""

from __future__ import annotations

import contextvars
import functools
import pickle
import threading
import warnings
from collections.abc import Callable
from typing import Any

from loopline.errors import InvalidInput, LooplineError

__all__ = ["autolog"]

_inside_fit: contextvars.ContextVar[bool] = contextvars.ContextVar("loopline_in_fit", default=False)
_patched: dict[type, Callable[..., Any]] = {}
_lock = threading.Lock()
_MAX_PARAMS = 200


def autolog(*, disable: bool = False, log_models: bool = True) -> None:
    """Record scikit-learn fits as runs (see the module docs). Idempotent."""
    try:
        from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
        from sklearn.pipeline import Pipeline
        from sklearn.utils import all_estimators
    except ImportError as exc:
        raise InvalidInput(
            "ll.autolog() records scikit-learn fits, and scikit-learn is not installed: "
            "pip install 'loopline[sklearn]'."
        ) from exc
    with _lock:
        if disable:
            for cls, original in _patched.items():
                cls.fit = original  # type: ignore[attr-defined]
            _patched.clear()
            return
        # Models and the meta-estimators people fit; not the transformers and encoders that
        # fit as a means to an end (a LabelEncoder of its own would be noise).
        models = all_estimators(type_filter=["classifier", "regressor", "cluster"])
        classes = {cls for _, cls in models} | {Pipeline, GridSearchCV, RandomizedSearchCV}
        for listed in classes:
            # Patch the class that defines the fit a listed class uses: a RandomForest's fit
            # lives on BaseForest, which scikit-learn does not list.
            owner = next((c for c in listed.__mro__ if "fit" in c.__dict__), None)
            if owner is None or owner in _patched:
                continue
            fit = owner.__dict__["fit"]
            if getattr(fit, "__loopline_autolog__", False):
                continue
            _patched[owner] = fit
            owner.fit = _wrap(fit, log_models)


def _wrap(fit: Callable[..., Any], log_models: bool) -> Callable[..., Any]:
    @functools.wraps(fit)
    def logged_fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _inside_fit.get():
            return fit(self, *args, **kwargs)
        token = _inside_fit.set(True)
        try:
            return _record(fit, self, args, kwargs, log_models)
        finally:
            _inside_fit.reset(token)

    logged_fit.__loopline_autolog__ = True  # type: ignore[attr-defined]
    return logged_fit


def _record(
    fit: Callable[..., Any],
    estimator: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    log_models: bool,
) -> Any:
    from loopline._api import start_run
    from loopline._runs import active_run

    run = active_run()
    own = run is None
    if run is None:
        run = start_run(name=type(estimator).__name__, capture=False)
    try:
        _quietly(run.log_params, _params(estimator))
        name = f"{type(estimator).__module__}.{type(estimator).__qualname__}"
        _quietly(run.set_tag, "estimator", name)
        result = fit(estimator, *args, **kwargs)
        X = args[0] if args else kwargs.get("X")
        y = args[1] if len(args) > 1 else kwargs.get("y")
        if X is not None and y is not None:
            _quietly(run.log_metrics, _training_metrics(estimator, X, y))
        if log_models:
            _quietly(run.log_bytes, pickle.dumps(estimator), "model/model.pkl")
    except BaseException:
        if own:
            run.end("failed")
        raise
    if own:
        run.end("finished")
    return result


def _quietly(action: Callable[..., Any], *args: Any) -> None:
    """Recording must never break training: a failure to record becomes a warning."""
    try:
        action(*args)
    except LooplineError as exc:
        warnings.warn(f"loopline autolog could not record: {exc}", RuntimeWarning, stacklevel=3)


def _params(estimator: Any) -> dict[str, str]:
    params = {}
    for key, value in sorted(estimator.get_params(deep=True).items())[:_MAX_PARAMS]:
        if hasattr(value, "get_params"):
            value = type(value).__name__
        text = str(value)
        params[key] = text if len(text) <= 500 else text[:497] + "..."
    return params


def _training_metrics(estimator: Any, X: Any, y: Any) -> dict[str, float]:
    from sklearn import metrics
    from sklearn.base import is_classifier, is_regressor

    try:
        predicted = estimator.predict(X)
    except Exception:  # noqa: BLE001 - transformers and clusterers may not predict: no metrics
        return {}
    if is_classifier(estimator):
        return {
            "training_accuracy": float(metrics.accuracy_score(y, predicted)),
            "training_precision": float(
                metrics.precision_score(y, predicted, average="weighted", zero_division=0)
            ),
            "training_recall": float(
                metrics.recall_score(y, predicted, average="weighted", zero_division=0)
            ),
            "training_f1": float(
                metrics.f1_score(y, predicted, average="weighted", zero_division=0)
            ),
        }
    if is_regressor(estimator):
        return {
            "training_mse": float(metrics.mean_squared_error(y, predicted)),
            "training_mae": float(metrics.mean_absolute_error(y, predicted)),
            "training_r2": float(metrics.r2_score(y, predicted)),
        }
    return {}
