"""The inference server's fast paths answer exactly what the model's own ``predict`` answers,
refuse what the model would refuse, and its prediction log loses nothing on the way out."""

from __future__ import annotations

import gc
import time
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from loopline import Client
from loopline._endpoints import Endpoints
from loopline._models import ModelRegistry
from loopline.registry import LoadedModel
from loopline.serving import Batching, EndpointSpec, Route
from loopline.serving._control import FixedControlPlane
from loopline.serving._inputs import Batch, InputError
from loopline.serving._runner import ModelRunner, Prepared
from loopline.serving._server import InferenceServer, ServeOptions
from loopline.serving._telemetry import LoggedPrediction
from tests.serving.conftest import inference_server, register_sklearn

COLUMNS = ["a", "b", "c", "d"]


def _model(kind: str) -> tuple[Any, pd.DataFrame]:
    from sklearn.linear_model import (
        LinearRegression,
        LogisticRegression,
        Ridge,
        SGDClassifier,
    )

    rng = np.random.default_rng(7)
    x = pd.DataFrame(rng.normal(size=(300, 4)), columns=COLUMNS)
    binary = (x.a + 0.5 * x.b - x.c > 0).astype(int)
    three = np.where(x.a > 0.5, "high", np.where(x.a < -0.5, "low", "mid"))
    target = 2.0 * x.a - x.d + rng.normal(scale=0.1, size=300)
    models = {
        "logistic": lambda: LogisticRegression().fit(x, binary),
        "logistic-3-classes": lambda: LogisticRegression().fit(x, three),
        "sgd": lambda: SGDClassifier(random_state=0).fit(x, binary),
        "linear": lambda: LinearRegression().fit(x, target),
        "linear-2-outputs": lambda: LinearRegression().fit(x, np.c_[target, -target]),
        "ridge": lambda: Ridge().fit(x, target),  # its own predict: not the linear path
    }
    return models[kind](), x


def _runner(client: Client, model: Any, example: pd.DataFrame) -> ModelRunner:
    registry = ModelRegistry(client)
    with client.start_run(project="shop") as run:
        registry.log_model(model, input_example=example.head(3))
    registry.register(f"runs:/{run.id}/model", "m", project="shop")
    runner = ModelRunner(registry.load("models:/m/1"), "m", 1, Batching())
    runner.warm_up()
    return runner


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("logistic", "linear"),
        ("logistic-3-classes", "linear"),
        ("sgd", "linear"),
        ("linear", "linear"),
        ("linear-2-outputs", "linear"),
        ("ridge", "array"),
    ],
)
def test_each_path_answers_exactly_what_predict_answers(
    embedded: Client, kind: str, path: str
) -> None:
    model, x = _model(kind)
    runner = _runner(embedded, model, x)
    assert runner.path == path
    rng = np.random.default_rng(11)
    for scale, rows in [(1.0, 1), (1.0, 7), (30.0, 64), (1e-4, 16), (1e6, 5)]:
        frame = pd.DataFrame(rng.normal(size=(rows, 4)) * scale, columns=COLUMNS)
        expected = model.predict(frame)
        parts = [
            runner.prepare(Batch(n=1, columns={c: frame[c].to_numpy()[i : i + 1] for c in COLUMNS}))
            for i in range(rows)
        ]
        for i, part in enumerate(parts):
            row = pd.DataFrame([frame.to_numpy()[i]], columns=COLUMNS)  # as a request gives it
            alone, want = runner.predict([part]), model.predict(row)
            assert alone.dtype == want.dtype
            assert np.array_equal(alone, want)
        # A micro-batch of single-row requests answers as predict does on those rows together
        # (for a regression, a row's last bit can depend on the rows beside it in one matrix
        # product, inside scikit-learn too).
        together = runner.predict(parts)
        assert together.dtype == expected.dtype
        assert np.array_equal(together, expected)
    twin = runner.rebatched(Batching(enabled=False))
    assert twin.path == path


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_the_linear_path_refuses_what_is_not_finite(embedded: Client, bad: float) -> None:
    model, x = _model("logistic")
    runner = _runner(embedded, model, x)
    assert runner.path == "linear"
    columns = {c: np.array([0.5]) for c in COLUMNS}
    columns["c"] = np.array([bad])
    with pytest.raises(InputError) as caught:
        runner.prepare(Batch(n=1, columns=columns))
    assert caught.value.status == 422
    assert caught.value.field == "c"
    with pytest.raises(ValueError):  # what scikit-learn itself says to such a row
        model.predict(pd.DataFrame(columns))


def test_over_http_non_finite_values_get_a_422_and_the_rest_are_answered(
    embedded: Client,
) -> None:
    register_sklearn(embedded)
    Endpoints(embedded).deploy("iris", "models:/iris/1")
    rows = pd.DataFrame(np.random.default_rng(5).normal(size=(20, 4)) * 3, columns=COLUMNS)
    with inference_server(embedded, "iris") as (http, app):
        assert app.table is not None
        assert app.table.primaries[0].runner.path == "linear"
        assert http.get("/info").json()["routes"][0]["path"] == "linear"
        expected = ModelRegistry(embedded).load("models:/iris/1").predict(rows).tolist()
        split = {"dataframe_split": {"columns": COLUMNS, "data": rows.values.tolist()}}
        assert http.post("/invocations", json=split).json() == {"predictions": expected}
        for value in ("NaN", "Infinity", "null"):
            body = '{"dataframe_split": {"columns": ["a","b","c","d"], "data": [[1, %s, 0, 0]]}}'
            answer = http.post(
                "/invocations",
                content=body % value,
                headers={"content-type": "application/json"},
            )
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"]["field"] == "b"
        one = {"dataframe_split": {"columns": COLUMNS, "data": [rows.values[0].tolist()]}}
        assert http.post("/invocations", json=one).json() == {"predictions": expected[:1]}


def _entry(i: int, output: Any) -> LoggedPrediction:
    columns = {c: np.array([float(i)]) for c in COLUMNS}
    return LoggedPrediction(
        f"r{i}", time.time(), "m", 1, "primary", 0.1, None, Prepared(1, columns), output
    )


def _no_model(uri: str) -> LoadedModel:
    raise AssertionError(f"this test loads no model ({uri})")


def test_logs_converted_between_shipments_arrive_whole_and_in_order() -> None:
    shipped: list[pa.Table] = []
    spec = EndpointSpec(routes=(Route("models:/m/1", version=1),))
    control = FixedControlPlane("shop", "m", spec, _no_model, log=lambda p, n, t: shipped.append(t))
    server = InferenceServer(control, "shop", "m", ServeOptions())
    telemetry, watcher = server.telemetry, server.watcher
    for i in range(5):
        telemetry.log(_entry(i, np.array([i])))
    watcher._convert_predictions()
    for i in range(5, 8):
        telemetry.log(_entry(i, np.array([i])))
    watcher._convert_predictions()
    telemetry.log(_entry(8, np.array([8])))
    assert watcher._ship_predictions()
    assert len(shipped) == 1  # one file for the interval
    assert shipped[0].column("request_id").to_pylist() == [f"r{i}" for i in range(9)]
    assert shipped[0].column("output").to_pylist() == list(range(9))
    assert shipped[0].column("input.c").to_pylist() == [float(i) for i in range(9)]

    shipped.clear()  # answers that changed type between conversions: two tables, none lost
    telemetry.log(_entry(0, np.array([1])))
    watcher._convert_predictions()
    telemetry.log(_entry(1, np.array(["one"])))
    watcher.flush()
    assert [t.column("output").to_pylist() for t in shipped] == [[1], ["one"]]

    shipped.clear()  # converted, then the server stops before the next shipment
    telemetry.log(_entry(9, np.array([9])))
    watcher._convert_predictions()
    assert telemetry.pending_predictions() == 0
    watcher.flush()
    assert [t.column("request_id").to_pylist() for t in shipped] == [["r9"]]


def test_a_serving_process_freezes_its_heap_once_models_load(embedded: Client) -> None:
    register_sklearn(embedded)
    spec = EndpointSpec(routes=(Route("models:/iris/1", version=1),))
    registry = ModelRegistry(embedded)
    control = FixedControlPlane("shop", "iris", spec, registry.load)
    server = InferenceServer(control, "shop", "iris", ServeOptions(freeze_heap=True))
    gc.unfreeze()
    try:
        server.watcher.poll()
        assert server.table is not None
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # this test process goes on creating and collecting objects
