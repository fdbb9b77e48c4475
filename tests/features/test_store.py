"""The feature store end to end, through both backends (in-process and over HTTP) and both
databases: registry versions, materialization watermarks, online lookups, freshness."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from tests.features.helpers import driver_rows, driver_view

from loopline import Client, InvalidInput, NotFound
from loopline._features import FeatureStore
from loopline.features import (
    Field,
    Float64,
    RequestSource,
    on_demand_feature_view,
)


@on_demand_feature_view(
    sources=[
        driver_view(Path("driver_stats.parquet")),
        RequestSource("trip", [Field("km", Float64)]),
    ],
    schema=[Field("rate_km", Float64)],
)
def rate_km(inputs: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame()
    out["rate_km"] = inputs["conv_rate"] * inputs["km"]
    return out


def test_apply_is_idempotent_and_a_change_is_a_new_version(
    client: Client, driver_source: Path
) -> None:
    store = FeatureStore(client, project="rides")
    view = driver_view(driver_source)
    first = store.apply([view])
    assert [(r.kind, r.name, r.version, r.status) for r in first] == [
        ("entity", "driver", 1, "created"),
        ("view", "driver_stats", 1, "created"),
    ]
    assert {r.status for r in store.apply([view])} == {"unchanged"}
    changed = store.apply([replace(view, ttl=timedelta(hours=2))])
    assert [(r.name, r.version, r.status) for r in changed] == [
        ("driver", 1, "unchanged"),
        ("driver_stats", 2, "updated"),
    ]
    [info] = store.list_views()
    assert (info.name, info.version, info.ttl_seconds) == ("driver_stats", 2, 7200.0)
    assert info.source is not None
    assert info.source.location == str(driver_source)
    assert info.watermark is None
    assert info.materialized_at is None


def test_materialize_then_get_online_incrementally(client: Client, tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    source = tmp_path / "drivers.parquet"
    driver_rows(now).to_parquet(source)
    store = FeatureStore(client, project="rides")
    store.apply([driver_view(source)])

    [first] = store.materialize(now - timedelta(hours=2))
    assert (first.view, first.start, first.rows) == ("driver_stats", None, 2)  # drivers 1 and 2
    found = store.get_online(
        ["driver_stats:conv_rate", "driver_stats:trips"], {"driver_id": [1, 2, 3, 4]}
    )
    # Driver 1's row at -1h is after the window; driver 3's only row is older than the TTL.
    assert found.to_dict() == {
        "driver_id": [1, 2, 3, 4],
        "conv_rate": [0.1, 0.35, None, None],
        "trips": [10, 35, None, None],
    }

    [second] = store.materialize(now)
    assert second.start == now - timedelta(hours=2)
    assert second.rows == 1  # only driver 1's newer row: the window starts at the watermark
    assert store.get_online(["driver_stats:conv_rate"], {"driver_id": [1]})["conv_rate"] == [0.2]
    [info] = store.list_views()
    assert info.watermark == now
    assert info.rows_materialized == 1
    assert info.materialized_at is not None
    assert info.online_store

    # Nothing new: no work, and the answer is the same.
    [third] = store.materialize(now)
    assert third.rows == 0


def test_an_on_demand_view_computes_the_same_offline_and_online(
    client: Client, driver_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(driver_source.parent)  # the view above names its source relatively
    store = FeatureStore(client, project="rides")
    results = store.apply([rate_km])
    assert [r.name for r in results] == ["driver", "driver_stats", "rate_km"]
    store.materialize()
    online = store.get_online(
        ["rate_km:rate_km", "driver_stats:conv_rate"],
        {"driver_id": [2, 9]},
        request_data={"km": [10.0, 3.0]},
    )
    assert online["rate_km"][0] == pytest.approx(3.5)
    assert math.isnan(online["rate_km"][1])
    entity = pd.DataFrame(
        {"driver_id": [2, 9], "event_timestamp": [datetime.now(UTC)] * 2, "km": [10.0, 3.0]}
    )
    offline = store.get_training_frame(entity, ["rate_km:rate_km", "driver_stats:conv_rate"])
    assert offline["rate_km"].iloc[0] == pytest.approx(online["rate_km"][0])
    assert math.isnan(offline["rate_km"].iloc[1])


def test_unknown_features_and_missing_keys_are_clear_errors(
    client: Client, driver_source: Path
) -> None:
    store = FeatureStore(client, project="rides")
    store.apply([driver_view(driver_source)])
    with pytest.raises(NotFound, match="Did you mean 'conv_rate'"):
        store.get_online(["driver_stats:conv_rat"], {"driver_id": [1]})
    with pytest.raises(NotFound, match="Did you mean 'driver_stats'"):
        store.get_online(["driver_stat:conv_rate"], {"driver_id": [1]})
    with pytest.raises(InvalidInput, match="'view:feature'"):
        store.get_online(["conv_rate"], {"driver_id": [1]})
    with pytest.raises(InvalidInput, match="join key"):
        store.get_online(["driver_stats:conv_rate"], {"driver": [1]})
    with pytest.raises(InvalidInput, match="time zone"):
        store.materialize(datetime(2026, 1, 1))


def test_the_http_lookup_carries_nan_and_timestamps(client: Client, tmp_path: Path) -> None:
    from loopline.features import Entity, FeatureView, FileSource, UnixTimestamp

    now = datetime.now(UTC).replace(microsecond=0)
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Arrow keeps a NaN a NaN (pandas would write it as a null).
    table = pa.table(
        {
            "driver_id": [1],
            "event_timestamp": pa.array([now - timedelta(minutes=1)], pa.timestamp("us", "UTC")),
            "score": pa.array([float("nan")]),
            "seen": pa.array([now - timedelta(days=3)], pa.timestamp("us", "UTC")),
        }
    )
    pq.write_table(table, tmp_path / "s.parquet")
    driver = Entity(name="driver", join_keys=["driver_id"])
    view = FeatureView(
        name="scores",
        entities=[driver],
        schema=[Field("score", Float64), Field("seen", UnixTimestamp)],
        source=FileSource(path=tmp_path / "s.parquet"),
    )
    store = FeatureStore(client, project="rides")
    store.apply([view])
    store.materialize()
    found = store.get_online(["scores:score", "scores:seen"], {"driver_id": [1]})
    assert math.isnan(found["score"][0])
    assert found["seen"] == [now - timedelta(days=3)]
