"""Every "Bad input" of the feature store, with the message a user gets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from tests.features.helpers import NOW, driver_rows, driver_view

from loopline.errors import InvalidInput, NotFound
from loopline.features import Entity, FeatureView, Field, FileSource, Float64, Int64, String
from loopline.features._catalog import Catalog
from loopline.features._offline import training_frame


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    driver_rows(NOW).to_parquet(tmp_path / "drivers.parquet")
    return Catalog.of([driver_view(tmp_path / "drivers.parquet")])


def entities() -> pd.DataFrame:
    return pd.DataFrame({"driver_id": [1], "event_timestamp": [NOW]})


def test_a_feature_that_does_not_exist_lists_close_names(catalog: Catalog) -> None:
    with pytest.raises(NotFound) as info:
        training_frame(catalog, entities(), ["driver_stats:conv"])
    assert "'conv_rate'" in str(info.value)
    assert "['conv_rate', 'trips']" in str(info.value)
    with pytest.raises(NotFound, match="Did you mean 'driver_stats'"):
        training_frame(catalog, entities(), ["drivers_stats:conv_rate"])


def test_an_entity_frame_without_a_timestamp_column(catalog: Catalog) -> None:
    frame = entities().rename(columns={"event_timestamp": "event_time"})
    with pytest.raises(InvalidInput, match="no timestamp column 'event_timestamp'") as info:
        training_frame(catalog, frame, ["driver_stats:conv_rate"])
    assert "timestamp_column=" in str(info.value)
    got = training_frame(catalog, frame, ["driver_stats:conv_rate"], timestamp_column="event_time")
    assert got["conv_rate"].tolist() == [0.2]


def test_timestamps_without_a_zone_are_refused_unless_a_zone_is_named(catalog: Catalog) -> None:
    naive = pd.DataFrame({"driver_id": [1], "event_timestamp": [NOW.replace(tzinfo=None)]})
    with pytest.raises(InvalidInput, match="without a time zone"):
        training_frame(catalog, naive, ["driver_stats:conv_rate"])
    got = training_frame(catalog, naive, ["driver_stats:conv_rate"], timezone="UTC")
    assert got["conv_rate"].tolist() == [0.2]
    # In another zone, the same wall-clock time is an hour earlier in UTC than midnight.
    paris = training_frame(catalog, naive, ["driver_stats:conv_rate"], timezone="Europe/Paris")
    assert paris["conv_rate"].tolist() == [0.2]
    text = pd.DataFrame({"driver_id": [1], "event_timestamp": ["2026-03-01"]})
    with pytest.raises(InvalidInput, match=r"pd\.to_datetime"):
        training_frame(catalog, text, ["driver_stats:conv_rate"])


def test_a_source_with_naive_timestamps_needs_its_zone(tmp_path: Path) -> None:
    rows = driver_rows(NOW)
    rows["event_timestamp"] = rows["event_timestamp"].dt.tz_localize(None)
    rows.to_parquet(tmp_path / "naive.parquet")
    view = driver_view(tmp_path / "naive.parquet")
    with pytest.raises(InvalidInput, match="timezone='UTC'"):
        training_frame(Catalog.of([view]), entities(), ["driver_stats:conv_rate"])


def test_a_source_that_drifted_from_its_definition(tmp_path: Path) -> None:
    rows = driver_rows(NOW).rename(columns={"conv_rate": "conversion"})
    rows["trips"] = rows["trips"].astype(str)
    rows.to_parquet(tmp_path / "drifted.parquet")
    view = driver_view(tmp_path / "drifted.parquet")
    with pytest.raises(InvalidInput) as info:
        training_frame(
            Catalog.of([view]), entities(), ["driver_stats:conv_rate", "driver_stats:trips"]
        )
    message = str(info.value)
    assert "feature 'conv_rate' is missing" in message
    assert "feature 'trips' is VARCHAR, declared int64" in message
    assert info.value.details["view"] == "driver_stats"


def test_a_missing_source_file_and_a_missing_join_key(tmp_path: Path, catalog: Catalog) -> None:
    view = driver_view(tmp_path / "nowhere.parquet")
    with pytest.raises(NotFound, match="does not exist"):
        training_frame(Catalog.of([view]), entities(), ["driver_stats:conv_rate"])
    with pytest.raises(InvalidInput, match="no column 'driver_id'"):
        training_frame(
            catalog, entities().rename(columns={"driver_id": "driver"}), ["driver_stats:trips"]
        )


def test_definitions_refuse_what_cannot_work(tmp_path: Path) -> None:
    driver = Entity(name="driver", join_keys=["driver_id"])
    source = FileSource(path=tmp_path / "x.parquet")
    with pytest.raises(InvalidInput, match="Invalid feature view name"):
        FeatureView(name="bad name", entities=[driver], schema=[Field("a", Int64)], source=source)
    with pytest.raises(InvalidInput, match="no features"):
        FeatureView(name="v", entities=[driver], schema=[Field("driver_id", Int64)], source=source)
    with pytest.raises(InvalidInput, match="twice"):
        FeatureView(
            name="v",
            entities=[driver],
            schema=[Field("a", Int64), Field("a", String)],
            source=source,
        )
    with pytest.raises(InvalidInput, match="positive"):
        FeatureView(
            name="v",
            entities=[driver],
            schema=[Field("a", Float64)],
            source=source,
            ttl=timedelta(seconds=-1),
        )
    with pytest.raises(InvalidInput, match="Unknown feature type"):
        Field("a", "float")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="full_feature_names"):
        Catalog.of(
            [
                FeatureView(name="v", entities=[driver], schema=[Field("a", Int64)], source=source),
                FeatureView(name="w", entities=[driver], schema=[Field("a", Int64)], source=source),
            ]
        ).plan(["v:a", "w:a"])
