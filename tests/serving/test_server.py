"""The inference server over HTTP: protocols, errors, routing, rollouts, logs and metrics."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import numpy as np
import pandas as pd
import pytest

from loopline import Client
from loopline._endpoints import Endpoints
from loopline._models import ModelRegistry
from tests.serving.conftest import (
    Broken,
    inference_server,
    register_echo,
    register_sklearn,
    wait_for,
)

RECORDS = {"dataframe_records": [{"a": 0.1, "b": 2.0, "c": -1.0, "d": 0.0}]}


def test_the_mlflow_formats_and_csv_answer_alike(embedded: Client) -> None:
    register_sklearn(embedded)
    Endpoints(embedded).deploy("iris", "models:/iris/1")
    rows = pd.DataFrame(np.random.default_rng(3).normal(size=(5, 4)), columns=list("abcd"))
    with inference_server(embedded, "iris") as (http, app):
        expected = ModelRegistry(embedded).load("models:/iris/1").predict(rows).tolist()
        split = {"dataframe_split": {"columns": list("abcd"), "data": rows.values.tolist()}}
        answers = [
            http.post("/invocations", json=split),
            http.post("/invocations", json={"dataframe_records": rows.to_dict("records")}),
            http.post("/invocations", json={"inputs": rows.to_dict("list")}),
            http.post("/invocations", json={"instances": rows.values.tolist()}),
            http.post(
                "/invocations",
                content=rows.to_csv(index=False),
                headers={"content-type": "text/csv"},
            ),
        ]
        for answer in answers:
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"predictions": expected}
            assert answer.headers["x-loopline-model"] == "iris/1"
            assert answer.headers["x-loopline-revision"] == "1"
        mine = http.post("/invocations", json=RECORDS, headers={"x-request-id": "req-42"})
        assert mine.headers["x-request-id"] == "req-42"
        assert app.table.primaries[0].runner.fast  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"dataframe_records": [{"a": 1, "b": 2, "c": 3}]}, 422, "d"),
        ({"dataframe_records": [{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}]}, 422, "e"),
        ({"dataframe_records": [{"a": "x", "b": 2, "c": 3, "d": 4}]}, 422, "a"),
        ({"instances": [[1, 2, 3]]}, 422, "inputs"),
        ({"nothing": 1}, 400, None),
    ],
)
def test_wrong_requests_get_4xx_naming_the_field(
    embedded: Client, body: dict[str, object], status: int, field: str | None
) -> None:
    register_sklearn(embedded)
    Endpoints(embedded).deploy("iris", "models:/iris/1")
    with inference_server(embedded, "iris") as (http, _):
        answer = http.post("/invocations", json=body)
        assert answer.status_code == status, answer.text
        error = answer.json()["error"]
        assert error.get("field") == field
        assert "Traceback" not in answer.text
        assert http.post("/invocations", json=RECORDS).status_code == 200


def test_bodies_over_the_limit_get_413_and_malformed_json_400(embedded: Client) -> None:
    register_sklearn(embedded)
    Endpoints(embedded).deploy("iris", "models:/iris/1")
    with inference_server(embedded, "iris", max_body=4096) as (http, _):
        big = b'{"instances": [' + b"1," * 100_000 + b"1]}"
        assert http.post("/invocations", content=big).status_code == 413

        def chunks() -> object:  # no Content-Length: counted as it streams
            for _ in range(10):
                yield b" " * 1000

        streamed = http.post("/invocations", content=chunks())  # type: ignore[arg-type]
        assert streamed.status_code == 413
        bad = http.post(
            "/invocations",
            content=b'{"instances": [1,',
            headers={"content-type": "application/json"},
        )
        assert bad.status_code == 400
        assert "not valid JSON" in bad.json()["error"]["message"]
        assert http.get("/nope").status_code == 404


def test_a_model_that_raises_fails_that_request_only(embedded: Client) -> None:
    register_echo(embedded, "echo", 2.0)
    Endpoints(embedded).deploy("scorer", "models:/echo/1")
    with inference_server(embedded, "scorer") as (http, _):
        bad = http.post("/invocations", json={"inputs": {"x": [-1.0]}})
        assert bad.status_code == 500
        assert bad.json()["error"]["code"] == "model_error"
        assert "x must not be negative" in bad.json()["error"]["message"]
        good = http.post("/invocations", json={"inputs": {"x": [1.5]}})
        assert good.json() == {"predictions": [3.0]}


def test_concurrent_requests_share_batches_and_a_bad_one_fails_alone(embedded: Client) -> None:
    register_echo(embedded, "echo", 2.0)
    Endpoints(embedded).deploy("scorer", "models:/echo/1", batching={"enabled": True})
    results: dict[float, int] = {}

    def call(x: float) -> None:
        with httpx.Client(base_url=base, timeout=10) as c:
            results[x] = c.post("/invocations", json={"inputs": {"x": [x]}}).status_code

    with inference_server(embedded, "scorer") as (http, _app):
        base = str(http.base_url)
        threads = [threading.Thread(target=call, args=(float(x),)) for x in range(-1, 30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.pop(-1.0) == 500
        assert set(results.values()) == {200}
        metrics = http.get("/metrics").text
        assert "loopline_serving_batch_size_count" in metrics


def test_weights_split_traffic_and_sticky_keys_stick(embedded: Client) -> None:
    register_echo(embedded, "echo", 1.0)
    register_echo(embedded, "echo", 2.0)
    eps = Endpoints(embedded)
    eps.deploy("scorer", [("models:/echo/1", 70), ("models:/echo/2", 30)])
    with inference_server(embedded, "scorer") as (http, _):
        seen = Counter(
            http.post("/invocations", json={"inputs": {"x": [1.0]}}).headers["x-loopline-model"]
            for _ in range(300)
        )
        assert set(seen) == {"echo/1", "echo/2"}
        assert seen["echo/1"] > seen["echo/2"]
    eps.deploy("scorer", [("models:/echo/1", 50), ("models:/echo/2", 50)], sticky="header:x-user")
    with inference_server(embedded, "scorer") as (http, _):
        for user in ("ann", "bob", "cid", "dee"):
            models = {
                http.post(
                    "/invocations", json={"inputs": {"x": [1.0]}}, headers={"x-user": user}
                ).headers["x-loopline-model"]
                for _ in range(10)
            }
            assert len(models) == 1, f"user {user} was routed to {models}"


def test_shadows_see_every_request_and_never_answer(embedded: Client) -> None:
    register_echo(embedded, "echo", 1.0)
    register_echo(embedded, "echo", 3.0)
    Endpoints(embedded).deploy(
        "scorer", ["models:/echo/1", {"model": "models:/echo/2", "shadow": True}]
    )
    with inference_server(embedded, "scorer") as (http, app):
        for i in range(5):
            answer = http.post(
                "/invocations",
                json={"inputs": {"x": [float(i)]}},
                headers={"x-request-id": f"r{i}"},
            )
            assert answer.json() == {"predictions": [float(i)]}
            assert answer.headers["x-loopline-model"] == "echo/1"
        app.watcher.flush()
        store = embedded._backend.evaluations  # type: ignore[attr-defined]
        wait_for(lambda: len(store.predictions("shop", "scorer")) == 10, what="10 logged rows")
        logged = store.predictions("shop", "scorer")
        shadow = logged[logged.route == "shadow"].sort_values("request_id")
        assert shadow.request_id.tolist() == [f"r{i}" for i in range(5)]
        assert shadow.output.tolist() == [0.0, 3.0, 6.0, 9.0, 12.0]


def test_a_rollout_under_load_fails_no_request(embedded: Client) -> None:
    register_echo(embedded, "echo", 1.0)
    register_echo(embedded, "echo", 2.0)
    eps = Endpoints(embedded)
    eps.deploy("scorer", "models:/echo/1")
    stop = threading.Event()
    lock = threading.Lock()
    answers: list[list[tuple[int, str]]] = [[] for _ in range(4)]

    def client_loop(i: int) -> None:
        with httpx.Client(base_url=base, timeout=10) as c:
            while not stop.is_set():
                r = c.post("/invocations", json={"inputs": {"x": [1.0]}})
                with lock:
                    answers[i].append((r.status_code, r.headers.get("x-loopline-model", "")))

    with inference_server(embedded, "scorer") as (http, _app):
        base = str(http.base_url)
        threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: all(len(a) > 20 for a in answers), what="traffic on version 1")
        eps.deploy("scorer", "models:/echo/2", message="roll out v2")
        wait_for(
            lambda: (
                all(a and a[-1][1] == "echo/2" for a in answers)
                and all(sum(m == "echo/2" for _, m in a) > 20 for a in answers)
            ),
            what="traffic on version 2",
        )
        stop.set()
        for t in threads:
            t.join()
    for seen in answers:
        assert {s for s, _ in seen} == {200}, "not one request failed"
        models = [m for _, m in seen]
        switch = models.index("echo/2")
        assert set(models[:switch]) == {"echo/1"}
        assert set(models[switch:]) == {"echo/2"}
    assert eps.get("scorer").revision.status == "live"


def test_a_model_that_will_not_load_leaves_the_old_routes_serving(embedded: Client) -> None:
    register_echo(embedded, "echo", 1.0)
    register_echo(embedded, "echo", 2.0, cls=Broken)
    eps = Endpoints(embedded)
    eps.deploy("scorer", "models:/echo/1")
    with inference_server(embedded, "scorer") as (http, app):
        eps.deploy("scorer", [("models:/echo/1", 50), ("models:/echo/2", 50)])
        wait_for(lambda: eps.get("scorer").revision.status == "failed", what="the failure")
        endpoint = eps.get("scorer")
        assert "weights file is missing" in endpoint.revision.error
        assert endpoint.target.number == 1
        for _ in range(20):
            answer = http.post("/invocations", json={"inputs": {"x": [1.0]}})
            assert answer.status_code == 200
            assert answer.headers["x-loopline-model"] == "echo/1"
        assert "failed to load" in (http.get("/info").json()["failed_revision"] or "")
        eps.rollback("scorer")
        wait_for(lambda: app.table is not None and app.table.revision.number == 3, what="rev 3")
        assert http.post("/invocations", json={"inputs": {"x": [1.0]}}).status_code == 200


def test_metrics_parse_and_stats_reach_the_store(embedded: Client) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    register_echo(embedded, "echo", 1.0)
    eps = Endpoints(embedded)
    eps.deploy("scorer", "models:/echo/1")
    with inference_server(embedded, "scorer") as (http, app):
        for _ in range(7):
            http.post("/invocations", json={"inputs": {"x": [1.0]}})
        http.post("/invocations", json={"inputs": {"x": [-1.0]}})
        families = {f.name: f for f in text_string_to_metric_families(http.get("/metrics").text)}
        requests = {
            s.labels["version"]: s.value
            for s in families["loopline_serving_requests"].samples
            if s.name.endswith("_total")
        }
        assert requests["1"] == 8
        errors = [
            s for s in families["loopline_serving_errors"].samples if s.name.endswith("_total")
        ]
        assert [(s.labels["kind"], s.value) for s in errors] == [("model", 1.0)]
        assert "loopline_serving_request_duration_seconds" in families
        app.watcher.flush()
    stats = eps.stats("scorer")
    assert sum(w.requests for w in stats) == 8
    assert sum(w.errors for w in stats) == 1


def test_labels_posted_by_request_id_join_the_logged_predictions(embedded: Client) -> None:
    register_echo(embedded, "echo", 1.0)
    Endpoints(embedded).deploy("scorer", "models:/echo/1")
    with inference_server(embedded, "scorer") as (http, app):
        for i in range(3):
            http.post(
                "/invocations",
                json={"inputs": {"x": [float(i)]}},
                headers={"x-request-id": f"q{i}"},
            )
        posted = http.post("/labels", json={"labels": [{"request_id": "q1", "label": 1.0}]})
        assert posted.json() == {"accepted": 1}
        assert http.post("/labels", json={"labels": [{"label": 1}]}).status_code == 400
        app.watcher.flush()
    logged = embedded._backend.evaluations.predictions("shop", "scorer")  # type: ignore[attr-defined]
    assert logged.set_index("request_id").label.to_dict().get("q1") == 1.0


def test_open_inference_protocol_with_the_triton_client(embedded: Client) -> None:
    import tritonclient.http as triton

    register_sklearn(embedded)
    Endpoints(embedded).deploy("iris", "models:/iris/1")
    rows = np.random.default_rng(5).normal(size=(3, 4))
    with inference_server(embedded, "iris") as (http, _app):
        expected = (
            ModelRegistry(embedded)
            .load("models:/iris/1")
            .predict(pd.DataFrame(rows, columns=list("abcd")))
        )
        client = triton.InferenceServerClient(http.base_url.netloc.decode())
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("iris")
        meta = client.get_model_metadata("iris")
        assert [i["name"] for i in meta["inputs"]] == ["a", "b", "c", "d"]
        for binary in (False, True):
            tensor = triton.InferInput("input", list(rows.shape), "FP64")
            tensor.set_data_from_numpy(rows, binary_data=binary)
            wanted = triton.InferRequestedOutput("predict", binary_data=binary)
            result = client.infer("iris", [tensor], outputs=[wanted])
            assert result.as_numpy("predict").tolist() == expected.tolist()
        pinned = client.infer("iris", [tensor], model_version="1")
        assert pinned.get_response()["model_version"] == "1"
        client.close()
