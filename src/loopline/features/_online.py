"""Online stores (the protocol, and how one is chosen) and prepared online lookups.

An online store keeps, per view and entity, the latest event time and the feature values as a
compact JSON object. It is a tiny protocol, so a new store is one class::

    class MyStore:
        location = "mystore://..."           # where it is, for people and watermarks
        def write(self, namespace, rows): ...  # rows: (entity key, event time in us, payload)
        def read(self, namespace, keys): ...   # [(event time in us, payload) or None, ...]
        def drop(self, namespace): ...         # forget one view
        def close(self): ...

Stores are named by the scheme of ``LOOPLINE_ONLINE_STORE`` (``sqlite:///...``,
``redis://...``) and imported only when used; third parties add theirs through the
``loopline.online_stores`` entry point group (scheme -> class with ``open(url, home)``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from importlib import import_module
from pathlib import Path
from typing import Any, Protocol

from loopline.errors import ConfigError, InvalidInput, did_you_mean
from loopline.features._catalog import FeaturePlan
from loopline.features._values import OnlineFeatures

__all__ = ["OnlineStore", "OnlineLookup", "open_online_store", "entity_key", "STORES"]

Row = tuple[str, int, str]
"""What a store writes: entity key, event time (microseconds since the epoch, UTC), payload."""
Found = tuple[int, "str | bytes"]

STORES: dict[str, str] = {
    "sqlite": "loopline.features._sqlite_store:SqliteOnlineStore",
    "redis": "loopline.features._redis_store:RedisOnlineStore",
}
"""Built-in online stores, by URL scheme: dotted paths, imported when first used."""


class OnlineStore(Protocol):
    """Where the latest feature values live for fast lookups.

    Example:
        >>> store = open_online_store("sqlite:////tmp/online.db", Path("/tmp"))
        >>> store.write("demo/driver_stats", [("1001", 1700000000000000, '{"conv_rate":0.5}')])
        >>> store.read("demo/driver_stats", ["1001", "9"])
        [(1700000000000000, '{"conv_rate":0.5}'), None]
    """

    location: str

    def write(self, namespace: str, rows: Sequence[Row]) -> None:
        """Store rows; a row never replaces one with a later event time."""
        ...

    def read(self, namespace: str, keys: Sequence[str]) -> list[Found | None]:
        """The stored (event time, payload) of each key, ``None`` where there is none."""
        ...

    def drop(self, namespace: str) -> None:
        """Forget every row of ``namespace``."""
        ...

    def close(self) -> None: ...


def open_online_store(url: str, home: Path) -> OnlineStore:
    """The online store ``url`` names (empty: SQLite in ``home/online.db``).

    Raises:
        ConfigError: an unknown scheme (with the closest known one).
    """
    url = url.strip()
    if not url:
        url = f"sqlite:///{home / 'online.db'}"
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    target = STORES.get(scheme)
    if target is None:
        target = _entry_point(scheme)
    if target is None:
        raise ConfigError(
            f"LOOPLINE_ONLINE_STORE={url!r}: unknown online store {scheme!r}; expected "
            f"sqlite:///path/online.db or redis://host:6379/0.{did_you_mean(scheme, STORES)}"
        )
    module, _, name = target.partition(":")
    cls = getattr(import_module(module), name)
    store: OnlineStore = cls.open(url, home)
    return store


def _entry_point(scheme: str) -> str | None:
    from importlib.metadata import entry_points

    for ep in entry_points(group="loopline.online_stores"):
        if ep.name == scheme:
            return str(ep.value)
    return None


def entity_key(values: Sequence[Any]) -> str:
    """The text that identifies an entity in a store: its join-key values, as DuckDB writes
    them (``CAST(x AS VARCHAR)``), joined by the unit separator."""
    if len(values) == 1:
        return _one_key(values[0])
    return "\x1f".join(_one_key(v) for v in values)


def _one_key(value: Any) -> str:
    kind = value.__class__
    if kind is int or kind is str:
        return str(value)
    if kind is bool or type(value).__name__ == "bool_":
        return "true" if value else "false"
    if hasattr(value, "item"):  # numpy scalars
        return _one_key(value.item())
    return str(value)


def _decoder(dtype: str) -> Callable[[Any], Any] | None:
    if dtype == "timestamp":
        epoch = datetime(1970, 1, 1, tzinfo=UTC)

        def decode(value: Any) -> Any:
            return None if value is None else epoch + timedelta(microseconds=value)

        return decode
    return None


class OnlineLookup:
    """A prepared online read of a fixed list of features: resolved once, called per request.

    This is what a serving endpoint keeps: it declares its features once, and each request
    sends only entity ids (and request data for on-demand features).

    Example:
        >>> lookup = service.lookup("demo", ["driver_stats:conv_rate"])
        >>> lookup({"driver_id": [1001, 1002]}).to_dict()
        {'driver_id': [1001, 1002], 'conv_rate': [0.5, None]}
    """

    def __init__(self, project: str, plan: FeaturePlan, store: OnlineStore) -> None:
        self.plan = plan
        self.store = store
        self.join_keys = plan.join_keys
        self.request_fields = plan.request_fields
        self._views = [
            (
                f"{project}/{name}",
                view.join_keys,
                None if view.ttl is None else int(view.ttl.total_seconds() * 1_000_000),
                [(f, f"{name}__{f}") for f in features],
                {f.name: _decoder(f.dtype.name) for f in view.features if f.name in features},
            )
            for name, (view, features) in plan.batch.items()
        ]
        self._outputs = [(o.column, f"{o.view}__{o.feature}") for o in plan.outputs]
        self._types = {o.column: o.dtype.name for o in plan.outputs}

    def __call__(
        self,
        entities: Mapping[str, Sequence[Any]],
        request_data: Mapping[str, Sequence[Any]] | None = None,
    ) -> OnlineFeatures:
        """Feature values for ``entities`` (join key -> values, one per entity)."""
        columns = self._entity_columns(entities)
        n = len(columns[self.join_keys[0]]) if self.join_keys else 0
        values: dict[str, list[Any]] = {}
        now_us = time.time_ns() // 1000
        loads = json.loads
        for namespace, keys, ttl_us, features, decoders in self._views:
            if len(keys) == 1:
                ids = [_one_key(v) for v in columns[keys[0]]]
            else:
                ids = [entity_key(row) for row in zip(*(columns[k] for k in keys), strict=True)]
            found = self.store.read(namespace, ids)
            rows: list[dict[str, Any] | None] = [
                None
                if item is None or (ttl_us is not None and now_us - item[0] > ttl_us)
                else loads(item[1])
                for item in found
            ]
            for feature, internal in features:
                column = [None if r is None else r.get(feature) for r in rows]
                decode = decoders.get(feature)
                if decode is not None:
                    column = [decode(v) for v in column]
                values[internal] = column
        if self.plan.on_demand:
            self._run_on_demand(values, request_data or {}, n)
        out: dict[str, list[Any]] = {k: list(columns[k]) for k in self.join_keys}
        for column_name, internal in self._outputs:
            out[column_name] = values[internal]
        return OnlineFeatures(out, self._types)

    def _entity_columns(self, entities: Mapping[str, Sequence[Any]]) -> dict[str, Sequence[Any]]:
        if not isinstance(entities, Mapping):
            raise InvalidInput(
                'entities must map each join key to a list of values: {"driver_id": [1, 2]}.'
            )
        columns: dict[str, Sequence[Any]] = {}
        for key in self.join_keys:
            values = entities.get(key)
            if values is None:
                raise InvalidInput(
                    f"entities has no {key!r}, a join key of the features asked for (they need "
                    f"{list(self.join_keys)}).{did_you_mean(key, entities)}"
                )
            if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
                values = [values]
            columns[key] = values
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise InvalidInput(
                f"entities lists have different lengths ({sorted(lengths)}): give one value per "
                f"entity for every join key."
            )
        return columns

    def _run_on_demand(
        self, values: dict[str, list[Any]], request_data: Mapping[str, Sequence[Any]], n: int
    ) -> None:
        import pandas as pd

        from loopline.features._offline import run_on_demand

        for odfv in self.plan.on_demand:
            inputs = pd.DataFrame(
                {
                    f.name: _series(values[f"{v.name}__{f.name}"], f.dtype.name)
                    for v in odfv.feature_views
                    for f in v.features
                }
            )
            for source in odfv.request_sources:
                for field in source.schema:
                    given = request_data.get(field.name)
                    if given is None:
                        raise InvalidInput(
                            f"On-demand view {odfv.name!r} needs request data {field.name!r}."
                            f"{did_you_mean(field.name, request_data)}"
                        )
                    given = [given] if isinstance(given, str | int | float) else list(given)
                    if len(given) != n:
                        raise InvalidInput(
                            f"request data {field.name!r} has {len(given)} values for {n} entities."
                        )
                    inputs[field.name] = given
            produced = run_on_demand(odfv, inputs)
            for field in odfv.features:
                values[f"{odfv.name}__{field.name}"] = produced[field.name].tolist()


def _series(values: list[Any], dtype: str) -> Any:
    """A column typed as the offline frame types it, so a function sees the same input
    online and offline (integers with a gap become floats there, as Arrow converts them)."""
    import pandas as pd

    if dtype in ("float32", "float64"):
        return pd.Series([float("nan") if v is None else v for v in values], dtype=dtype)
    if dtype in ("int32", "int64"):
        if any(v is None for v in values):
            return pd.Series([float("nan") if v is None else v for v in values], dtype="float64")
        return pd.Series(values, dtype=dtype)
    if dtype == "timestamp":
        return pd.to_datetime(pd.Series(values, dtype=object), utc=True)
    return pd.Series(values, dtype=object)
