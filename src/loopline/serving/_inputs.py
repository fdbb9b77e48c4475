"""Request bodies in, predictions out: the MLflow scoring formats, CSV and Open Inference v2.

Every format is parsed into one neutral :class:`Batch` (named columns, or one array), which the
model runner then checks against the model's signature. Parsing never trusts the body: each
problem is an :class:`InputError` naming the field, which the server answers with a 4xx.

Formats of ``POST /invocations`` (as ``mlflow models serve`` accepts them):
``{"dataframe_split": {"columns": [...], "data": [[...]]}}``,
``{"dataframe_records": [{...}]}``, ``{"instances": [...]}``, ``{"inputs": [...] | {...}}``,
and ``text/csv`` with a header row. Open Inference Protocol v2 (KServe, Triton):
``{"inputs": [{"name", "shape", "datatype", "data"}]}``, including Triton's binary tensor
extension (``Inference-Header-Content-Length``).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Batch",
    "InputError",
    "parse_invocation",
    "parse_v2",
    "encode_v2",
    "to_jsonable",
    "V2_DATATYPES",
]


class InputError(ValueError):
    """A request body the server cannot use; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, *, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.counted = False  # already in the server's error counts


@dataclass(slots=True)
class Batch:
    """Rows of one request: either named columns (equal lengths) or one array (rows first)."""

    n: int
    columns: dict[str, Any] | None = None
    array: np.ndarray[Any, Any] | None = None

    def column(self, name: str) -> Any:
        """The values of column ``name`` (for sticky routing and feature lookups), or None."""
        if self.columns is None:
            return None
        return self.columns.get(name)


V2_DATATYPES: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}
_NUMPY_TO_V2 = {v: k for k, v in V2_DATATYPES.items()}


def _loads(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"The body is not valid JSON: {exc}.") from None


def _columns_from_records(records: Sequence[Any], field: str) -> Batch:
    if not records:
        raise InputError(f"'{field}' is empty: send at least one row.", field=field)
    names: dict[str, None] = {}
    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise InputError(
                f"'{field}' row {i} is {type(rec).__name__}; each row is an object of "
                f"column: value.",
                field=f"{field}[{i}]",
            )
        for key in rec:
            names.setdefault(str(key), None)
    columns = {name: [rec.get(name) for rec in records] for name in names}
    return Batch(n=len(records), columns=columns)


def _equal_lengths(columns: Mapping[str, Any], field: str) -> Batch:
    lengths = {name: len(v) if isinstance(v, list) else 1 for name, v in columns.items()}
    if not lengths:
        raise InputError(f"'{field}' names no columns.", field=field)
    if len(set(lengths.values())) != 1:
        shown = ", ".join(f"{k}={v}" for k, v in list(lengths.items())[:10])
        raise InputError(f"The columns of '{field}' differ in length ({shown}).", field=field)
    out = {str(k): v if isinstance(v, list) else [v] for k, v in columns.items()}
    return Batch(n=next(iter(lengths.values())), columns=out)


def _array(values: Any, field: str) -> Batch:
    try:
        array = np.asarray(values)
    except ValueError as exc:  # ragged nesting
        raise InputError(f"'{field}' is not a regular array: {exc}.", field=field) from None
    if array.ndim == 0:
        array = array.reshape(1)
    if array.dtype == object and array.ndim > 1:
        raise InputError(f"'{field}' holds values of mixed kinds; send numbers.", field=field)
    return Batch(n=int(array.shape[0]), array=array)


def parse_invocation(body: bytes, content_type: str) -> Batch:
    """A ``POST /invocations`` body (MLflow scoring formats, or CSV) as a :class:`Batch`."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in ("text/csv", "application/csv"):
        return _parse_csv(body)
    if kind not in ("application/json", ""):
        raise InputError(
            f"Content-Type {content_type!r} is not accepted: send application/json (the MLflow "
            f"scoring formats) or text/csv.",
            status=415,
        )
    data = _loads(body)
    if not isinstance(data, dict):
        raise InputError(
            "The body must be a JSON object with one of dataframe_split, dataframe_records, "
            "instances or inputs."
        )
    keys = [k for k in ("dataframe_split", "dataframe_records", "instances", "inputs") if k in data]
    if len(keys) != 1:
        found = ", ".join(sorted(data)) or "nothing"
        raise InputError(
            f"The body must have exactly one of dataframe_split, dataframe_records, instances, "
            f"inputs (it has {found})."
        )
    key = keys[0]
    value = data[key]
    if key == "dataframe_split":
        return _parse_split(value)
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise InputError("'dataframe_records' must be a list of rows.", field=key)
        return _columns_from_records(value, key)
    if isinstance(value, Mapping):  # named tensors / columns
        return _equal_lengths(value, key)
    if not isinstance(value, list) or not value:
        raise InputError(
            f"'{key}' must be a non-empty list (or, for 'inputs', an object).", field=key
        )
    if all(isinstance(v, Mapping) for v in value):
        return _columns_from_records(value, key)
    return _array(value, key)


def _parse_split(value: Any) -> Batch:
    field = "dataframe_split"
    if not isinstance(value, Mapping) or "data" not in value:
        raise InputError(f"'{field}' must be an object with 'columns' and 'data'.", field=field)
    rows = value["data"]
    columns = value.get("columns")
    if not isinstance(rows, list) or not rows:
        raise InputError(f"'{field}.data' must be a non-empty list of rows.", field=f"{field}.data")
    if columns is None:
        return _array(rows, f"{field}.data")
    if not isinstance(columns, list) or not all(isinstance(c, str | int) for c in columns):
        raise InputError(f"'{field}.columns' must list column names.", field=f"{field}.columns")
    width = len(columns)
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            got = len(row) if isinstance(row, list) else type(row).__name__
            raise InputError(
                f"'{field}.data' row {i} has {got} values; 'columns' names {width}.",
                field=f"{field}.data[{i}]",
            )
    transposed = list(zip(*rows, strict=True))
    return Batch(
        n=len(rows), columns={str(c): list(v) for c, v in zip(columns, transposed, strict=True)}
    )


def _parse_csv(body: bytes) -> Batch:
    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(body))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"The CSV body could not be read: {exc}.") from None
    if frame.empty:
        raise InputError("The CSV body has a header but no rows.")
    columns = {str(c): frame[c].to_numpy() for c in frame.columns}
    return Batch(n=len(frame), columns=columns)


# -- Open Inference Protocol v2 ---------------------------------------------------------------


def parse_v2(body: bytes, header_length: int | None) -> tuple[Batch, dict[str, Any]]:
    """An OIP v2 infer request as a Batch and the request's JSON header.

    ``header_length`` is the ``Inference-Header-Content-Length`` value when the body carries
    binary tensors after its JSON header (Triton's binary data extension).
    """
    if header_length is not None:
        if not 0 < header_length <= len(body):
            raise InputError(
                f"Inference-Header-Content-Length is {header_length}; the body has {len(body)} "
                f"bytes."
            )
        header, binary = _loads(body[:header_length]), memoryview(body)[header_length:]
    else:
        header, binary = _loads(body), memoryview(b"")
    if not isinstance(header, dict) or not isinstance(header.get("inputs"), list):
        raise InputError("An inference request is an object with an 'inputs' list.", field="inputs")
    inputs = header["inputs"]
    if not inputs:
        raise InputError("'inputs' is empty: send at least one input tensor.", field="inputs")
    offset = 0
    tensors: dict[str, np.ndarray[Any, Any]] = {}
    for i, item in enumerate(inputs):
        where = f"inputs[{i}]"
        if not isinstance(item, Mapping):
            raise InputError(f"{where} must be an object.", field=where)
        name, shape, datatype = item.get("name"), item.get("shape"), item.get("datatype")
        if not isinstance(name, str) or not name:
            raise InputError(f"{where} needs a 'name'.", field=f"{where}.name")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise InputError(
                f"{where} ({name}) needs a 'shape' of whole numbers.", field=f"{where}.shape"
            )
        if datatype not in V2_DATATYPES:
            raise InputError(
                f"{where} ({name}) has datatype {datatype!r}; use one of "
                f"{', '.join(V2_DATATYPES)}.",
                field=f"{where}.datatype",
            )
        dtype = np.dtype(V2_DATATYPES[datatype])
        count = math.prod(shape)
        params = item.get("parameters") or {}
        size = params.get("binary_data_size") if isinstance(params, Mapping) else None
        if size is not None:
            if datatype == "BYTES":
                raise InputError(
                    f"{where} ({name}): binary BYTES tensors are not supported.", field=where
                )
            if (
                not isinstance(size, int)
                or size != count * dtype.itemsize
                or offset + size > len(binary)
            ):
                raise InputError(
                    f"{where} ({name}): binary_data_size {size!r} does not match shape {shape} "
                    f"of {datatype} or the bytes sent.",
                    field=f"{where}.parameters",
                )
            array = np.frombuffer(binary[offset : offset + size], dtype=dtype).reshape(shape)
            offset += size
        else:
            data = item.get("data")
            if data is None:
                raise InputError(f"{where} ({name}) has no 'data'.", field=f"{where}.data")
            try:
                array = np.asarray(data, dtype=dtype)
            except (ValueError, TypeError) as exc:
                raise InputError(
                    f"{where} ({name}): data is not {datatype}: {exc}.", field=f"{where}.data"
                ) from None
            if array.size != count:
                raise InputError(
                    f"{where} ({name}) has {array.size} values; shape {shape} needs {count}.",
                    field=f"{where}.data",
                )
            array = array.reshape(shape)
        if array.ndim == 0:
            raise InputError(
                f"{where} ({name}) must have a batch dimension.", field=f"{where}.shape"
            )
        tensors[name] = array
    lengths = {a.shape[0] for a in tensors.values()}
    if len(lengths) != 1:
        raise InputError("The inputs differ in their first (batch) dimension.", field="inputs")
    n = lengths.pop()
    if len(tensors) == 1:
        only = next(iter(tensors.values()))
        if only.ndim >= 2:
            return Batch(n=n, array=only), header
    columns = {}
    for name, tensor in tensors.items():
        array = tensor[:, 0] if tensor.ndim == 2 and tensor.shape[1] == 1 else tensor
        if array.ndim != 1:
            raise InputError(
                f"Input {name!r} has shape {list(array.shape)}; with several inputs, each is one "
                f"column of shape [rows] or [rows, 1].",
                field="inputs",
            )
        columns[name] = array
    return Batch(n=n, columns=columns), header


def encode_v2(
    model_name: str,
    version: str,
    request_id: str,
    outputs: np.ndarray[Any, Any],
    header: Mapping[str, Any],
    output_name: str = "predict",
) -> tuple[bytes, int | None]:
    """An OIP v2 response body; binary when the request asked for binary outputs.

    Returns the body and, for a binary body, the JSON header's length (the value of
    ``Inference-Header-Content-Length``).
    """
    array = np.asarray(outputs)
    if array.dtype == object or array.dtype.kind in "US":
        datatype, array = "BYTES", array.astype(str).astype(object)
    else:
        if array.dtype.kind == "b":
            datatype = "BOOL"
        else:
            datatype = _NUMPY_TO_V2.get(array.dtype.name, "FP64")
            if datatype == "FP64" and array.dtype.name != "float64":
                array = array.astype(np.float64)
    wanted_raw = header.get("outputs")
    wanted: list[Any] = wanted_raw if isinstance(wanted_raw, list) else []
    params_raw = header.get("parameters")
    params: Mapping[str, Any] = params_raw if isinstance(params_raw, Mapping) else {}
    binary = bool(params.get("binary_data_output")) or any(
        isinstance(o, Mapping) and (o.get("parameters") or {}).get("binary_data") for o in wanted
    )
    output: dict[str, Any] = {"name": output_name, "datatype": datatype, "shape": list(array.shape)}
    response: dict[str, Any] = {
        "model_name": model_name,
        "model_version": version,
        "id": str(header.get("id") or request_id),
        "outputs": [output],
    }
    if binary and datatype != "BYTES":
        raw = np.ascontiguousarray(array).tobytes()
        output["parameters"] = {"binary_data_size": len(raw)}
        head = json.dumps(response, separators=(",", ":")).encode()
        return head + raw, len(head)
    output["data"] = to_jsonable(array.reshape(-1))
    return json.dumps(response, separators=(",", ":"), allow_nan=False).encode(), None


def to_jsonable(values: Any) -> Any:
    """Predictions as JSON values: numpy to lists; NaN and infinities to null."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            values = values.astype(object)
            values[~np.isfinite(values.astype(float))] = None
        return values.tolist()
    if hasattr(values, "to_numpy"):  # pandas Series or DataFrame
        return to_jsonable(values.to_numpy())
    return values
