"""Feature store: definitions, point-in-time-correct training frames, materialization and
online features.

Example:
    >>> import loopline as ll
    >>> from loopline.features import Entity, FeatureView, Field, FileSource, Float32
    >>> driver = Entity(name="driver", join_keys=["driver_id"])
    >>> stats = FeatureView(name="driver_stats", entities=[driver], ttl=timedelta(days=1),
    ...                     schema=[Field(name="conv_rate", dtype=Float32)],
    ...                     source=FileSource(path="driver_stats.parquet"))
    >>> ll.features.apply([driver, stats])
    >>> frame = ll.features.get_training_frame(entity_df, ["driver_stats:conv_rate"])
    >>> ll.features.materialize()
    >>> ll.features.get_online(["driver_stats:conv_rate"], entities={"driver_id": [1001]})
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopline.features._definitions import (
    DatasetSource,
    Entity,
    FeatureView,
    FileSource,
    OnDemandFeatureView,
    RequestSource,
    SqlSource,
    on_demand_feature_view,
)
from loopline.features._types import (
    FEATURES_TAG,
    Array,
    Bool,
    FeatureType,
    Field,
    Float32,
    Float64,
    Int32,
    Int64,
    String,
    UnixTimestamp,
)
from loopline.features._values import (
    ApplyResult,
    FeatureViewInfo,
    FieldInfo,
    MaterializeResult,
    OnlineFeatures,
    SourceInfo,
)

if TYPE_CHECKING:
    from loopline._features import (
        FeatureStore,
        apply,
        get_online,
        get_training_frame,
        list_views,
        materialize,
    )
    from loopline.features._catalog import Catalog
    from loopline.features._online import OnlineLookup, OnlineStore
    from loopline.features._service import FeatureService

__all__ = [
    "FEATURES_TAG",
    # the one-liners, over the default client
    "apply",
    "get_training_frame",
    "materialize",
    "get_online",
    "list_views",
    "FeatureStore",
    # definitions
    "Entity",
    "FileSource",
    "SqlSource",
    "DatasetSource",
    "RequestSource",
    "FeatureView",
    "OnDemandFeatureView",
    "on_demand_feature_view",
    "Field",
    "FeatureType",
    "Int32",
    "Int64",
    "Float32",
    "Float64",
    "String",
    "Bool",
    "UnixTimestamp",
    "Array",
    # answers
    "ApplyResult",
    "FeatureViewInfo",
    "FieldInfo",
    "SourceInfo",
    "MaterializeResult",
    "OnlineFeatures",
    # the service side
    "FeatureService",
    "Catalog",
    "OnlineStore",
    "OnlineLookup",
]

_FACADE = ("apply", "get_training_frame", "materialize", "get_online", "list_views", "FeatureStore")
_LAZY = {
    "FeatureService": "loopline.features._service",
    "Catalog": "loopline.features._catalog",
    "OnlineStore": "loopline.features._online",
    "OnlineLookup": "loopline.features._online",
}


def __getattr__(name: str) -> Any:
    # The one-liners live above the backends (they pick local or remote); `ll.features.apply`
    # reaches them through this package's name, loaded on first use. The service needs
    # SQLAlchemy, which remote clients never load.
    from importlib import import_module

    if name in _FACADE:
        value = getattr(import_module("loopline._features"), name)
    elif name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'loopline.features' has no attribute {name!r}")
    globals()[name] = value
    return value
