"""MLflow requests translated onto Loopline: filters, bad input (always a 4xx in MLflow's
shape, never a 500), and artifact paths that try to leave their run."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopline.backends import LocalBackend
from loopline.errors import InvalidInput, NotFound
from loopline.mlflow_compat import ArtifactPlace, translate_filter, translate_order


@pytest.mark.parametrize(
    ("mlflow", "loopline"),
    [
        ("attributes.status = 'FINISHED'", "attributes.status = 'finished'"),
        ("status != 'RUNNING'", "status != 'running'"),
        (
            "attribute.status IN ('FAILED', 'KILLED')",
            "attributes.status IN ('failed', 'killed')",
        ),
        ("attributes.run_name = 'rf'", "attributes.name = 'rf'"),
        ("run_name LIKE 'rf%'", "name LIKE 'rf%'"),
        ("tags.mlflow.runName = 'RUNNING'", "tags.mlflow.runName = 'RUNNING'"),
        ("params.status = 'FINISHED'", "params.status = 'FINISHED'"),
        ("metrics.acc > 0.9 and params.lr = '0.1'", "metrics.acc > 0.9 and params.lr = '0.1'"),
    ],
)
def test_filters(mlflow: str, loopline: str) -> None:
    assert translate_filter(mlflow) == loopline


def test_order_by() -> None:
    assert translate_order("attributes.run_name DESC") == "attributes.name DESC"
    assert translate_order("metrics.acc DESC") == "metrics.acc DESC"


_VALUE = st.text(st.characters(blacklist_characters="'\\\x00"), max_size=20)


@given(key=st.from_regex(r"[a-z][a-z0-9_.]{0,10}", fullmatch=True), value=_VALUE)
def test_tag_and_param_values_pass_through_untouched(key: str, value: str) -> None:
    for kind in ("tags", "params"):
        text = f"{kind}.{key} = '{value}'"
        assert translate_filter(text) == text


@given(st.text(max_size=200))
def test_translation_never_fails_and_is_stable(text: str) -> None:
    once = translate_filter(text)
    assert translate_filter(once) == once


@pytest.mark.parametrize(
    "raw",
    ["e/../../etc/artifacts/x", "e/r/artifacts/../x", "e\\r", "e/r/artifacts/a\x00b", "./e/r"],
)
def test_artifact_paths_that_leave_their_place_are_refused(raw: str) -> None:
    with pytest.raises((InvalidInput, NotFound)):
        ArtifactPlace.parse(raw, file=True)


def test_artifact_places() -> None:
    run = "a" * 32
    place = ArtifactPlace.parse(f"e/{run}/artifacts/model/MLmodel", file=True)
    assert (place.run_id, place.model_id, place.path) == (run, None, "model/MLmodel")
    model = "m-" + "b" * 32
    place = ArtifactPlace.parse(f"e/models/{model}/artifacts/MLmodel", file=True)
    assert (place.model_id, place.path) == (model, "MLmodel")
    with pytest.raises(InvalidInput, match="Name a file"):
        ArtifactPlace.parse(f"e/{run}/artifacts", file=True)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": "nope"}),
        ("POST", "/api/2.0/mlflow/runs/log-metric", {"run_id": "x", "key": "a", "value": 1}),
        ("POST", "/api/2.0/mlflow/runs/log-batch", {"run_id": "0" * 32, "metrics": "many"}),
        ("POST", "/api/2.0/mlflow/runs/search", {"experiment_ids": "0"}),
        ("POST", "/api/2.0/mlflow/runs/search", {"experiment_ids": ["0"], "filter": "a ="}),
        ("POST", "/api/2.0/mlflow/runs/search", {"experiment_ids": ["0"], "page_token": "!!"}),
        ("POST", "/api/2.0/mlflow/experiments/create", {"name": "has spaces/and slashes"}),
        ("POST", "/api/2.0/mlflow/experiments/create", [1, 2]),
        ("POST", "/api/2.0/mlflow/experiments/search", {"filter": "tags.x = 'y'"}),
        ("GET", "/api/2.0/mlflow/runs/get?run_id=../../etc", None),
        ("GET", "/api/2.0/mlflow/metrics/get-history?run_id=x&metric_key=a", None),
        ("GET", "/api/2.0/mlflow/logged-models/m-nope", None),
        ("PATCH", "/api/2.0/mlflow/logged-models/m-nope", {"status": "READY"}),
        ("GET", "/api/2.0/mlflow-artifacts/artifacts?path=e/r", None),
    ],
)
def test_bad_requests_answer_4xx_in_mlflows_shape(
    server_url: str, method: str, path: str, body: object
) -> None:
    answer = httpx.request(method, server_url + path, json=body)
    assert 400 <= answer.status_code < 500, answer.text
    error = answer.json()
    assert error["error_code"] in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")
    assert error["message"]


def test_a_duplicate_experiment_is_resource_already_exists(
    server_url: str, local_backend: LocalBackend
) -> None:
    local_backend.create_project("taken")
    answer = httpx.post(f"{server_url}/api/2.0/mlflow/experiments/create", json={"name": "taken"})
    assert answer.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    missing = httpx.get(
        f"{server_url}/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": "tkaen"}
    ).json()
    assert missing["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert "Did you mean 'taken'" in missing["message"]
