"""Feature definitions: entities, sources, feature views and on-demand views, in Python.

The names follow Feast's where they fit (``Entity(name, join_keys=[...])``,
``FileSource(path, timestamp_field=, created_timestamp_column=)``,
``FeatureView(name, entities=, ttl=, schema=, source=)``), so its users feel at home. Each
definition turns into a canonical JSON spec; the registry stores specs and versions them by
digest, so applying the same definitions twice changes nothing.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import inspect
import json
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from loopline.errors import InvalidInput
from loopline.features._types import Field, validate_name

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Entity",
    "FileSource",
    "SqlSource",
    "DatasetSource",
    "RequestSource",
    "FeatureView",
    "OnDemandFeatureView",
    "on_demand_feature_view",
    "Definition",
    "Source",
    "definition_from_spec",
    "spec_digest",
]

FileFormat = Literal["parquet", "csv"]


def spec_digest(spec: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``spec``: equal definitions, equal digests."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    out = dict(tags or {})
    for key, value in out.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidInput(f"Tags are text to text; {key!r}: {value!r} is not.")
    return out


@dataclass(frozen=True)
class Entity:
    """The thing features describe (a driver, a customer), and the columns that identify it.

    Args:
        name: the entity's name.
        join_keys: the columns that identify one entity, in sources and in entity frames
            (default: ``[name]``).

    Example:
        >>> driver = Entity(name="driver", join_keys=["driver_id"])
    """

    name: str
    join_keys: Sequence[str] = ()
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_name("entity", self.name)
        keys = list(self.join_keys) or [self.name]
        for key in keys:
            validate_name("join key", key)
        if len(set(keys)) != len(keys):
            raise InvalidInput(f"Entity {self.name!r} lists a join key twice: {keys}.")
        object.__setattr__(self, "join_keys", tuple(keys))
        object.__setattr__(self, "tags", _tags(self.tags))

    def to_spec(self, base: Path | None = None) -> dict[str, Any]:
        return {
            "kind": "entity",
            "name": self.name,
            "join_keys": list(self.join_keys),
            "description": self.description,
            "tags": dict(self.tags),
        }


@dataclass(frozen=True)
class FileSource:
    """Parquet or CSV files: one file, a folder of Parquet files, or a glob.

    Args:
        path: the file, folder or glob. A relative path is taken from the current folder by
            ``ll.features.apply`` and from the definitions file's folder by
            ``loopline features apply``; the registry stores it absolute.
        timestamp_field: the column holding each row's event time.
        created_timestamp_column: a column breaking ties between rows of one entity with the
            same event time: the latest created wins.
        file_format: ``"parquet"`` or ``"csv"`` (default: from the file name; folders are
            Parquet).
        timezone: the zone of timestamps stored without one (``"UTC"``). Without it, a naive
            timestamp column is refused: guessing the zone shifts features by hours.

    Example:
        >>> FileSource(path="driver_stats.parquet", timestamp_field="event_timestamp",
        ...            created_timestamp_column="created")
    """

    path: str | Path
    timestamp_field: str = "event_timestamp"
    created_timestamp_column: str = ""
    file_format: FileFormat | None = None
    timezone: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        path = str(self.path)
        object.__setattr__(self, "path", path)
        if not path:
            raise InvalidInput("A FileSource needs a path.")
        if "://" in path and not path.startswith("file://"):
            raise InvalidInput(
                f"FileSource path {path!r}: only local files are supported; copy remote "
                f"data locally first."
            )
        _check_time_columns(self.timestamp_field, self.created_timestamp_column)
        if self.file_format is None:
            object.__setattr__(self, "file_format", _infer_format(path))
        elif self.file_format not in ("parquet", "csv"):
            raise InvalidInput(f"file_format must be 'parquet' or 'csv', not {self.file_format!r}.")

    def to_spec(self, base: Path | None = None) -> dict[str, Any]:
        path = Path(str(self.path).removeprefix("file://")).expanduser()
        if not path.is_absolute():
            path = (base or Path.cwd()) / path
        return {
            "type": "file",
            "name": self.name,
            "path": str(path),
            "file_format": self.file_format,
            "timestamp_field": self.timestamp_field,
            "created_timestamp_column": self.created_timestamp_column,
            "timezone": self.timezone,
        }


@dataclass(frozen=True)
class SqlSource:
    """The rows of a SQL query on a database SQLAlchemy can reach (PostgreSQL, SQLite...).

    The query runs where features are computed (your process, or the server for
    ``materialize`` in remote mode). Its URL is stored in the registry: keep passwords out of it
    (use ``~/.pgpass`` or the database's own credential files).

    Example:
        >>> SqlSource(query="SELECT driver_id, ts, trips FROM trips_daily",
        ...           url="postgresql://analytics@db/warehouse", timestamp_field="ts")
    """

    query: str
    url: str
    timestamp_field: str = "event_timestamp"
    created_timestamp_column: str = ""
    timezone: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if not self.query.strip() or not self.url.strip():
            raise InvalidInput("A SqlSource needs a query and a SQLAlchemy database URL.")
        _check_time_columns(self.timestamp_field, self.created_timestamp_column)

    def to_spec(self, base: Path | None = None) -> dict[str, Any]:
        return {
            "type": "sql",
            "name": self.name,
            "query": self.query,
            "url": self.url,
            "timestamp_field": self.timestamp_field,
            "created_timestamp_column": self.created_timestamp_column,
            "timezone": self.timezone,
        }


@dataclass(frozen=True)
class DatasetSource:
    """Parquet or CSV files of a registered dataset version (see ``ll.Dataset``).

    The version is resolved each time the source is read (``"latest"`` and aliases move), and
    the version read is recorded: in the training frame's metadata
    (``frame.attrs["dataset_versions"]``) and in the materialization record (a new version is
    materialized from the start). Files are read through the Loopline store, verified against
    their digests, locally and against a server alike.

    Args:
        dataset: the dataset's name.
        path: a file of the version, a folder in it (every file under it), or a glob
            (``"parts/*.parquet"``).
        version: ``"latest"``, a version number, or an alias (``"golden"``).
        project: the dataset's project (default: the project of the feature definitions).
        timestamp_field, created_timestamp_column, file_format, timezone: as for
            :class:`FileSource`.

    Example:
        >>> DatasetSource(dataset="rides", path="driver_stats.parquet", version="golden",
        ...               created_timestamp_column="created")
    """

    dataset: str
    path: str
    version: int | str = "latest"
    project: str = ""
    timestamp_field: str = "event_timestamp"
    created_timestamp_column: str = ""
    file_format: FileFormat | None = None
    timezone: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        from loopline.datasets import validate_dataset_name, validate_version_ref

        validate_dataset_name(self.dataset)
        object.__setattr__(self, "version", validate_version_ref(self.version))
        if not isinstance(self.project, str):
            raise InvalidInput(f"DatasetSource project must be a name, not {self.project!r}.")
        if not isinstance(self.path, str) or not self.path.strip("/"):
            raise InvalidInput(
                f"DatasetSource({self.dataset!r}) needs path=: a file of the version, a folder "
                f"in it, or a glob."
            )
        _check_time_columns(self.timestamp_field, self.created_timestamp_column)
        if self.file_format is None:
            object.__setattr__(self, "file_format", _infer_format(self.path))
        elif self.file_format not in ("parquet", "csv"):
            raise InvalidInput(f"file_format must be 'parquet' or 'csv', not {self.file_format!r}.")

    def to_spec(self, base: Path | None = None) -> dict[str, Any]:
        return {
            "type": "dataset",
            "name": self.name,
            "dataset": self.dataset,
            "project": self.project,
            "version": self.version,
            "path": self.path,
            "file_format": self.file_format,
            "timestamp_field": self.timestamp_field,
            "created_timestamp_column": self.created_timestamp_column,
            "timezone": self.timezone,
        }


@dataclass(frozen=True)
class RequestSource:
    """Values that arrive with the request (online) or in the entity frame (offline), for
    on-demand views.

    Example:
        >>> RequestSource(name="trip", schema=[Field(name="distance_km", dtype=Float64)])
    """

    name: str
    schema: Sequence[Field]

    def __post_init__(self) -> None:
        validate_name("request source", self.name)
        object.__setattr__(self, "schema", tuple(self.schema))
        if not self.schema:
            raise InvalidInput(f"RequestSource {self.name!r} needs at least one field.")

    def to_spec(self) -> dict[str, Any]:
        return {"name": self.name, "schema": [f.to_spec() for f in self.schema]}


Source: TypeAlias = FileSource | SqlSource | DatasetSource


@dataclass(frozen=True)
class FeatureView:
    """Features of one or more entities, read from a source, valid for ``ttl`` after their
    event time.

    Args:
        name: the view's name: features are referred to as ``"name:feature"``.
        entities: the entities the rows describe; their join keys are columns of the source.
        ttl: how long a value stays valid after its event time (``None``: forever).
        schema: the typed features (fields named like a join key give its type, and are not
            features).
        source: where the rows come from.
        online: whether ``materialize`` copies the latest values to the online store.

    Example:
        >>> driver_stats = FeatureView(
        ...     name="driver_stats", entities=[driver], ttl=timedelta(days=1),
        ...     schema=[Field(name="conv_rate", dtype=Float32)],
        ...     source=FileSource(path="driver_stats.parquet"))
    """

    name: str
    entities: Sequence[Entity]
    schema: Sequence[Field]
    source: Source
    ttl: timedelta | None = None
    online: bool = True
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_name("feature view", self.name)
        object.__setattr__(self, "entities", tuple(self.entities))
        object.__setattr__(self, "schema", tuple(self.schema))
        object.__setattr__(self, "tags", _tags(self.tags))
        if not self.entities or not all(isinstance(e, Entity) for e in self.entities):
            raise InvalidInput(f"Feature view {self.name!r} needs entities=[Entity(...), ...].")
        if not isinstance(self.source, FileSource | SqlSource | DatasetSource):
            raise InvalidInput(
                f"Feature view {self.name!r}: source must be a FileSource, SqlSource or "
                f"DatasetSource, "
                f"not {type(self.source).__name__}."
            )
        if self.ttl is not None and (
            not isinstance(self.ttl, timedelta) or self.ttl < timedelta(0)
        ):
            raise InvalidInput(f"Feature view {self.name!r}: ttl must be a positive timedelta.")
        names = [f.name for f in self.schema]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise InvalidInput(f"Feature view {self.name!r} declares {duplicated} twice.")
        if not self.features:
            raise InvalidInput(
                f"Feature view {self.name!r} has no features: list them in schema=[Field(...)]."
            )
        reserved = {self.source.timestamp_field, self.source.created_timestamp_column}
        clash = sorted(reserved & {f.name for f in self.features})
        if clash:
            raise InvalidInput(
                f"Feature view {self.name!r}: {clash} is the source's time column, not a feature."
            )

    @property
    def join_keys(self) -> tuple[str, ...]:
        keys: list[str] = []
        for entity in self.entities:
            keys.extend(k for k in entity.join_keys if k not in keys)
        return tuple(keys)

    @property
    def features(self) -> tuple[Field, ...]:
        keys = set(self.join_keys)
        return tuple(f for f in self.schema if f.name not in keys)

    def to_spec(self, base: Path | None = None) -> dict[str, Any]:
        ttl = None if not self.ttl else self.ttl.total_seconds()
        return {
            "kind": "view",
            "type": "batch",
            "name": self.name,
            "entities": [e.name for e in self.entities],
            "join_keys": list(self.join_keys),
            "schema": [f.to_spec() for f in self.schema],
            "source": self.source.to_spec(base),
            "ttl_seconds": ttl,
            "online": bool(self.online),
            "description": self.description,
            "tags": dict(self.tags),
        }


Transform: TypeAlias = "Callable[[pd.DataFrame], pd.DataFrame]"


@dataclass(frozen=True)
class OnDemandFeatureView:
    """Features computed by a Python function from other features and request data.

    The function takes a pandas DataFrame (one column per input feature, by its short name,
    and per request field) and returns one with the declared schema's columns. It runs the
    same way offline (over the training frame) and online (over the looked-up row). It is
    stored in the registry as source code: it must be self-contained (import inside it what it
    needs; ``pd`` and ``np`` are provided).

    Prefer the decorator, :func:`on_demand_feature_view`.
    """

    name: str
    sources: Sequence[FeatureView | RequestSource]
    schema: Sequence[Field]
    function: Callable[..., Any]
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    function_source: str = ""

    def __post_init__(self) -> None:
        validate_name("on-demand view", self.name)
        object.__setattr__(self, "sources", tuple(self.sources))
        object.__setattr__(self, "schema", tuple(self.schema))
        object.__setattr__(self, "tags", _tags(self.tags))
        if not self.schema:
            raise InvalidInput(f"On-demand view {self.name!r} needs schema=[Field(...)].")
        for source in self.sources:
            if not isinstance(source, FeatureView | RequestSource):
                raise InvalidInput(
                    f"On-demand view {self.name!r}: sources are FeatureViews and "
                    f"RequestSources, not {type(source).__name__}."
                )
        if not self.function_source:
            object.__setattr__(self, "function_source", function_source(self.function, self.name))
        # Compiled from the stored text, here and wherever the registry is read, so that the
        # function runs the same everywhere (and fails here if it cannot be rebuilt).
        object.__setattr__(self, "function", compile_function(self.function_source, self.name))

    @property
    def feature_views(self) -> tuple[FeatureView, ...]:
        return tuple(s for s in self.sources if isinstance(s, FeatureView))

    @property
    def request_sources(self) -> tuple[RequestSource, ...]:
        return tuple(s for s in self.sources if isinstance(s, RequestSource))

    @property
    def features(self) -> tuple[Field, ...]:
        return tuple(self.schema)

    def to_spec(self, base: Path | None = None) -> dict[str, Any]:
        return {
            "kind": "view",
            "type": "on_demand",
            "name": self.name,
            "sources": [v.name for v in self.feature_views],
            "request_sources": [r.to_spec() for r in self.request_sources],
            "schema": [f.to_spec() for f in self.schema],
            "function": self.function_source,
            "description": self.description,
            "tags": dict(self.tags),
        }


def on_demand_feature_view(
    *,
    sources: Sequence[FeatureView | RequestSource],
    schema: Sequence[Field],
    description: str = "",
    tags: Mapping[str, str] | None = None,
) -> Callable[[Transform], OnDemandFeatureView]:
    """Make an on-demand view from a function over a DataFrame.

    Example:
        >>> @on_demand_feature_view(sources=[driver_stats, trip],
        ...                         schema=[Field(name="rate_per_km", dtype=Float64)])
        ... def rate_per_km(inputs):
        ...     out = pd.DataFrame()
        ...     out["rate_per_km"] = inputs["conv_rate"] / inputs["distance_km"]
        ...     return out
    """

    def wrap(fn: Transform) -> OnDemandFeatureView:
        return OnDemandFeatureView(
            name=fn.__name__,
            sources=sources,
            schema=schema,
            function=fn,
            description=description,
            tags=dict(tags or {}),
        )

    return wrap


def function_source(fn: Callable[..., Any], view: str) -> str:
    """The text of ``fn`` without decorators, normalised (comments and layout do not count)."""
    try:
        text = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(text)
    except (OSError, TypeError, SyntaxError) as exc:
        raise InvalidInput(
            f"On-demand view {view!r}: cannot read the source of its function ({exc}). Define "
            f"it with `def` in a file, not a lambda or in an interactive prompt."
        ) from exc
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef):
        raise InvalidInput(
            f"On-demand view {view!r}: its function must be a plain `def` (not a lambda)."
        )
    # Decorators and annotations are not part of what the function computes; dropped, they
    # cannot fail (or run code) when the function is rebuilt elsewhere.
    node.decorator_list = []
    node.returns = None
    for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
        arg.annotation = None
    return ast.unparse(node)


def compile_function(source: str, view: str) -> Callable[..., Any]:
    """Rebuild an on-demand view's function from its stored text."""
    import numpy as np
    import pandas as pd

    namespace: dict[str, Any] = {"__builtins__": builtins, "pd": pd, "np": np}
    try:
        tree = ast.parse(source)
        if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
            raise InvalidInput(f"On-demand view {view!r}: its stored function is not one `def`.")
        exec(compile(tree, f"<on-demand view {view}>", "exec"), namespace)  # noqa: S102
    except SyntaxError as exc:
        raise InvalidInput(
            f"On-demand view {view!r}: its function does not compile: {exc}"
        ) from exc
    fn: Callable[..., Any] = namespace[tree.body[0].name]
    return fn


Definition: TypeAlias = Entity | FeatureView | OnDemandFeatureView


def _check_time_columns(timestamp_field: str, created: str) -> None:
    validate_name("timestamp field", timestamp_field)
    if created:
        validate_name("created timestamp column", created)
        if created == timestamp_field:
            raise InvalidInput(
                "created_timestamp_column must differ from timestamp_field: it breaks ties "
                "between rows with the same event time."
            )


def _infer_format(path: str) -> FileFormat:
    lowered = path.lower()
    if lowered.endswith((".csv", ".csv.gz", ".tsv")):
        return "csv"
    return "parquet"


# -- from registry specs back to definitions ------------------------------------------------------


def definition_from_spec(
    spec: Mapping[str, Any], views: Mapping[str, FeatureView], entities: Mapping[str, Entity]
) -> Definition:
    """Rebuild a definition from its registry spec (``views`` and ``entities`` resolve names).

    Raises:
        InvalidInput: the spec is malformed or names an entity or view that does not exist.
    """
    try:
        kind = spec["kind"]
        if kind == "entity":
            return Entity(
                name=spec["name"],
                join_keys=spec["join_keys"],
                description=spec.get("description", ""),
                tags=spec.get("tags") or {},
            )
        if kind == "view" and spec.get("type") == "batch":
            return FeatureView(
                name=spec["name"],
                entities=[_entity_for(spec, name, entities) for name in spec["entities"]],
                schema=[Field.from_spec(f) for f in spec["schema"]],
                source=_source_from_spec(spec["source"]),
                ttl=None
                if spec.get("ttl_seconds") is None
                else timedelta(seconds=float(spec["ttl_seconds"])),
                online=bool(spec.get("online", True)),
                description=spec.get("description", ""),
                tags=spec.get("tags") or {},
            )
        if kind == "view" and spec.get("type") == "on_demand":
            sources: list[FeatureView | RequestSource] = []
            for name in spec["sources"]:
                if name not in views:
                    raise InvalidInput(
                        f"On-demand view {spec['name']!r} reads feature view {name!r}, which is "
                        f"not defined. Apply it too."
                    )
                sources.append(views[name])
            sources.extend(
                RequestSource(r["name"], [Field.from_spec(f) for f in r["schema"]])
                for r in spec.get("request_sources", [])
            )
            return OnDemandFeatureView(
                name=spec["name"],
                sources=sources,
                schema=[Field.from_spec(f) for f in spec["schema"]],
                function=_unused,
                function_source=spec["function"],
                description=spec.get("description", ""),
                tags=spec.get("tags") or {},
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(
            f"Malformed feature definition spec ({exc!r}): {dict(spec)!r:.300}"
        ) from exc
    raise InvalidInput(f"Unknown kind of feature definition: {spec.get('kind')!r}.")


def _unused(frame: Any) -> Any:  # replaced by the compiled stored function
    return frame


def _entity_for(spec: Mapping[str, Any], name: str, entities: Mapping[str, Entity]) -> Entity:
    entity = entities.get(name)
    if entity is None:
        raise InvalidInput(
            f"Feature view {spec['name']!r} uses entity {name!r}, which is not defined. Apply "
            f"Entity(name={name!r}, join_keys=[...]) too."
        )
    return entity


def _source_from_spec(spec: Mapping[str, Any]) -> Source:
    if spec["type"] == "file":
        return FileSource(
            path=spec["path"],
            timestamp_field=spec["timestamp_field"],
            created_timestamp_column=spec.get("created_timestamp_column", ""),
            file_format=spec.get("file_format"),
            timezone=spec.get("timezone"),
            name=spec.get("name", ""),
        )
    if spec["type"] == "sql":
        return SqlSource(
            query=spec["query"],
            url=spec["url"],
            timestamp_field=spec["timestamp_field"],
            created_timestamp_column=spec.get("created_timestamp_column", ""),
            timezone=spec.get("timezone"),
            name=spec.get("name", ""),
        )
    if spec["type"] == "dataset":
        return DatasetSource(
            dataset=spec["dataset"],
            path=spec["path"],
            version=spec.get("version", "latest"),
            project=spec.get("project", ""),
            timestamp_field=spec["timestamp_field"],
            created_timestamp_column=spec.get("created_timestamp_column", ""),
            file_format=spec.get("file_format"),
            timezone=spec.get("timezone"),
            name=spec.get("name", ""),
        )
    raise InvalidInput(f"Unknown source type {spec['type']!r}.")
