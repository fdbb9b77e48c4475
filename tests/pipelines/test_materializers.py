"""Materializers: each kind of value crosses a step boundary and comes back equal."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopline.errors import InvalidInput
from loopline.pipelines._materializers import dump_value, load_value

json_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@given(json_data)
def test_plain_data_goes_as_json(value: Any) -> None:
    data, name = dump_value(value)
    assert name == "json"
    assert load_value(data, name) == value


def test_arrays_frames_and_other_objects_pick_their_format() -> None:
    array = np.arange(6.0).reshape(2, 3)
    data, name = dump_value(array)
    assert name == "numpy"
    assert data.startswith(b"\x93NUMPY")
    assert np.array_equal(load_value(data, name), array)

    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    data, name = dump_value(frame)
    assert name == "pandas"
    assert data.startswith(b"PAR1")
    pd.testing.assert_frame_equal(load_value(data, name), frame)

    data, name = dump_value((1, "tuple"))
    assert name == "cloudpickle"
    assert load_value(data, name) == (1, "tuple")


def test_a_value_nothing_can_store_names_step_and_type() -> None:
    import threading

    with pytest.raises(InvalidInput, match=r"Step 'make'.*_thread.lock.*register_materializer"):
        dump_value(threading.Lock(), step="make")


def test_models_cross_steps_in_their_flavors_format() -> None:
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    model = LogisticRegression().fit(x, y)
    data, name = dump_value(model, step="fit")
    assert name == "model", "a registry flavor stores it, as registering it would"
    back = load_value(data, name)
    assert isinstance(back, LogisticRegression), "the step after gets the model itself"
    assert back.predict(x).tolist() == model.predict(x).tolist()


def test_a_stored_model_with_an_unsafe_path_is_refused() -> None:
    import io
    import json
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("flavor.json", json.dumps({"flavor": "sklearn", "meta": {}}))
        archive.writestr("../escape.pkl", b"x")
    with pytest.raises(InvalidInput, match="unsafe path"):
        load_value(out.getvalue(), "model")
