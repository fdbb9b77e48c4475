"""Prediction logs and labels shipped through the backends (in-process and over HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from tests.fixtures.s3 import S3Server, s3_filesystem
from tests.fixtures.server import serving
from tests.monitoring.helpers import T0, labels, predictions

import loopline as ll
from loopline import Client
from loopline.backends import Backend, LocalBackend
from loopline.config import Settings
from loopline.errors import InvalidInput
from loopline.monitoring._evaluation import table_to_parquet
from loopline.server import create_app


@pytest.fixture(params=["local", "remote"])
def client(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Client]:
    """A client of the store ``settings`` describe, direct or through a server over it."""
    if request.param == "local":
        c = Client(settings=settings)
    else:
        url: str = request.getfixturevalue("server_url")
        c = Client(
            settings=Settings.from_env(
                {"LOOPLINE_URI": url, "LOOPLINE_HOME": str(settings.home / "remote-client")}
            )
        )
    yield c
    c.close()


def test_batches_arrive_as_parquet_bytes(backend: Backend, local_backend: LocalBackend) -> None:
    path = backend.append_predictions(
        "demo", "churn-api", table_to_parquet(predictions(["a", "b", "c"]))
    )
    assert "/demo/churn-api/predictions/date=2026-11-20/" in path
    backend.append_labels("demo", "churn-api", table_to_parquet(labels({"b": 1})))
    # The server wrote into its own store, which the local backend reads.
    frame = local_backend.evaluations.predictions("demo", "churn-api").set_index("request_id")
    assert list(frame.index) == ["a", "b", "c"]
    assert frame.loc["b", "label"] == 1
    assert local_backend.evaluations.root == str(local_backend.settings.home / "evaluations")


def test_a_retried_batch_is_stored_once(backend: Backend, local_backend: LocalBackend) -> None:
    body = table_to_parquet(predictions(["a", "b"]))
    batch_id = "0" * 12 + "cd" * 10
    first = backend.append_predictions("demo", "api", body, batch_id=batch_id)
    assert backend.append_predictions("demo", "api", body, batch_id=batch_id) == first
    assert len(local_backend.evaluations.predictions("demo", "api")) == 2


def test_bad_bodies_are_refused_with_the_reason(backend: Backend) -> None:
    with pytest.raises(InvalidInput, match="not a readable Parquet file"):
        backend.append_predictions("demo", "api", b"not parquet at all")
    bad = predictions(["a"]).drop_columns(["route"])
    with pytest.raises(InvalidInput, match=r"lacks column.*'route'"):
        backend.append_predictions("demo", "api", table_to_parquet(bad))
    with pytest.raises(InvalidInput, match="endpoint"):
        backend.append_labels("demo", "no/slash", table_to_parquet(labels({"a": 1})))


def test_log_labels_one_liner(client: Client, local_backend: LocalBackend) -> None:
    client._backend.append_predictions(
        "demo", "api", table_to_parquet(predictions(["r1", "r2", "r3"]))
    )
    assert ll.log_labels("api", {"r1": 1, "r2": 0}, project="demo", client=client) == 2
    late = pd.DataFrame(
        {"request_id": ["r2", "r3"], "label": [1, 1], "ts": [T0.replace(tzinfo=None)] * 2}
    )
    # An older label for r2 does not replace the newer one (logged "now").
    assert ll.log_labels("api", late, project="demo", client=client) == 2
    frame = local_backend.evaluations.predictions("demo", "api").set_index("request_id")
    assert frame["label"].to_dict() == {"r1": 1, "r2": 0, "r3": 1}
    assert frame.loc["r3", "label_ts"] == T0


def test_log_labels_uses_the_default_project(settings: Settings) -> None:
    with Client(settings=settings.with_(project="shop")) as client:
        ll.log_labels("api", {"x": "cat"}, client=client)
    store = LocalBackend.open(settings)
    try:
        assert store.evaluations.labels("shop", "api")["label"].tolist() == ["cat"]
    finally:
        store.close()


def test_log_labels_refuses_what_it_cannot_use(settings: Settings) -> None:
    with Client(settings=settings) as client:
        with pytest.raises(InvalidInput, match=r"lacks column.*'label'"):
            ll.log_labels("api", pd.DataFrame({"request_id": ["a"]}), client=client)
        with pytest.raises(InvalidInput, match="mapping"):
            ll.log_labels("api", [("a", 1)], client=client)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="null label"):
            ll.log_labels("api", {"a": None}, client=client)
        assert ll.log_labels("api", {}, client=client) == 0


def test_the_contract_types_survive_the_trip(backend: Backend, local_backend: LocalBackend) -> None:
    batch = predictions(["a"], inputs={"age": [41], "city": ["Paris"]})
    backend.append_predictions("demo", "api", table_to_parquet(batch))
    stored = local_backend.evaluations.files("demo", "api")[0]
    schema = pa.parquet.read_schema(stored)
    assert schema.field("input.age").type == pa.int64()
    assert schema.field("input.city").type == pa.string()


@pytest.mark.s3
def test_a_server_keeps_the_logs_on_s3(tmp_path: Path, s3_server: S3Server, s3_bucket: str) -> None:
    settings = Settings.from_env(
        {
            "LOOPLINE_HOME": str(tmp_path / "home"),
            "LOOPLINE_EVALUATION_URI": f"s3://{s3_bucket}/logs",
            "LOOPLINE_S3_ENDPOINT_URL": s3_server.endpoint_url,
            "LOOPLINE_S3_KEY": s3_server.key,
            "LOOPLINE_S3_SECRET": s3_server.secret,
        }
    )
    backend = LocalBackend.open(settings)
    try:
        with serving(create_app(backend=backend)) as url:
            remote = Settings.from_env(
                {"LOOPLINE_URI": url, "LOOPLINE_HOME": str(tmp_path / "client")}
            )
            with Client(settings=remote) as client:
                path = client._backend.append_predictions(
                    "demo", "api", table_to_parquet(predictions(["a", "b"]))
                )
                assert path.startswith(f"s3://{s3_bucket}/logs/demo/api/predictions/")
                assert ll.log_labels("api", {"a": 1}, project="demo", client=client) == 1
        frame = backend.evaluations.predictions("demo", "api")
        assert frame["label"].notna().tolist() == [True, False]
        assert frame["label"].iloc[0] == 1
        assert s3_filesystem(s3_server).ls(f"{s3_bucket}/logs/demo/api/labels")
    finally:
        backend.close()
