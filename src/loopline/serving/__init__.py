"""Model serving: endpoints, traffic routes, micro-batching, protocols, rollouts, batch scoring."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopline.serving._types import (
    LATENCY_BUCKETS_MS,
    REVISION_STATUSES,
    WINDOW_SECONDS,
    Batching,
    Endpoint,
    EndpointSpec,
    FeatureLookup,
    Revision,
    RevisionStatus,
    Route,
    StatsWindow,
    bucket_quantile,
    route_from_dict,
    spec_from_dict,
    validate_endpoint_name,
)

if TYPE_CHECKING:
    from loopline.serving._service import ServingService

__all__ = [
    "ServingService",
    "Endpoint",
    "EndpointSpec",
    "Route",
    "Batching",
    "FeatureLookup",
    "Revision",
    "RevisionStatus",
    "REVISION_STATUSES",
    "StatsWindow",
    "LATENCY_BUCKETS_MS",
    "WINDOW_SECONDS",
    "spec_from_dict",
    "route_from_dict",
    "bucket_quantile",
    "validate_endpoint_name",
]

_LAZY = {
    # The service needs SQLAlchemy; inference servers in remote mode only need the values.
    "ServingService": "loopline.serving._service",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'loopline.serving' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module), name)
