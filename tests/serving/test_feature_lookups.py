"""An endpoint with a feature lookup: clients send entity ids, the model gets the features it
was trained with (issue 10, item 4), and the same through a Loopline server (remote mode)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

from loopline import Client
from loopline._endpoints import Endpoints
from loopline._features import FeatureStore
from loopline._models import ModelRegistry
from loopline.config import Settings
from tests.serving.conftest import inference_server, register_echo, wait_for


def test_clients_send_ids_and_the_model_gets_its_training_features(
    embedded: Client, tmp_path: Path
) -> None:
    from loopline.features import Entity, FeatureView, Field, FileSource, Float64

    now = datetime.now(UTC)
    rows = pd.DataFrame(
        {
            "driver_id": [1, 2, 3, 1],
            "event_timestamp": [now - timedelta(hours=h) for h in (5, 4, 3, 1)],
            "conv_rate": [0.1, 0.5, 0.9, 0.3],
            "acc_rate": [1.0, 2.0, 3.0, 4.0],
        }
    )
    rows.to_parquet(tmp_path / "drivers.parquet")
    driver = Entity(name="driver", join_keys=["driver_id"])
    stats = FeatureView(
        name="driver_stats",
        entities=[driver],
        ttl=timedelta(days=1),
        schema=[Field(name="conv_rate", dtype=Float64), Field(name="acc_rate", dtype=Float64)],
        source=FileSource(
            path=str(tmp_path / "drivers.parquet"), timestamp_field="event_timestamp"
        ),
    )
    store = FeatureStore(embedded, project="shop")
    store.apply([driver, stats])
    refs = ["driver_stats:conv_rate", "driver_stats:acc_rate"]
    labels = pd.DataFrame(
        {"driver_id": [1, 2, 3], "event_timestamp": [now] * 3, "label": [3.0, 5.0, 7.0]}
    )
    registry = ModelRegistry(embedded)
    with embedded.start_run(project="shop") as run:
        train = store.get_training_frame(labels, refs)
        features = train[["conv_rate", "acc_rate"]]
        registry.log_model(LinearRegression().fit(features, train.label), input_example=features)
    registry.register(f"runs:/{run.id}/model", "eta", project="shop")
    trained = embedded._backend.models_trained_on("shop", "driver_stats")
    assert [(v.model, v.number) for v in trained] == [("eta", 1)]
    assert embedded._backend.models_trained_on("shop", "other_view") == []
    store.materialize()
    Endpoints(embedded).deploy("eta", "models:/eta/1", features=refs)

    with inference_server(embedded, "eta") as (http, _):
        answer = http.post(
            "/invocations", json={"dataframe_records": [{"driver_id": 1}, {"driver_id": 3}]}
        )
        assert answer.status_code == 200, answer.text
        model = registry.load("models:/eta/1")
        online = pd.DataFrame({"conv_rate": [0.3, 0.9], "acc_rate": [4.0, 3.0]})
        assert np.allclose(answer.json()["predictions"], model.predict(online))
        missing = http.post("/invocations", json={"dataframe_records": [{"driver": 1}]})
        assert missing.status_code == 422
        assert "driver_id" in missing.json()["error"]["message"]


def test_an_inference_server_follows_an_endpoint_through_a_loopline_server(
    server_url: str, tmp_path: Path
) -> None:
    remote = Client(
        settings=Settings.from_env(
            {
                "LOOPLINE_URI": server_url,
                "LOOPLINE_HOME": str(tmp_path / "remote-home"),
                "LOOPLINE_USER": "ada",
                "LOOPLINE_PROJECT": "shop",
            }
        )
    )
    with remote:
        register_echo(remote, "echo", 2.0)
        register_echo(remote, "echo", 3.0)
        eps = Endpoints(remote)
        eps.deploy("scorer", "models:/echo/1")
        with inference_server(remote, "scorer") as (http, app):
            assert http.post("/invocations", json={"inputs": {"x": [1.0]}}).json() == {
                "predictions": [2.0]
            }
            eps.deploy("scorer", "models:/echo/2")
            wait_for(lambda: app.table is not None and app.table.revision.number == 2, what="rev 2")
            answer = http.post("/invocations", json={"inputs": {"x": [1.0]}})
            assert answer.json() == {"predictions": [3.0]}
            app.watcher.flush()
        assert eps.get("scorer").revision.status == "live"
        assert sum(w.requests for w in eps.stats("scorer")) == 2
