"""Request bodies: every MLflow scoring format, CSV and OIP v2 parse to the same rows, and no
body, however wrong, gets anything but an InputError naming what to fix."""

from __future__ import annotations

import contextlib
import json
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopline.serving._inputs import InputError, encode_v2, parse_invocation, parse_v2

ROWS = [{"a": 1.0, "b": 2}, {"a": 3.5, "b": 4}]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ({"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2], [3.5, 4]]}}, "json"),
        ({"dataframe_records": ROWS}, "json"),
        ({"instances": ROWS}, "json"),
        ({"inputs": {"a": [1.0, 3.5], "b": [2, 4]}}, "json"),
        ("a,b\n1.0,2\n3.5,4\n", "csv"),
    ],
)
def test_every_format_gives_the_same_columns(body: object, content_type: str) -> None:
    if content_type == "csv":
        batch = parse_invocation(str(body).encode(), "text/csv")
    else:
        batch = parse_invocation(json.dumps(body).encode(), "application/json; charset=utf-8")
    assert batch.n == 2
    assert batch.columns is not None
    assert list(np.asarray(batch.columns["a"], dtype=float)) == [1.0, 3.5]
    assert list(np.asarray(batch.columns["b"], dtype=int)) == [2, 4]


def test_arrays_stay_arrays() -> None:
    batch = parse_invocation(b'{"instances": [[1, 2, 3], [4, 5, 6]]}', "application/json")
    assert batch.columns is None
    assert batch.array is not None
    assert batch.array.shape == (2, 3)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{nope", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"{}", "exactly one of"),
        (b'{"instances": [1], "inputs": [1]}', "exactly one of"),
        (b'{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}', "has 2 values"),
        (b'{"dataframe_records": [1, 2]}', "row 0 is int"),
        (b'{"inputs": {"a": [1, 2], "b": [1]}}', "differ in length"),
        (b'{"instances": []}', "non-empty"),
    ],
)
def test_wrong_bodies_say_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        parse_invocation(body, "application/json")
    assert caught.value.status == 400


def test_an_unknown_content_type_is_415() -> None:
    with pytest.raises(InputError) as caught:
        parse_invocation(b"x", "application/xml")
    assert caught.value.status == 415


def test_v2_json_and_binary_tensors() -> None:
    data = [0.5, 1.5, 2.5, 3.5]
    request = {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64", "data": data}]}
    batch, _ = parse_v2(json.dumps(request).encode(), None)
    assert batch.array is not None
    assert batch.array.tolist() == [[0.5, 1.5], [2.5, 3.5]]

    raw = struct.pack("<4d", *data)
    header = {
        "inputs": [
            {"name": "x", "shape": [2, 2], "datatype": "FP64",
             "parameters": {"binary_data_size": len(raw)}}
        ]
    }  # fmt: skip
    head = json.dumps(header).encode()
    batch, _ = parse_v2(head + raw, len(head))
    assert batch.array is not None
    assert batch.array.tolist() == [[0.5, 1.5], [2.5, 3.5]]

    columns = {
        "inputs": [
            {"name": "a", "shape": [2], "datatype": "FP32", "data": [1, 2]},
            {"name": "b", "shape": [2, 1], "datatype": "INT64", "data": [3, 4]},
        ]
    }
    batch, _ = parse_v2(json.dumps(columns).encode(), None)
    assert batch.columns is not None
    assert list(batch.columns) == ["a", "b"]


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"inputs": [{"name": "x", "shape": [3], "datatype": "FP64", "data": [1, 2]}]}, "needs 3"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP99", "data": [1]}]}, "FP99"),
        ({"inputs": [{"name": "x", "shape": [-1], "datatype": "FP64", "data": [1]}]}, "shape"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "INT8", "data": ["a"]}]}, "not INT8"),
        ({"inputs": []}, "empty"),
        ({"outputs": []}, "inputs"),
    ],
)
def test_wrong_v2_requests_name_the_field(request_: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_v2(json.dumps(request_).encode(), None)


def test_v2_answers_in_binary_when_asked() -> None:
    header = {"outputs": [{"name": "predict", "parameters": {"binary_data": True}}]}
    body, length = encode_v2("m", "1", "r1", np.array([1.0, 2.0]), header)
    assert length is not None
    meta = json.loads(body[:length])
    assert meta["outputs"][0]["parameters"]["binary_data_size"] == 16
    assert np.frombuffer(body[length:], dtype=np.float64).tolist() == [1.0, 2.0]
    body, length = encode_v2("m", "1", "r1", np.array([np.nan, 2.0]), {})
    assert length is None
    assert json.loads(body)["outputs"][0]["data"] == [None, 2.0]


@given(st.binary(max_size=300), st.sampled_from(["application/json", "text/csv", ""]))
def test_any_bytes_are_rows_or_an_input_error(body: bytes, content_type: str) -> None:
    try:
        batch = parse_invocation(body, content_type)
    except InputError:
        return
    assert batch.n >= 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_any_json_is_rows_or_an_input_error(value: object) -> None:
    for wrapper in ("dataframe_split", "dataframe_records", "instances", "inputs"):
        with contextlib.suppress(InputError):
            parse_invocation(json.dumps({wrapper: value}).encode(), "application/json")
    with contextlib.suppress(InputError):
        parse_v2(json.dumps({"inputs": value}).encode(), None)
