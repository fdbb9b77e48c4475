"""What the feature store answers: plain values, light enough for remote clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ApplyResult",
    "FieldInfo",
    "SourceInfo",
    "FeatureViewInfo",
    "MaterializeResult",
    "OnlineFeatures",
]

ApplyStatus = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What applying one definition did: a first version, a new version, or nothing."""

    kind: Literal["entity", "view"]
    name: str
    version: int
    status: ApplyStatus


@dataclass(frozen=True, slots=True)
class FieldInfo:
    name: str
    dtype: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """Where a view's rows come from, for people (a SQL URL has its password hidden)."""

    type: Literal["file", "sql", "dataset"]
    location: str
    timestamp_field: str
    created_timestamp_column: str = ""
    timezone: str | None = None
    name: str = ""


@dataclass(frozen=True, slots=True)
class FeatureViewInfo:
    """A feature view as a list or a UI shows it: definition, version and freshness.

    Attributes:
        type: ``"batch"`` (read from a source) or ``"on_demand"`` (computed by a function).
        sources: the views an on-demand view reads (empty for a batch view).
        watermark: materialized up to this event time (``None``: never materialized into the
            configured online store).
        materialized_at: when the last materialization finished.
    """

    name: str
    type: Literal["batch", "on_demand"]
    version: int
    entities: list[str]
    join_keys: list[str]
    features: list[FieldInfo]
    source: SourceInfo | None
    sources: list[str]
    ttl_seconds: float | None
    online: bool
    description: str
    tags: dict[str, str]
    created_at: datetime
    updated_at: datetime
    watermark: datetime | None = None
    materialized_at: datetime | None = None
    rows_materialized: int | None = None
    online_store: str | None = None
    source_version: str | None = None
    """For a dataset source: the version last materialized (``project/dataset:3``)."""


@dataclass(frozen=True, slots=True)
class MaterializeResult:
    """One view's materialization: the event-time window copied and how many entities."""

    view: str
    start: datetime | None
    end: datetime
    rows: int
    seconds: float
    online_store: str = ""
    source_version: str | None = None
    """For a dataset source: the version read (``project/dataset:3``)."""


@dataclass(frozen=True, slots=True)
class OnlineFeatures:
    """Feature values for a list of entities, as columns: the entity keys, then each feature,
    in the order asked (``None`` where an entity has no value, or only an expired one).

    Example:
        >>> found = ll.features.get_online(["driver_stats:conv_rate"], entities={"driver_id": [1]})
        >>> found.to_dict()
        {'driver_id': [1], 'conv_rate': [0.42]}
    """

    columns: dict[str, list[Any]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    """The feature type of each feature column (``"float64"``...): how JSON carries them."""

    def to_dict(self) -> dict[str, list[Any]]:
        return self.columns

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.columns)

    def __getitem__(self, column: str) -> list[Any]:
        return self.columns[column]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()), []))

    def to_json(self) -> dict[str, Any]:
        """As strict JSON: non-finite floats as strings, timestamps in ISO 8601."""
        columns: dict[str, list[Any]] = {}
        for name, values in self.columns.items():
            kind = self.types.get(name, "")
            if kind.startswith("float"):
                columns[name] = [_json_float(v) for v in values]
            elif kind == "timestamp":
                columns[name] = [None if v is None else v.isoformat() for v in values]
            else:
                columns[name] = values
        return {"columns": columns, "types": self.types}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OnlineFeatures:
        """The inverse of :meth:`to_json`."""
        types: dict[str, str] = dict(data.get("types") or {})
        columns: dict[str, list[Any]] = {}
        for name, values in data["columns"].items():
            kind = types.get(name, "")
            if kind.startswith("float"):
                columns[name] = [None if v is None else float(v) for v in values]
            elif kind == "timestamp":
                columns[name] = [None if v is None else datetime.fromisoformat(v) for v in values]
            else:
                columns[name] = values
        return cls(columns, types)


def _json_float(value: Any) -> Any:
    if value is None or (value == value and value not in (float("inf"), float("-inf"))):
        return value
    return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
