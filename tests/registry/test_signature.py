"""Signatures: inferred from examples, round-tripped through JSON, enforced with every difference
named (hypothesis generates the frames)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopline.errors import InvalidInput
from loopline.registry import Schema, SchemaMismatch, Signature, infer_schema, infer_signature

KINDS = {
    "long": st.integers(-(2**40), 2**40),
    "double": st.floats(allow_nan=False, allow_infinity=False, width=64),
    "boolean": st.booleans(),
    "string": st.text(max_size=8),
}
NAMES = st.text(st.characters(categories=("Ll", "Nd"), max_codepoint=127), min_size=1, max_size=6)


@st.composite
def frames(draw: st.DrawFn) -> tuple[pd.DataFrame, dict[str, str]]:
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    rows = draw(st.integers(1, 6))
    kinds = {n: draw(st.sampled_from(sorted(KINDS))) for n in names}
    data = {n: draw(st.lists(KINDS[k], min_size=rows, max_size=rows)) for n, k in kinds.items()}
    frame = pd.DataFrame(data)
    for name, kind in kinds.items():
        if kind == "string":
            frame[name] = frame[name].astype(object)
    return frame, kinds


@given(frames())
def test_a_frame_matches_the_signature_inferred_from_it(
    case: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    frame, kinds = case
    schema = infer_schema(frame)
    assert {c.name: c.type for c in schema.columns} == kinds
    assert Schema.from_dict(schema.to_dict()) == schema
    signature = Signature(schema, infer_schema(np.zeros(len(frame))))
    assert Signature.from_dict(signature.to_dict()) == signature
    reordered = frame[list(reversed(frame.columns))]
    conformed = schema.conform(reordered)
    assert list(conformed.columns) == list(frame.columns)
    pd.testing.assert_frame_equal(conformed, frame, check_dtype=False)


@given(frames(), st.data())
def test_every_missing_and_extra_column_is_named(
    case: tuple[pd.DataFrame, dict[str, str]], data: st.DataObject
) -> None:
    frame, _ = case
    schema = infer_schema(frame)
    dropped = data.draw(st.lists(st.sampled_from(list(frame.columns)), unique=True, min_size=1))
    extra = "zz_extra"
    given_frame = frame.drop(columns=dropped).assign(**{extra: 1})
    with pytest.raises(SchemaMismatch) as caught:
        schema.conform(given_frame)
    assert sorted(caught.value.details["missing"]) == sorted(dropped)
    assert caught.value.details["extra"] == [extra]
    for name in dropped:
        assert repr(name) in caught.value.message


def test_mistyped_columns_say_what_was_expected_and_got() -> None:
    schema = infer_schema(pd.DataFrame({"age": [31], "score": [0.5], "city": ["Lyon"]}))
    wrong = pd.DataFrame({"age": ["x"], "score": [True], "city": [3]})
    with pytest.raises(SchemaMismatch) as caught:
        schema.conform(wrong)
    assert caught.value.details["mistyped"] == [
        {"column": "age", "expected": "long", "got": "string"},
        {"column": "score", "expected": "double", "got": "boolean"},
        {"column": "city", "expected": "string", "got": "long"},
    ]


def test_numbers_widen_but_never_narrow() -> None:
    doubles = infer_schema(pd.DataFrame({"x": [0.5]}))
    out = doubles.conform(pd.DataFrame({"x": np.array([1, 2], dtype=np.int32)}))
    assert out["x"].dtype == np.float64
    longs = infer_schema(pd.DataFrame({"x": [1]}))
    with pytest.raises(SchemaMismatch, match="expected long, got double"):
        longs.conform(pd.DataFrame({"x": [1.5]}))


def test_tensors_check_type_and_shape() -> None:
    schema = infer_schema(np.zeros((3, 4), dtype=np.float32))
    assert schema.describe() == "tensor float [-1, 4]"
    assert schema.conform(np.ones((2, 4), dtype=np.float32)).shape == (2, 4)
    assert schema.conform(np.ones(4, dtype=np.float32)).shape == (1, 4)  # one example
    with pytest.raises(SchemaMismatch, match=r"its shape is \[2, 3\]"):
        schema.conform(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(SchemaMismatch, match="its type is double"):
        schema.conform(np.ones((2, 4)))


def test_dicts_records_and_arrays_become_columns() -> None:
    schema = infer_schema({"a": [1, 2], "b": ["x", "y"]})
    assert schema.describe() == "a: long, b: string"
    assert list(schema.conform([{"b": "z", "a": 3}]).columns) == ["a", "b"]
    numeric = infer_schema(pd.DataFrame({"a": [1.0], "b": [2.0]}))
    assert numeric.conform(np.array([[1.0, 2.0]])).shape == (1, 2)
    with pytest.raises(SchemaMismatch, match="2 named columns"):
        numeric.conform(np.zeros((1, 3)))


def test_an_output_signature_comes_from_predictions() -> None:
    sig = infer_signature(pd.DataFrame({"a": [1.0]}), np.array([0, 1]))
    assert sig.outputs is not None
    assert sig.outputs.describe() == "tensor long [-1]"


def test_what_cannot_be_described_is_refused() -> None:
    with pytest.raises(InvalidInput, match="Cannot infer a signature"):
        infer_schema(object())
    with pytest.raises(InvalidInput, match="Unknown column type"):
        Schema.from_dict({"kind": "columns", "columns": [{"name": "a", "type": "quaternion"}]})
