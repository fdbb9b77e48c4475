"""Feature views over registered dataset versions, through both backends and both databases:
the version is resolved when read, recorded, and read verified through the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from tests.features.helpers import NOW, driver_rows

import loopline as ll
from loopline import Client, NotFound
from loopline._features import FeatureStore
from loopline.config import Settings
from loopline.errors import CorruptBlob, InvalidInput
from loopline.features import DatasetSource, Entity, FeatureView, Field, Float64, Int64

DRIVER = Entity(name="driver", join_keys=["driver_id"])


def rides_view(version: int | str = "latest", path: str = "stats/drivers.parquet") -> FeatureView:
    return FeatureView(
        name="driver_stats",
        entities=[DRIVER],
        ttl=timedelta(days=1),
        schema=[Field(name="conv_rate", dtype=Float64), Field(name="trips", dtype=Int64)],
        source=DatasetSource(
            dataset="rides", path=path, version=version, created_timestamp_column="created"
        ),
    )


def commit(client: Client, rows: pd.DataFrame, alias: str = "") -> ll.DatasetVersion:
    draft = ll.Dataset.create("rides", project="shop", parent="latest", client=client)
    draft.add_frame(rows, "stats/drivers.parquet")
    version = draft.commit()
    return version.set_alias(alias) if alias else version


ENTITY = pd.DataFrame({"driver_id": [1, 2, 3], "event_timestamp": [NOW] * 3})
FEATURES = ["driver_stats:conv_rate", "driver_stats:trips"]


def test_a_training_frame_reads_the_version_named_and_records_it(client: Client) -> None:
    first = commit(client, driver_rows(NOW), alias="golden")
    second = commit(client, driver_rows(NOW).assign(conv_rate=lambda d: d.conv_rate * 10))
    store = FeatureStore(client, project="shop")

    store.apply([rides_view("latest")])
    latest = store.get_training_frame(ENTITY, FEATURES)
    assert latest["conv_rate"].tolist()[:2] == [2.0, 3.5]
    assert latest.attrs["dataset_versions"]["driver_stats"] == {
        "dataset": "shop/rides",
        "version": second.number,
        "digest": second.digest,
        "files": ["stats/drivers.parquet"],
    }

    store.apply([rides_view("golden")])
    golden = store.get_training_frame(ENTITY, FEATURES, format="arrow")
    assert isinstance(golden, pa.Table)
    assert golden.column("conv_rate").to_pylist()[:2] == [0.2, 0.35]
    assert golden.schema.metadata is not None
    assert b'"version": 1' in golden.schema.metadata[b"loopline.dataset_versions"]
    assert first.number == 1

    [info] = store.list_views()
    assert info.source is not None
    assert (info.source.type, info.source.location) == (
        "dataset",
        "rides:golden stats/drivers.parquet",
    )


def test_materialize_records_the_version_and_starts_over_on_a_new_one(client: Client) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    commit(client, driver_rows(now))
    store = FeatureStore(client, project="shop")
    store.apply([rides_view("latest")])

    [first] = store.materialize(now)
    assert (first.rows, first.source_version) == (2, "shop/rides:1")
    [again] = store.materialize(now + timedelta(seconds=1))
    assert (again.start, again.rows) == (now, 0)  # incremental: nothing new

    # A new version may change any row: it is materialized from the start.
    commit(client, driver_rows(now).assign(conv_rate=0.5))
    [third] = store.materialize(now + timedelta(seconds=2))
    assert (third.start, third.rows, third.source_version) == (None, 2, "shop/rides:2")
    found = store.get_online(["driver_stats:conv_rate"], {"driver_id": [1, 2]})
    assert found["conv_rate"] == [0.5, 0.5]
    [info] = store.list_views()
    assert info.source_version == "shop/rides:2"


def test_a_missing_dataset_version_or_file_is_not_found(client: Client) -> None:
    store = FeatureStore(client, project="shop")
    store.apply([rides_view()])
    with pytest.raises(NotFound, match="rides"):
        store.get_training_frame(ENTITY, FEATURES)
    commit(client, driver_rows(NOW))
    store.apply([rides_view(path="stats/driver.parquet")])
    with pytest.raises(NotFound, match=r"stats/drivers\.parquet"):  # the close name
        store.get_training_frame(ENTITY, FEATURES)
    store.apply([rides_view(version=7)])
    with pytest.raises(NotFound):
        store.get_training_frame(ENTITY, FEATURES)


def test_a_folder_or_glob_reads_every_file_matching(client: Client) -> None:
    rows = driver_rows(NOW)
    draft = ll.Dataset.create("rides", project="shop", client=client)
    draft.add_frame(rows.iloc[:2], "parts/a.parquet")
    draft.add_frame(rows.iloc[2:], "parts/b.parquet")
    draft.commit()
    store = FeatureStore(client, project="shop")
    for path in ("parts", "parts/*.parquet"):
        store.apply([rides_view(path=path)])
        got = store.get_training_frame(ENTITY, FEATURES)
        assert got["conv_rate"].tolist()[:2] == [0.2, 0.35]
        files = got.attrs["dataset_versions"]["driver_stats"]["files"]
        assert files == ["parts/a.parquet", "parts/b.parquet"]


def test_a_corrupted_file_is_refused(client: Client, settings: Settings) -> None:
    version = commit(client, driver_rows(NOW))
    [entry] = version.files()
    blob = Path(settings.artifacts) / "sha256" / entry.digest[:2] / entry.digest
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    store = FeatureStore(client, project="shop")
    store.apply([rides_view()])
    with pytest.raises(CorruptBlob, match=r"stats/drivers\.parquet"):
        store.get_training_frame(ENTITY, FEATURES)


def test_bad_dataset_source_definitions_are_refused() -> None:
    with pytest.raises(InvalidInput, match="dataset name"):
        DatasetSource(dataset="no good", path="a.parquet")
    with pytest.raises(InvalidInput, match="numbered from 1"):
        DatasetSource(dataset="rides", path="a.parquet", version=0)
    with pytest.raises(InvalidInput, match="path="):
        DatasetSource(dataset="rides", path="")
    # Read outside a client, the store that holds the version is unknown.
    from loopline.features._catalog import Catalog
    from loopline.features._offline import training_frame

    with pytest.raises(InvalidInput, match="Loopline client"):
        training_frame(Catalog.of([rides_view()]), ENTITY, FEATURES)
