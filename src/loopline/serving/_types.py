"""What an endpoint is: its routes, batching, feature lookups, and the revisions that record them.

These are plain immutable values: the service stores them as JSON, the inference server reads
them, the CLI builds them from flags or a YAML file. Validation happens here, once, so every
way of defining an endpoint gives the same errors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from loopline.errors import InvalidInput
from loopline.projects._types import validate_endpoint_name
from loopline.registry import parse_model_uri

__all__ = [
    "Route",
    "Batching",
    "FeatureLookup",
    "EndpointSpec",
    "Endpoint",
    "Revision",
    "RevisionStatus",
    "REVISION_STATUSES",
    "StatsWindow",
    "LATENCY_BUCKETS_MS",
    "WINDOW_SECONDS",
    "validate_endpoint_name",
    "spec_from_dict",
    "route_from_dict",
    "bucket_quantile",
]

RevisionStatus = Literal["pending", "live", "failed", "superseded"]
REVISION_STATUSES: tuple[RevisionStatus, ...] = ("pending", "live", "failed", "superseded")
"""``pending`` until an inference server has loaded it, ``live`` once one serves it, ``failed``
if a model would not load (the previous revision keeps serving), ``superseded`` once a later
revision went live."""

LATENCY_BUCKETS_MS: tuple[float, ...] = (
    0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, math.inf,
)  # fmt: skip
"""Upper bounds of the latency histogram the inference server keeps (and the UI charts)."""

WINDOW_SECONDS = 10
"""The width of the statistics windows inference servers report (and the UI charts)."""

_STICKY_SOURCES = ("header", "field")


@dataclass(frozen=True, slots=True)
class Route:
    """One model behind an endpoint and its share of the traffic.

    Args:
        model: a registry URI: ``models:/digits/3``, ``models:/digits@champion``. An alias is
            resolved to a version when the revision is made, so a revision always names the
            exact versions it serves; moving the alias later makes a new revision.
        weight: the share of requests (the weights of the primary routes add up to 100).
        shadow: mirror every request to this model too, after answering; its answers are
            logged, never returned.
        version: the version the URI resolved to (filled in by the service).

    Example:
        >>> Route("models:/digits/4", weight=10)
        Route(model='models:/digits/4', weight=10, shadow=False, version=None)
    """

    model: str
    weight: int = 100
    shadow: bool = False
    version: int | None = None

    def __post_init__(self) -> None:
        parsed = parse_model_uri(self.model)
        if parsed.kind != "models":
            raise InvalidInput(
                f"An endpoint serves registered models, not {self.model!r}: register it first "
                f"(ll.register_model) and route to 'models:/<name>/<version>'."
            )
        if isinstance(self.weight, bool) or not isinstance(self.weight, int):
            raise InvalidInput(f"The weight of route {self.model!r} must be a whole number 0-100.")
        if not 0 <= self.weight <= 100:
            raise InvalidInput(
                f"The weight of route {self.model!r} is {self.weight}; weights are percentages "
                f"from 0 to 100."
            )

    @property
    def name(self) -> str:
        """The registered model's name."""
        return parse_model_uri(self.model).name

    @property
    def pinned(self) -> str:
        """The URI of the exact version (``models:/digits/4``), or the URI as given."""
        return self.pinned_in(None)

    def pinned_in(self, project: str | None) -> str:
        """The exact version's URI, naming ``project`` when the route's URI names none."""
        if self.version is None:
            return self.model
        parsed = parse_model_uri(self.model)
        where = parsed.project or project
        name = f"{where}/{parsed.name}" if where else parsed.name
        return f"models:/{name}/{self.version}"

    @property
    def label(self) -> str:
        """``digits/4``: how responses, metrics and logs name the model that answered."""
        return f"{self.name}/{self.version if self.version is not None else '?'}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "weight": self.weight,
            "shadow": self.shadow,
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class Batching:
    """Micro-batching: concurrent requests to one model answered by one ``predict`` call.

    A batch is sent when it holds ``max_batch_size`` rows or its first request has waited
    ``max_latency_ms``, whichever comes first. With ``max_latency_ms=0`` (the default) a batch
    is the requests that arrived together: nobody waits, and under load batches form by
    themselves while the model is busy; raise it to trade latency for larger batches.
    ``enabled=None`` (the default) turns batching on for the flavors whose predictions are row
    by row (scikit-learn, XGBoost, LightGBM, ONNX) and off for the others (a ``pyfunc`` may
    look across rows).
    """

    enabled: bool | None = None
    max_batch_size: int = 64
    max_latency_ms: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.max_batch_size, bool) or not isinstance(self.max_batch_size, int):
            raise InvalidInput("batching.max_batch_size must be a whole number from 1 to 4096.")
        if not 1 <= self.max_batch_size <= 4096:
            raise InvalidInput(f"batching.max_batch_size is {self.max_batch_size}; use 1 to 4096.")
        if not isinstance(self.max_latency_ms, int | float) or not (
            0 <= float(self.max_latency_ms) <= 1000
        ):
            raise InvalidInput(
                f"batching.max_latency_ms is {self.max_latency_ms!r}; use 0 to 1000 milliseconds."
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "max_batch_size": self.max_batch_size,
            "max_latency_ms": float(self.max_latency_ms),
        }


@dataclass(frozen=True, slots=True)
class FeatureLookup:
    """Features the endpoint fetches from the online store before calling the model.

    Clients send only the entity keys (and any request-time columns); the model receives the
    same features, under the same names, as ``get_training_frame`` gave it in training.

    Example:
        >>> FeatureLookup(["driver:conv_rate", "driver:acc_rate"])
    """

    features: tuple[str, ...]

    def __post_init__(self) -> None:
        features = tuple(self.features)
        if not features:
            raise InvalidInput("A feature lookup names at least one feature ('view:feature').")
        for ref in features:
            if not isinstance(ref, str) or ref.count(":") != 1 or ref.startswith(":"):
                raise InvalidInput(
                    f"Feature {ref!r} in the endpoint's lookup is not 'view:feature' "
                    f"(e.g. 'driver:conv_rate')."
                )
        object.__setattr__(self, "features", features)

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features)}


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """Everything about how an endpoint answers, as one value; each change makes a revision.

    Args:
        routes: the models and their traffic shares; shadows take a copy of every request.
        sticky: ``header:<name>`` or ``field:<name>``: requests with the same key always go
            to the same route (A/B tests by user), by a stable hash of the key. Without it,
            routes are picked at random by weight.
        batching: micro-batching settings.
        sample_rate: the fraction of predictions written to the evaluation store (0 to 1).
        features: an optional online feature lookup.

    Example:
        >>> EndpointSpec(routes=(Route("models:/digits/3", 90), Route("models:/digits/4", 10)))
    """

    routes: tuple[Route, ...]
    sticky: str | None = None
    batching: Batching = field(default_factory=Batching)
    sample_rate: float = 1.0
    features: FeatureLookup | None = None

    def __post_init__(self) -> None:
        routes = tuple(self.routes)
        object.__setattr__(self, "routes", routes)
        primaries = [r for r in routes if not r.shadow]
        if not primaries:
            raise InvalidInput(
                "An endpoint needs at least one route that answers (not a shadow), e.g. "
                "routes=[Route('models:/digits/3')]."
            )
        total = sum(r.weight for r in primaries)
        if total != 100:
            shares = ", ".join(f"{r.model}={r.weight}" for r in primaries)
            raise InvalidInput(
                f"The weights of the answering routes add up to {total}, not 100 ({shares}). "
                f"Give each its percentage of the traffic."
            )
        seen: set[str] = set()
        for route in routes:
            key = f"{route.pinned}|{route.shadow}"
            if key in seen:
                raise InvalidInput(f"Route {route.model!r} is listed twice; merge the two.")
            seen.add(key)
        if self.sticky is not None:
            source, _, name = str(self.sticky).partition(":")
            if source not in _STICKY_SOURCES or not name:
                raise InvalidInput(
                    f"sticky={self.sticky!r} should be 'header:<name>' (e.g. 'header:x-user-id') "
                    f"or 'field:<name>' (a column of the request)."
                )
        rate = self.sample_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise InvalidInput(f"sample_rate is {rate!r}; use a fraction from 0 to 1.")

    @property
    def primaries(self) -> tuple[Route, ...]:
        return tuple(r for r in self.routes if not r.shadow)

    @property
    def shadows(self) -> tuple[Route, ...]:
        return tuple(r for r in self.routes if r.shadow)

    def with_routes(self, routes: Sequence[Route]) -> EndpointSpec:
        """The same spec with other routes (a new revision's worth of change)."""
        return replace(self, routes=tuple(routes))

    def to_dict(self) -> dict[str, Any]:
        return {
            "routes": [r.to_dict() for r in self.routes],
            "sticky": self.sticky,
            "batching": self.batching.to_dict(),
            "sample_rate": float(self.sample_rate),
            "features": None if self.features is None else self.features.to_dict(),
        }


def route_from_dict(item: object, where: str = "the route") -> Route:
    """A :class:`Route` from a bare URI string or ``{"model", "weight", "shadow"}``."""
    if isinstance(item, str):
        return Route(item)
    if not isinstance(item, Mapping) or "model" not in item:
        raise InvalidInput(f"{where} needs a 'model' (a models:/ URI).")
    extra = set(item) - {"model", "weight", "shadow", "version"}
    if extra:
        raise InvalidInput(
            f"{where} has unknown key(s) {sorted(extra)}; a route has model, weight and shadow."
        )
    version = item.get("version")
    return Route(
        str(item["model"]),
        weight=item.get("weight", 100),
        shadow=bool(item.get("shadow", False)),
        version=None if version is None else int(version),
    )


def spec_from_dict(data: Mapping[str, Any], where: str = "the endpoint") -> EndpointSpec:
    """An :class:`EndpointSpec` from its dict form (JSON, a YAML file), with clear errors.

    Routes may be written ``{"model": "models:/digits/3", "weight": 90}`` or as a bare URI
    string (weight 100).
    """
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{where}: expected a mapping with 'routes', got {type(data).__name__}.")
    unknown = set(data) - {"routes", "sticky", "batching", "sample_rate", "features", "name",
                           "description", "project"}  # fmt: skip
    if unknown:
        raise InvalidInput(
            f"{where}: unknown key(s) {sorted(unknown)}; an endpoint has routes, sticky, "
            f"batching, sample_rate, features (and name, description, project in a file)."
        )
    raw_routes = data.get("routes")
    if not isinstance(raw_routes, list) or not raw_routes:
        raise InvalidInput(
            f"{where}: 'routes' must be a non-empty list, e.g. "
            f"[{{model: 'models:/digits/3', weight: 100}}]."
        )
    routes = [route_from_dict(item, f"{where}: route {i + 1}") for i, item in enumerate(raw_routes)]
    batching_data = data.get("batching") or {}
    if not isinstance(batching_data, Mapping):
        raise InvalidInput(f"{where}: 'batching' must be a mapping (max_batch_size, ...).")
    extra = set(batching_data) - {"enabled", "max_batch_size", "max_latency_ms"}
    if extra:
        raise InvalidInput(
            f"{where}: batching has unknown key(s) {sorted(extra)}; use enabled, "
            f"max_batch_size, max_latency_ms."
        )
    batching = Batching(**dict(batching_data))
    features = data.get("features")
    lookup: FeatureLookup | None = None
    if features is not None:
        refs = features.get("features") if isinstance(features, Mapping) else features
        if not isinstance(refs, list):
            raise InvalidInput(f"{where}: 'features' must list 'view:feature' names.")
        lookup = FeatureLookup(tuple(refs))
    sticky = data.get("sticky")
    return EndpointSpec(
        routes=tuple(routes),
        sticky=None if sticky is None else str(sticky),
        batching=batching,
        sample_rate=data.get("sample_rate", 1.0),
        features=lookup,
    )


@dataclass(frozen=True, slots=True)
class Revision:
    """One recorded state of an endpoint: what it served from when, who changed it, and why."""

    endpoint: str
    project: str
    number: int
    spec: EndpointSpec
    status: RevisionStatus
    created_at: datetime
    actor: str
    message: str = ""
    error: str = ""
    rollback_of: int | None = None
    live_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A named endpoint in a project.

    Attributes:
        revision: the newest revision.
        target: the revision inference servers serve: the newest one that has not failed
            (the newest itself, unless its models would not load).
    """

    id: str
    project: str
    name: str
    description: str
    created_at: datetime
    revision: Revision
    target: Revision

    @property
    def spec(self) -> EndpointSpec:
        return self.target.spec


@dataclass(frozen=True, slots=True)
class StatsWindow:
    """What one inference server process answered for one model in a time window."""

    start: datetime
    model: str
    requests: int
    errors: int
    latency_sum_ms: float
    buckets: tuple[int, ...]
    batches: int = 0
    batch_rows: int = 0
    worker: str = ""

    def quantile(self, q: float) -> float | None:
        """The ``q`` latency quantile in ms, read off the histogram (upper bucket bound)."""
        total = sum(self.buckets)
        if total == 0:
            return None
        return bucket_quantile(self.buckets, q)


def bucket_quantile(buckets: Sequence[int], q: float) -> float:
    """Interpolated ``q`` quantile of a histogram over :data:`LATENCY_BUCKETS_MS`."""
    total = sum(buckets)
    rank = q * total
    seen = 0.0
    lower = 0.0
    for bound, count in zip(LATENCY_BUCKETS_MS, buckets, strict=False):
        if count and seen + count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * max(rank - seen, 0.0) / count
        seen += count
        lower = bound if not math.isinf(bound) else lower
    return lower
