"""Small feature definitions and data shared by the feature store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from loopline.features import Entity, FeatureView, Field, FileSource, Float64, Int64

NOW = datetime(2026, 3, 1, tzinfo=UTC)
"""A fixed 'now' for offline data; online tests write rows near the real now instead."""


def driver_rows(now: datetime) -> pd.DataFrame:
    """Driver 1: two rows; driver 2: a tie at one time (created decides); driver 3: an old row."""
    return pd.DataFrame(
        {
            "driver_id": [1, 1, 2, 2, 3],
            "event_timestamp": [now - timedelta(hours=h) for h in (5, 1, 3, 3, 30)],
            "created": [now - timedelta(hours=h) for h in (5, 1, 3, 2, 30)],
            "conv_rate": [0.1, 0.2, 0.3, 0.35, 0.9],
            "trips": [10, 20, 30, 35, 90],
        }
    )


def driver_view(path: Path, ttl: timedelta | None = timedelta(days=1)) -> FeatureView:
    driver = Entity(name="driver", join_keys=["driver_id"])
    return FeatureView(
        name="driver_stats",
        entities=[driver],
        ttl=ttl,
        schema=[Field(name="conv_rate", dtype=Float64), Field(name="trips", dtype=Int64)],
        source=FileSource(path=path, created_timestamp_column="created"),
    )
