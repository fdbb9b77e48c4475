"""A loaded model as the inference server drives it: check a request, predict, in batches.

``prepare`` checks one request's rows against the model's signature and converts each column
to the type the model takes (a wrong request is an :class:`InputError` naming the column, so
it never reaches the model, and never spoils a batch it would have joined). ``predict`` runs
one or more prepared requests as a single call and splits the answers back.

The fast path: a scikit-learn model whose inputs are all numeric columns is called with one
float array instead of a DataFrame, which skips pandas and scikit-learn's per-column checks
(about 0.8 ms of a 1 ms single-row call on our machines). It is used only after a check at load
time: on the model's input example, the array path must give exactly what the DataFrame path
gives, with no warning, or the model keeps the DataFrame path.

The linear path goes one step further for a dense linear model (``LogisticRegression``,
``LinearRegression``, ``SGDClassifier``...): the same arithmetic scikit-learn's ``predict``
does (``X @ coef_.T + intercept_``, then the class), without its ~0.1 ms of per-call input
checks. Those checks are what the request's own checks already did, except finiteness: with
this path a NaN or infinite value is refused with a 422 naming the column (scikit-learn would
raise, and the bare arithmetic would answer). It is kept only if, at load time, it gives exactly
``model.predict``'s answers (values, dtype and shape) on the input example and on probe rows.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from loopline.registry import SchemaMismatch
from loopline.serving._inputs import Batch, InputError
from loopline.serving._types import Batching

if TYPE_CHECKING:
    import pandas as pd

    from loopline.registry import LoadedModel

__all__ = ["ModelRunner", "Prepared", "BATCHABLE_FLAVORS"]

log = logging.getLogger("loopline.serving")

BATCHABLE_FLAVORS = frozenset({"sklearn", "xgboost", "lightgbm", "onnx"})
"""Flavors whose predictions are row by row, so rows of several requests may share a call."""

_NUMERIC = {"boolean": "bool", "integer": "int32", "long": "int64", "float": "float32",
            "double": "float64"}  # fmt: skip
_MAX_ESTIMATOR_DEPTH = 6


@dataclass(slots=True)
class Prepared:
    """One request's rows, checked and typed: columns in the model's order, or one array."""

    n: int
    columns: dict[str, np.ndarray[Any, Any]] | None = None
    array: np.ndarray[Any, Any] | None = None


class ModelRunner:
    """One model version behind an endpoint.

    Args:
        model: the loaded model.
        name: the registered model's name; ``version`` its version number.
        batching: the endpoint's batching settings (``enabled=None``: by flavor).
    """

    def __init__(self, model: LoadedModel, name: str, version: int, batching: Batching) -> None:
        self.model = model
        self.name = name
        self.version = version
        self.label = f"{name}/{version}"
        enabled = batching.enabled
        self.batchable = model.flavor in BATCHABLE_FLAVORS if enabled is None else enabled
        self.max_batch_size = batching.max_batch_size
        self.max_latency_ms = float(batching.max_latency_ms)
        signature = model.signature
        schema = None if signature is None else signature.inputs
        self._columns: list[str] | None = None
        self._dtypes: dict[str, str | None] = {}
        self._tensor = schema is not None and schema.kind == "tensor"
        if schema is not None and schema.kind == "columns":
            self._columns = [c.name for c in schema.columns]
            self._dtypes = {c.name: _NUMERIC.get(c.type) for c in schema.columns}
        self._fast: Callable[[np.ndarray[Any, Any]], Any] | None = None
        self._linear = False

    # -- loading -------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Predict the input example once (first calls are slow), and try the fast path."""
        example = self.model.input_example()
        if example is None:
            return
        batch = _example_batch(example)
        prepared = self.prepare(batch)
        reference = self.predict([prepared])
        self._try_fast_path(prepared, reference)

    def _try_fast_path(self, prepared: Prepared, reference: Any) -> None:
        if (
            self.model.flavor != "sklearn"
            or self._columns is None
            or any(t is None for t in self._dtypes.values())
        ):
            return
        native = self.model.native
        stripped = _strip_feature_names(native)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                got = native.predict(self._matrix([prepared]))
            same = not caught and _same(got, reference)
        except Exception as exc:  # noqa: BLE001 - any failure means: keep the DataFrame path
            log.debug("%s: array path refused (%s); using DataFrames", self.label, exc)
            same = False
        if not same:
            _restore_feature_names(stripped)
            return
        self._fast = native.predict
        linear = _linear_predict(native)
        if linear is not None and _agrees(linear, native.predict, self._matrix([prepared])):
            self._fast = linear
            self._linear = True

    def rebatched(self, batching: Batching) -> ModelRunner:
        """This model under other batching settings (a new revision that keeps the model)."""
        twin = ModelRunner(self.model, self.name, self.version, batching)
        twin._fast = self._fast
        twin._linear = self._linear
        return twin

    @property
    def fast(self) -> bool:
        """Whether predictions take the array path (see the module's docstring)."""
        return self._fast is not None

    @property
    def path(self) -> str:
        """How predictions are computed: ``linear``, ``array`` or ``dataframe`` (see above)."""
        return "linear" if self._linear else "array" if self._fast is not None else "dataframe"

    # -- serving -------------------------------------------------------------------------------

    def prepare(self, batch: Batch) -> Prepared:
        """``batch`` checked against the signature; :class:`InputError` (422) names the field."""
        if self._columns is not None:
            return self._prepare_columns(batch, self._columns)
        if self._tensor:
            data: Any = batch.array
            if data is None and batch.columns is not None and len(batch.columns) == 1:
                data = next(iter(batch.columns.values()))
            if data is None:
                raise InputError(
                    f"{self.label} takes one tensor; the request has named columns "
                    f"{sorted(batch.columns or {})}. Send 'instances' or 'inputs' as an array.",
                    status=422,
                )
            try:
                array = self.model.signature.inputs.conform(data)  # type: ignore[union-attr]
            except SchemaMismatch as exc:
                raise InputError(exc.message, field="inputs", status=422) from None
            return Prepared(n=int(array.shape[0]), array=array)
        if batch.columns is not None:
            return Prepared(n=batch.n, columns={k: _as_array(v) for k, v in batch.columns.items()})
        return Prepared(n=batch.n, array=batch.array)

    def _prepare_columns(self, batch: Batch, names: list[str]) -> Prepared:
        given = batch.columns
        if given is None:
            array = batch.array
            assert array is not None
            if array.ndim == 1 and len(names) == 1:
                given = {names[0]: array}
            elif array.ndim == 2 and array.shape[1] == len(names):
                given = {name: array[:, i] for i, name in enumerate(names)}
            else:
                raise InputError(
                    f"{self.label} takes {len(names)} named columns ({', '.join(names[:20])}); "
                    f"the request is an array of shape {list(array.shape)}. Send "
                    f"'dataframe_split' with those columns, or rows of {len(names)} values.",
                    field="inputs",
                    status=422,
                )
        missing = [n for n in names if n not in given]
        if missing:
            raise InputError(
                f"The request is missing column {missing[0]!r}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + f"; {self.label} takes {', '.join(names[:20])}.",
                field=missing[0],
                status=422,
            )
        extra = [g for g in given if g not in self._dtypes]
        if extra:
            raise InputError(
                f"The request has column {extra[0]!r}, which {self.label} does not take; it "
                f"takes {', '.join(names[:20])}.",
                field=extra[0],
                status=422,
            )
        columns = {name: self._column(name, given[name]) for name in names}
        if self._linear:
            for name, column in columns.items():
                if column.dtype.kind == "f" and not np.isfinite(column).all():
                    raise InputError(
                        f"Column {name!r} holds NaN or infinity; {self.label} takes finite "
                        f"numbers.",
                        field=name,
                        status=422,
                    )
        return Prepared(n=batch.n, columns=columns)

    def _column(self, name: str, values: Any) -> np.ndarray[Any, Any]:
        dtype = self._dtypes[name]
        array = _as_array(values)
        if array.ndim != 1:
            raise InputError(
                f"Column {name!r} holds nested values (shape {list(array.shape)}); it takes one "
                f"value per row.",
                field=name,
                status=422,
            )
        if dtype is None:
            return array
        kind = array.dtype.kind
        if kind == "O":  # nulls among numbers, or mixed values
            if dtype in ("float32", "float64"):
                try:
                    array = np.array([np.nan if v is None else v for v in array], dtype=dtype)
                except (TypeError, ValueError):
                    raise _mistyped(name, dtype, array) from None
                return array
            raise _mistyped(name, dtype, array)
        if dtype == "bool":
            if kind != "b":
                raise _mistyped(name, dtype, array)
            return array
        if kind not in "biuf" or kind == "b":
            raise _mistyped(name, dtype, array)
        if (
            dtype.startswith("int")
            and kind == "f"
            and (not np.all(np.isfinite(array)) or not np.all(np.mod(array, 1) == 0))
        ):
            raise _mistyped(name, dtype, array)
        return array.astype(dtype, copy=False)

    def predict(self, parts: Sequence[Prepared]) -> Any:
        """Predictions for the rows of ``parts``, in order, from one call to the model."""
        if self._fast is not None:
            return self._fast(self._matrix(parts))
        return self.model.predict(self._frame(parts), conform=False)

    def _matrix(self, parts: Sequence[Prepared]) -> np.ndarray[Any, Any]:
        """The rows as one float64 matrix, column-major: the layout scikit-learn gets from a
        DataFrame, so that a product over several rows rounds exactly as it does there (the
        order of the additions in a matrix product depends on the layout)."""
        assert self._columns is not None
        if len(parts) == 1:
            cols = parts[0].columns
            assert cols is not None
            stacked = np.vstack([cols[n] for n in self._columns])
        else:
            stacked = np.vstack(
                [np.concatenate([p.columns[n] for p in parts]) for n in self._columns]  # type: ignore[index]
            )
        return stacked.astype(np.float64, copy=False).T

    def _frame(self, parts: Sequence[Prepared]) -> Any:
        first = parts[0]
        if first.columns is not None:
            import pandas as pd

            names = self._columns or list(first.columns)
            if len(parts) == 1:
                return pd.DataFrame(first.columns, columns=names)
            return pd.DataFrame(
                {n: np.concatenate([p.columns[n] for p in parts if p.columns]) for n in names}
            )
        if len(parts) == 1:
            return first.array
        return np.concatenate([p.array for p in parts])


def split_outputs(outputs: Any, sizes: Sequence[int]) -> list[Any]:
    """The model's answer for a batch, cut back into one answer per request."""
    if len(sizes) == 1:
        return [outputs]
    if hasattr(outputs, "iloc"):
        outputs = outputs.to_numpy()
    array = outputs if isinstance(outputs, np.ndarray) else np.asarray(outputs)
    out, start = [], 0
    for n in sizes:
        out.append(array[start : start + n])
        start += n
    return out


def _as_array(values: Any) -> np.ndarray[Any, Any]:
    if isinstance(values, np.ndarray):
        return values
    try:
        return np.asarray(values)
    except ValueError:
        return np.asarray(values, dtype=object)


def _mistyped(name: str, dtype: str, array: np.ndarray[Any, Any]) -> InputError:
    sample = next((v for v in array.tolist() if not isinstance(v, int | float)), array[:1].tolist())
    return InputError(
        f"Column {name!r} takes {dtype} values; the request has {sample!r}.",
        field=name,
        status=422,
    )


def _example_batch(example: Any) -> Batch:
    import pandas as pd

    if isinstance(example, pd.DataFrame):
        return Batch(n=len(example), columns={str(c): example[c].to_numpy() for c in example})
    if isinstance(example, dict):
        columns = {str(k): _as_array(v) for k, v in example.items()}
        n = len(next(iter(columns.values()))) if columns else 0
        return Batch(n=n, columns=columns)
    array = np.asarray(example)
    return Batch(n=int(array.shape[0]) if array.ndim else 1, array=array)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except (TypeError, ValueError):
        return False


def _linear_predict(estimator: Any) -> Callable[[np.ndarray[Any, Any]], Any] | None:
    """scikit-learn's own ``predict`` arithmetic for a dense linear model, or None when
    ``estimator`` is not one whose ``predict`` is exactly that (a subclass that overrides it,
    sparse coefficients, a pipeline...)."""
    try:
        from sklearn.linear_model._base import LinearClassifierMixin, LinearModel
    except ImportError:  # pragma: no cover - another scikit-learn layout: keep the array path
        return None
    cls = type(estimator)
    coef = getattr(estimator, "coef_", None)
    intercept = getattr(estimator, "intercept_", None)
    if not isinstance(coef, np.ndarray) or coef.dtype.kind != "f" or coef.ndim not in (1, 2):
        return None
    if not isinstance(intercept, np.ndarray | float | np.floating):
        return None
    if (
        getattr(cls, "predict", None) is LinearClassifierMixin.predict
        and getattr(cls, "decision_function", None) is LinearClassifierMixin.decision_function
    ):
        classes = getattr(estimator, "classes_", None)
        if not isinstance(classes, np.ndarray) or classes.ndim != 1:
            return None
        weights = coef.T if coef.ndim == 2 else coef

        def classify(x: np.ndarray[Any, Any]) -> Any:
            # LinearClassifierMixin.decision_function, then .predict (numpy, dense X).
            scores = x @ weights + intercept
            if scores.ndim > 1 and scores.shape[1] == 1:
                scores = scores.reshape(-1)
            indices = (scores > 0).astype(np.intp) if scores.ndim == 1 else scores.argmax(axis=1)
            return classes.take(indices, axis=0)

        return classify
    regressors = {LinearModel.predict}
    multi = getattr(sys.modules.get("sklearn.linear_model._base"), "MultiOutputLinearModel", None)
    if multi is not None:
        regressors.add(multi.predict)
    if (
        getattr(cls, "predict", None) in regressors
        and getattr(cls, "_decision_function", None) is LinearModel._decision_function
    ):

        def regress(x: np.ndarray[Any, Any]) -> Any:
            # LinearModel._decision_function (numpy, dense X).
            return x @ coef + intercept if coef.ndim == 1 else x @ coef.T + intercept

        return regress
    return None


def _agrees(
    candidate: Callable[[np.ndarray[Any, Any]], Any],
    reference: Callable[[np.ndarray[Any, Any]], Any],
    example: np.ndarray[Any, Any],
) -> bool:
    """Whether ``candidate`` answers exactly as ``reference`` (values, dtype, shape) on the
    example, on each of its rows alone, and on probe rows around it (seeded)."""
    rng = np.random.default_rng(20261123)
    scale = np.maximum(np.abs(example).max(axis=0), 1.0)
    probes = [
        example,
        *(example[i : i + 1] for i in range(min(len(example), 8))),
        np.zeros((1, example.shape[1])),
        rng.normal(size=(64, example.shape[1])) * scale,
        rng.normal(size=(16, example.shape[1])) * scale * 1e3,
        rng.uniform(-1, 1, size=(16, example.shape[1])) * 1e-6,
    ]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for rows in probes:
                rows = np.ascontiguousarray(rows, dtype=np.float64)
                got, want = np.asarray(candidate(rows)), np.asarray(reference(rows))
                if got.dtype != want.dtype or got.shape != want.shape:
                    return False
                if not np.array_equal(got, want):
                    return False
        return not caught
    except Exception as exc:  # noqa: BLE001 - any failure means: keep scikit-learn's predict
        log.debug("linear path refused (%s)", exc)
        return False


def _estimators(root: Any) -> list[Any]:
    """Every scikit-learn estimator reachable from ``root`` (steps, sub-estimators)."""
    seen: dict[int, Any] = {}

    def visit(obj: Any, depth: int) -> None:
        if depth > _MAX_ESTIMATOR_DEPTH or id(obj) in seen:
            return
        if isinstance(obj, list | tuple):
            for item in obj[:1000]:
                visit(item, depth + 1)
            return
        if not hasattr(obj, "get_params") or not hasattr(obj, "__dict__"):
            return
        seen[id(obj)] = obj
        for value in vars(obj).values():
            if isinstance(value, list | tuple) or hasattr(value, "get_params"):
                visit(value, depth + 1)

    visit(root, 0)
    return list(seen.values())


def _strip_feature_names(root: Any) -> list[tuple[Any, Any]]:
    stripped = []
    for est in _estimators(root):
        names = est.__dict__.pop("feature_names_in_", None)
        if names is not None:
            stripped.append((est, names))
    return stripped


def _restore_feature_names(stripped: list[tuple[Any, Any]]) -> None:
    for est, names in stripped:
        est.feature_names_in_ = names


def frame_of(prepared: Prepared, names: Sequence[str] | None = None) -> pd.DataFrame:
    """One prepared request as a DataFrame (for logs and batch scoring)."""
    import pandas as pd

    if prepared.columns is not None:
        return pd.DataFrame(prepared.columns, columns=list(names or prepared.columns))
    array = prepared.array
    assert array is not None
    return pd.DataFrame({"input": list(array)})
