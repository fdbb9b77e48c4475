"""Model signatures: the input and output schema of a model, inferred from examples and enforced
at ``predict`` time.

A schema is either **columns** (named, typed: a DataFrame, a dict of columns, records) or a
**tensor** (one typed array with a shape, ``-1`` for any size). Types are a small vocabulary that
every flavor and the JSON on the wire share: ``boolean``, ``integer`` (32 bits or fewer),
``long``, ``float`` (32 bits), ``double``, ``string``, ``binary``, ``datetime`` and ``any``.

Enforcement accepts an input that can be converted without losing anything (an ``integer``
column where ``long`` or ``double`` is expected, columns in another order) and refuses the rest
with one error that lists every missing, extra and mistyped column.

Example:
    >>> sig = infer_signature(pd.DataFrame({"age": [31], "city": ["Lyon"]}))
    >>> sig.inputs.columns
    (ColumnSpec(name='age', type='long', shape=None), ColumnSpec(name='city', type='string', ...))
    >>> sig.inputs.conform(pd.DataFrame({"city": ["Paris"]}))
    Traceback (most recent call last):
    loopline.registry.SchemaMismatch: The input does not match the model's signature: missing ...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from loopline.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "ColumnType",
    "COLUMN_TYPES",
    "ColumnSpec",
    "TensorSpec",
    "Schema",
    "Signature",
    "SchemaMismatch",
    "infer_schema",
    "infer_signature",
]

ColumnType = Literal[
    "boolean", "integer", "long", "float", "double", "string", "binary", "datetime", "any"
]
COLUMN_TYPES: tuple[ColumnType, ...] = (
    "boolean",
    "integer",
    "long",
    "float",
    "double",
    "string",
    "binary",
    "datetime",
    "any",
)
# What each type may be given instead without losing anything (numbers only ever widen).
_WIDENS_TO: dict[str, frozenset[str]] = {
    "integer": frozenset({"long", "float", "double"}),
    "long": frozenset({"double"}),
    "float": frozenset({"double"}),
}
_NUMPY_OF: dict[str, str] = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "object",
    "binary": "object",
    "datetime": "datetime64[ns]",
    "any": "object",
}
MAX_LISTED = 20


class SchemaMismatch(InvalidInput):
    """The input of ``predict`` does not match the model's signature.

    ``details`` holds ``missing`` and ``extra`` (column names) and ``mistyped`` (a list of
    ``{"column", "expected", "got"}``).
    """


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One input or output column: its name, type and, for array-valued columns, shape."""

    name: str
    type: ColumnType
    shape: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.shape is not None:
            out["shape"] = list(self.shape)
        return out


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One typed array; ``-1`` in ``shape`` is any size (the batch dimension always is)."""

    type: ColumnType
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "shape": list(self.shape)}


@dataclass(frozen=True, slots=True)
class Schema:
    """Named columns, or one tensor."""

    columns: tuple[ColumnSpec, ...] = ()
    tensor: TensorSpec | None = None

    @property
    def kind(self) -> Literal["columns", "tensor"]:
        return "tensor" if self.tensor is not None else "columns"

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        if self.tensor is not None:
            return {"kind": "tensor", **self.tensor.to_dict()}
        return {"kind": "columns", "columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        try:
            if data.get("kind") == "tensor":
                return cls(
                    tensor=TensorSpec(_type(data["type"]), tuple(int(d) for d in data["shape"]))
                )
            columns = tuple(
                ColumnSpec(
                    str(c["name"]),
                    _type(c["type"]),
                    None if c.get("shape") is None else tuple(int(d) for d in c["shape"]),
                )
                for c in data["columns"]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"Malformed schema {dict(data)!r}: {exc}") from exc
        if len({c.name for c in columns}) != len(columns):
            raise InvalidInput("A schema names each column once.")
        return cls(columns=columns)

    def describe(self) -> str:
        """One line for people: ``age: long, city: string`` or ``tensor double [-1, 4]``."""
        if self.tensor is not None:
            return f"tensor {self.tensor.type} {list(self.tensor.shape)}"
        return ", ".join(
            f"{c.name}: {c.type}" + ("" if c.shape is None else f" {list(c.shape)}")
            for c in self.columns
        )

    def conform(self, data: Any) -> Any:
        """``data`` as the model expects it, or :class:`SchemaMismatch` saying every difference.

        Columns come back as a DataFrame in the schema's order (a dict of columns or a list of
        records is turned into one; a 2-D array of the right width too); a tensor as a numpy
        array. Types widen where nothing is lost.
        """
        if self.tensor is not None:
            return _conform_tensor(self.tensor, data)
        return _conform_columns(self.columns, data)


@dataclass(frozen=True, slots=True)
class Signature:
    """What a model takes and what it gives back.

    Example:
        >>> Signature.from_dict(sig.to_dict()) == sig
        True
    """

    inputs: Schema
    outputs: Schema | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs.to_dict(),
            "outputs": None if self.outputs is None else self.outputs.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        if not isinstance(data, Mapping) or "inputs" not in data:
            raise InvalidInput("A signature is a mapping with 'inputs' (and 'outputs').")
        outputs = data.get("outputs")
        return cls(
            Schema.from_dict(data["inputs"]), None if outputs is None else Schema.from_dict(outputs)
        )


def infer_signature(input_example: Any, output_example: Any = None) -> Signature:
    """The signature of a model that takes ``input_example`` and gives ``output_example``.

    Example:
        >>> infer_signature(np.zeros((2, 4)), np.zeros(2)).inputs.describe()
        'tensor double [-1, 4]'
    """
    return Signature(
        infer_schema(input_example),
        None if output_example is None else infer_schema(output_example),
    )


def infer_schema(data: Any) -> Schema:
    """The schema of ``data``: a DataFrame, a Series, a numpy array, a dict of columns, a list
    of records, or a list of numbers (a tensor)."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return Schema(columns=tuple(_frame_column(str(n), data[n]) for n in data.columns))
    if isinstance(data, pd.Series):
        name = str(data.name) if data.name is not None else "0"
        return Schema(columns=(_frame_column(name, data),))
    if isinstance(data, np.ndarray):
        return Schema(tensor=TensorSpec(_numpy_type(data, "the array"), _batch_shape(data.shape)))
    if isinstance(data, Mapping):
        if not data:
            raise InvalidInput("Cannot infer a signature from an empty dict.")
        specs = []
        for key, values in data.items():
            array = np.asarray(values)
            shape = None if array.ndim <= 1 else _batch_shape(array.shape)
            specs.append(ColumnSpec(str(key), _numpy_type(array, f"column {key!r}"), shape))
        return Schema(columns=tuple(specs))
    if isinstance(data, list | tuple) and data and all(isinstance(r, Mapping) for r in data):
        return infer_schema(pd.DataFrame(list(data)))
    if isinstance(data, list | tuple):
        return infer_schema(np.asarray(data))
    try:  # a tensor of a framework that numpy understands (torch without grad, for example)
        array = np.asarray(data)
    except Exception as exc:
        raise InvalidInput(
            f"Cannot infer a signature from a {type(data).__name__}: give a DataFrame, a numpy "
            f"array, a dict of columns or a list of records."
        ) from exc
    if array.dtype == object and array.ndim == 0:
        raise InvalidInput(
            f"Cannot infer a signature from a {type(data).__name__}: give a DataFrame, a numpy "
            f"array, a dict of columns or a list of records."
        )
    return infer_schema(array)


# -- inference helpers ---------------------------------------------------------------------------


def _type(value: object) -> ColumnType:
    for known in COLUMN_TYPES:
        if value == known:
            return known
    raise InvalidInput(f"Unknown column type {value!r}: expected one of {', '.join(COLUMN_TYPES)}.")


def _batch_shape(shape: Sequence[int]) -> tuple[int, ...]:
    return (-1, *(int(d) for d in shape[1:])) if shape else (-1,)


def _numpy_type(array: np.ndarray[Any, Any], what: str) -> ColumnType:
    kind, size = array.dtype.kind, array.dtype.itemsize
    if kind == "b":
        return "boolean"
    if kind == "i":
        return "integer" if size <= 4 else "long"
    if kind == "u":
        return "integer" if size <= 2 else "long"
    if kind == "f":
        return "float" if size <= 4 else "double"
    if kind == "U":
        return "string"
    if kind == "S":
        return "binary"
    if kind == "M":
        return "datetime"
    if kind == "O":
        return _object_type(array.ravel().tolist(), what)
    raise InvalidInput(f"Cannot give {what} a signature type: numpy dtype {array.dtype}.")


def _object_type(values: list[Any], what: str) -> ColumnType:
    present = [v for v in values if v is not None and v == v]  # v == v drops NaN
    if not present:
        return "any"
    kinds = {type(v) for v in present}
    if kinds <= {str}:
        return "string"
    if kinds <= {bytes, bytearray}:
        return "binary"
    if kinds <= {bool}:
        return "boolean"
    if kinds <= {int}:
        return "long"
    if kinds <= {int, float}:
        return "double"
    return "any"


def _frame_column(name: str, column: pd.Series[Any]) -> ColumnSpec:
    import numpy as np
    import pandas as pd

    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return ColumnSpec(name, _frame_column(name, column.astype(dtype.categories.dtype)).type)
    if isinstance(dtype, pd.StringDtype):
        return ColumnSpec(name, "string")
    if isinstance(dtype, pd.DatetimeTZDtype):
        return ColumnSpec(name, "datetime")
    if isinstance(dtype, pd.api.extensions.ExtensionDtype):
        numpy_dtype = getattr(dtype, "numpy_dtype", None)
        if numpy_dtype is not None:
            return ColumnSpec(name, _numpy_type(np.empty(0, numpy_dtype), f"column {name!r}"))
        return ColumnSpec(name, "any")
    if dtype.kind == "O":
        values = column.tolist()
        arrays = [v for v in values if isinstance(v, np.ndarray | list)]
        if arrays and len(arrays) == len(values):
            sample = np.asarray(arrays[0])
            return ColumnSpec(name, _numpy_type(sample, f"column {name!r}"), (-1, *sample.shape))
        return ColumnSpec(name, _object_type(values, f"column {name!r}"))
    return ColumnSpec(name, _numpy_type(column.to_numpy(), f"column {name!r}"))


# -- enforcement ---------------------------------------------------------------------------------


def _accepts(expected: ColumnType, got: ColumnType) -> bool:
    return expected in ("any", got) or expected in _WIDENS_TO.get(got, frozenset())


def _conform_columns(columns: tuple[ColumnSpec, ...], data: Any) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    names = [c.name for c in columns]
    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, Mapping):
        try:
            data = pd.DataFrame({k: list(v) if _is_seq(v) else [v] for k, v in data.items()})
        except ValueError as exc:
            raise InvalidInput(f"The input's columns are not of the same length: {exc}") from exc
    elif isinstance(data, list | tuple) and data and all(isinstance(r, Mapping) for r in data):
        data = pd.DataFrame(list(data))
    elif isinstance(data, np.ndarray | list | tuple):
        array = np.asarray(data)
        if array.ndim == 1 and len(names) > 1:
            array = array.reshape(1, -1)
        if array.ndim != 2 or array.shape[1] != len(names):
            raise SchemaMismatch(
                f"The model takes {len(names)} named columns ({_listed(names)}); the input is an "
                f"array of shape {list(array.shape)}. Pass a DataFrame with those columns.",
                details={"expected": names, "shape": list(array.shape)},
            )
        data = pd.DataFrame(array, columns=names)
    if not isinstance(data, pd.DataFrame):
        raise SchemaMismatch(
            f"The model takes columns ({_listed(names)}); the input is a {type(data).__name__}. "
            f"Pass a DataFrame, a dict of columns or a list of records."
        )
    given = [str(c) for c in data.columns]
    missing = [n for n in names if n not in given]
    extra = [g for g in given if g not in names]
    mistyped: list[dict[str, str]] = []
    out: dict[str, Any] = {}
    for spec in columns:
        if spec.name not in given:
            continue
        column = data[data.columns[given.index(spec.name)]]
        got = _frame_column(spec.name, column)
        if got.type == "any" and column.isna().all():
            got = ColumnSpec(spec.name, spec.type)  # all missing: nothing to disagree with
        if not _accepts(spec.type, got.type) or (
            spec.shape is not None and got.shape is not None and not _fits(spec.shape, got.shape)
        ):
            shown = got.type + ("" if got.shape is None else f" {list(got.shape)}")
            wanted = spec.type + ("" if spec.shape is None else f" {list(spec.shape)}")
            mistyped.append({"column": spec.name, "expected": wanted, "got": shown})
            continue
        if got.type != spec.type and spec.type in _NUMPY_OF and spec.type != "any":
            column = column.astype(np.dtype(_NUMPY_OF[spec.type]))
        out[spec.name] = column
    if missing or extra or mistyped:
        problems = []
        if missing:
            problems.append(f"missing columns {_listed(missing)}")
        if extra:
            problems.append(f"extra columns {_listed(extra)}")
        if mistyped:
            problems.append(
                "mistyped columns "
                + ", ".join(
                    f"{m['column']!r} (expected {m['expected']}, got {m['got']})"
                    for m in mistyped[:MAX_LISTED]
                )
            )
        raise SchemaMismatch(
            "The input does not match the model's signature: "
            + "; ".join(problems)
            + f". The model takes: {Schema(columns=columns).describe()}.",
            details={"missing": missing, "extra": extra, "mistyped": mistyped},
        )
    return pd.DataFrame(out, index=data.index)


def _conform_tensor(spec: TensorSpec, data: Any) -> np.ndarray[Any, Any]:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame | pd.Series):
        data = data.to_numpy()
    try:
        array = np.asarray(data)
    except (TypeError, ValueError) as exc:
        raise SchemaMismatch(f"The input cannot be read as an array: {exc}") from exc
    wanted = f"{spec.type} {list(spec.shape)}"
    if array.dtype.kind == "O" and array.size == 0:
        array = array.astype(_NUMPY_OF[spec.type])
    got_type = _numpy_type(array, "the input") if array.size or array.dtype.kind != "O" else "any"
    if array.ndim == len(spec.shape) - 1 and _fits(spec.shape[1:], array.shape):
        array = array[np.newaxis, ...]  # one example without its batch dimension
    problems = []
    if not _accepts(spec.type, got_type):
        problems.append(f"its type is {got_type}, the model takes {spec.type}")
    if not _fits(spec.shape, array.shape):
        problems.append(f"its shape is {list(array.shape)}, the model takes {list(spec.shape)}")
    if problems:
        raise SchemaMismatch(
            "The input does not match the model's signature (tensor "
            + wanted
            + "): "
            + "; ".join(problems)
            + ".",
            details={
                "expected": spec.to_dict(),
                "got": {"type": got_type, "shape": list(array.shape)},
            },
        )
    if got_type != spec.type and spec.type != "any":
        array = array.astype(_NUMPY_OF[spec.type])
    return array


def _fits(expected: Sequence[int], got: Sequence[int]) -> bool:
    return len(expected) == len(got) and all(
        e in (-1, g) for e, g in zip(expected, got, strict=True)
    )


def _is_seq(value: Any) -> bool:
    return hasattr(value, "__len__") and not isinstance(value, str | bytes)


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:MAX_LISTED])
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")
