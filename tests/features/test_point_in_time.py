"""The offline join, against an independent reference: pandas merge_asof on generated data."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.features.helpers import NOW, driver_rows, driver_view

from loopline.features import (
    Entity,
    FeatureView,
    Field,
    FileSource,
    Float64,
    Int64,
    String,
    UnixTimestamp,
)
from loopline.features._catalog import Catalog
from loopline.features._offline import Join, training_frame

BASE = pd.Timestamp("2026-01-01", tz="UTC")

feature_rows = st.lists(
    st.tuples(
        st.integers(0, 4),  # driver id
        st.integers(0, 40),  # event time, minutes: small ranges make ties and equal times
        st.floats(-1e6, 1e6, allow_nan=False),
    ),
    min_size=1,
    max_size=40,
)
entity_rows = st.lists(
    st.tuples(st.integers(0, 6), st.integers(-5, 50)),  # ids 5, 6 have no rows at all
    min_size=1,
    max_size=30,
)
ttls = st.one_of(st.none(), st.integers(0, 15))
joins = st.sampled_from(["auto", "hash", "asof"])


def reference(features: pd.DataFrame, entity: pd.DataFrame, ttl: int | None) -> pd.Series:
    """The latest row at or before each entity time (latest created among equal times), within
    the TTL; NaN otherwise. Written with pandas only, independently of the DuckDB join."""
    latest = features.sort_values(["driver_id", "event_timestamp", "created"]).drop_duplicates(
        ["driver_id", "event_timestamp"], keep="last"
    )
    right = latest.rename(columns={"event_timestamp": "feature_ts"}).sort_values("feature_ts")
    left = entity.reset_index(drop=True).assign(__row=range(len(entity)))
    joined = pd.merge_asof(
        left.sort_values("event_timestamp"),
        right[["driver_id", "feature_ts", "value"]],
        left_on="event_timestamp",
        right_on="feature_ts",
        by="driver_id",
        direction="backward",
    ).sort_values("__row")
    values = joined["value"].to_numpy(copy=True)
    if ttl is not None:
        values[
            (joined["event_timestamp"] - joined["feature_ts"]).to_numpy() > np.timedelta64(ttl, "m")
        ] = np.nan
    return pd.Series(values)


@settings(max_examples=150)
@given(feature_rows, entity_rows, ttls, joins)
def test_the_join_matches_a_merge_asof_reference(
    rows: list[tuple[int, int, float]],
    wanted: list[tuple[int, int]],
    ttl: int | None,
    join: Join,
) -> None:
    features = pd.DataFrame(
        {
            "driver_id": [r[0] for r in rows],
            "event_timestamp": [BASE + pd.Timedelta(minutes=r[1]) for r in rows],
            # Unique created times, in an order unrelated to the event times.
            "created": [BASE + pd.Timedelta(seconds=(i * 7919) % 10007) for i in range(len(rows))],
            "value": [r[2] for r in rows],
        }
    )
    entity = pd.DataFrame(
        {
            "driver_id": [w[0] for w in wanted],
            "event_timestamp": [BASE + pd.Timedelta(minutes=w[1]) for w in wanted],
            "label": [f"row{i}" for i in range(len(wanted))],
        },
        index=pd.Index([100 + 3 * i for i in range(len(wanted))], name="sample"),
    )
    driver = Entity(name="driver", join_keys=["driver_id"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.parquet"
        features.to_parquet(path)
        view = FeatureView(
            name="v",
            entities=[driver],
            ttl=None if ttl is None else timedelta(minutes=ttl),
            schema=[Field(name="value", dtype=Float64)],
            source=FileSource(path=path, created_timestamp_column="created"),
        )
        got = training_frame(Catalog.of([driver, view]), entity, ["v:value"], join=join)
    # The entity rows keep their order, index and columns; one feature column is added.
    assert list(got.columns) == ["driver_id", "event_timestamp", "label", "value"]
    pd.testing.assert_frame_equal(got[entity.columns], entity)
    expected = reference(features, entity, ttl)
    np.testing.assert_array_equal(got["value"].to_numpy(), expected.to_numpy())


def test_ties_ttl_edges_missing_entities_and_rows_before_any_feature(tmp_path: Path) -> None:
    path = tmp_path / "drivers.parquet"
    driver_rows(NOW).to_parquet(path)
    view = driver_view(path, ttl=timedelta(hours=1))
    catalog = Catalog.of([view])
    entity = pd.DataFrame(
        {
            "driver_id": [2, 1, 1, 1, 9, 1],
            "event_timestamp": [
                NOW - timedelta(hours=2),  # the tie at -3h: the later created (0.35) wins
                NOW - timedelta(hours=5) + timedelta(hours=1),  # age exactly the TTL: kept
                NOW - timedelta(hours=5) + timedelta(hours=1, microseconds=1),  # just past it
                NOW - timedelta(hours=6),  # before any row of driver 1
                NOW,  # a driver with no rows at all
                NOW - timedelta(hours=2),  # same as row 0's time, another entity: independent
            ],
        }
    )
    got = training_frame(catalog, entity, ["driver_stats:conv_rate", "driver_stats:trips"])
    np.testing.assert_array_equal(
        got["conv_rate"].to_numpy(), [0.35, 0.1, np.nan, np.nan, np.nan, np.nan]
    )
    assert got["trips"].tolist()[:2] == [35, 10]


def test_many_rows_of_one_key_on_both_sides_give_the_same_answer(tmp_path: Path) -> None:
    # Past a few entity rows per key the join counts its pairs and may switch strategy; the
    # values must not change with it.
    rng = np.random.default_rng(3)
    features = pd.DataFrame(
        {
            "driver_id": rng.integers(0, 2, 300),
            "event_timestamp": [
                BASE + pd.Timedelta(minutes=int(m)) for m in rng.integers(0, 90, 300)
            ],
            "created": [BASE + pd.Timedelta(seconds=int(s)) for s in rng.permutation(300)],
            "value": rng.random(300),
        }
    )
    features.to_parquet(tmp_path / "f.parquet")
    entity = pd.DataFrame(
        {
            "driver_id": rng.integers(0, 3, 200),
            "event_timestamp": [
                BASE + pd.Timedelta(minutes=int(m)) for m in rng.integers(-5, 95, 200)
            ],
        }
    )
    driver = Entity(name="driver", join_keys=["driver_id"])
    view = FeatureView(
        name="v",
        entities=[driver],
        ttl=timedelta(minutes=10),
        schema=[Field(name="value", dtype=Float64)],
        source=FileSource(path=tmp_path / "f.parquet", created_timestamp_column="created"),
    )
    expected = reference(features, entity, 10).to_numpy()
    for join in ("auto", "hash", "asof"):
        got = training_frame(Catalog.of([view]), entity, ["v:value"], join=join)
        np.testing.assert_array_equal(got["value"].to_numpy(), expected)


def test_duplicate_entity_rows_stay_two_rows(tmp_path: Path) -> None:
    path = tmp_path / "drivers.parquet"
    driver_rows(NOW).to_parquet(path)
    catalog = Catalog.of([driver_view(path)])
    entity = pd.DataFrame({"driver_id": [1, 1], "event_timestamp": [NOW, NOW]})
    got = training_frame(catalog, entity, ["driver_stats:conv_rate"])
    assert got["conv_rate"].tolist() == [0.2, 0.2]


def test_two_views_two_keys_full_names_and_arrow(tmp_path: Path) -> None:
    Entity(name="driver", join_keys=["driver_id"])
    route = Entity(name="route", join_keys=["origin", "destination"])
    trips = pd.DataFrame(
        {
            "origin": ["a", "a", "b"],
            "destination": ["b", "b", "a"],
            "ts": [NOW - timedelta(hours=3), NOW - timedelta(hours=1), NOW - timedelta(hours=1)],
            "eta_min": [30, 35, 50],
            "updated": [NOW - timedelta(hours=3)] * 3,
        }
    )
    trips.to_parquet(tmp_path / "routes.parquet")
    driver_rows(NOW).to_parquet(tmp_path / "drivers.parquet")
    routes = FeatureView(
        name="routes",
        entities=[route],
        schema=[Field(name="eta_min", dtype=Int64), Field(name="updated", dtype=UnixTimestamp)],
        source=FileSource(path=tmp_path / "routes.parquet", timestamp_field="ts"),
    )
    drivers = driver_view(tmp_path / "drivers.parquet")
    entity = pa.table(
        {
            "driver_id": [1, 2],
            "origin": ["a", "b"],
            "destination": ["b", "a"],
            "event_timestamp": pa.array([NOW - timedelta(hours=2), NOW], pa.timestamp("us", "UTC")),
        }
    )
    got = training_frame(
        Catalog.of([routes, drivers]),
        entity,
        ["routes:eta_min", "driver_stats:conv_rate", "routes:updated"],
        full_feature_names=True,
        format="arrow",
    )
    assert isinstance(got, pa.Table)
    assert got.column_names[4:] == ["routes__eta_min", "driver_stats__conv_rate", "routes__updated"]
    assert got.column("routes__eta_min").to_pylist() == [30, 50]
    assert got.column("driver_stats__conv_rate").to_pylist() == [0.1, 0.35]
    assert got.column("routes__updated").to_pylist()[0] == NOW - timedelta(hours=3)


def test_naive_timestamps_are_read_in_the_zone_given(tmp_path: Path) -> None:
    rows = driver_rows(NOW)
    rows["event_timestamp"] = (
        rows["event_timestamp"].dt.tz_convert("Europe/Paris").dt.tz_localize(None)
    )
    rows.to_parquet(tmp_path / "naive.parquet")
    driver = Entity(name="driver", join_keys=["driver_id"])
    view = FeatureView(
        name="driver_stats",
        entities=[driver],
        schema=[Field(name="conv_rate", dtype=Float64), Field(name="label", dtype=String)],
        source=FileSource(path=tmp_path / "naive.parquet", timezone="Europe/Paris"),
    )
    rows.assign(label="x").to_parquet(tmp_path / "naive.parquet")
    entity = pd.DataFrame(
        {"driver_id": [1], "event_timestamp": [(NOW - timedelta(hours=1)).replace(tzinfo=None)]}
    )
    got = training_frame(Catalog.of([view]), entity, ["driver_stats:conv_rate"], timezone="UTC")
    assert got["conv_rate"].tolist() == [0.2]
    # The entity frame comes back as given: still naive.
    assert got["event_timestamp"].dt.tz is None
