"""``ll.features``: the feature store's one-liners, over the default client (local or remote)."""

from __future__ import annotations

import runpy
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline._client import Client, default_client
from loopline.errors import InvalidInput
from loopline.features._catalog import Catalog
from loopline.features._definitions import Definition, Entity, FeatureView, OnDemandFeatureView
from loopline.features._materialize import Progress
from loopline.features._values import (
    ApplyResult,
    FeatureViewInfo,
    MaterializeResult,
    OnlineFeatures,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from loopline.features._offline import Format

__all__ = [
    "FeatureStore",
    "apply",
    "get_training_frame",
    "materialize",
    "get_online",
    "list_views",
    "load_definitions",
]


class FeatureStore:
    """The feature store of a client's Loopline (embedded, a database, or a server).

    Args:
        client: the client to work through (default: the one behind the one-liners).
        project: the project definitions live in (default: the client's, ``LOOPLINE_PROJECT``).

    Example:
        >>> store = FeatureStore(ll.Client(), project="rides")
        >>> store.apply([driver, driver_stats])
        >>> store.get_online(["driver_stats:conv_rate"], {"driver_id": [1001]}).to_dict()
    """

    def __init__(self, client: Client | None = None, *, project: str | None = None) -> None:
        self.client = client or default_client()
        self.project = project or self.client.settings.project

    def apply(
        self, definitions: Iterable[Definition], *, base: Path | None = None
    ) -> list[ApplyResult]:
        """Register definitions (with the entities and views they use); see :func:`apply`."""
        specs = [d.to_spec(base) for d in _closure(definitions)]
        return self.client._backend.apply_features(self.project, specs)

    def catalog(self) -> Catalog:
        """The definitions in force, as objects."""
        return Catalog.from_specs(self.client._backend.feature_specs(self.project))

    def get_training_frame(
        self,
        entity_df: pd.DataFrame | pa.Table,
        features: Sequence[str],
        *,
        timestamp_column: str = "event_timestamp",
        timezone: str | None = None,
        full_feature_names: bool = False,
        format: Format = "pandas",
        memory_limit: str | None = None,
        temp_directory: str | Path | None = None,
    ) -> Any:
        """Point-in-time-correct features for ``entity_df``; see :func:`get_training_frame`."""
        from loopline.features._dataset_files import DatasetFiles
        from loopline.features._offline import training_frame

        files = DatasetFiles(
            self.client._backend, self.project, self.client.settings.home / "cache" / "blobs"
        )
        frame = training_frame(
            self.catalog(),
            entity_df,
            features,
            timestamp_column=timestamp_column,
            timezone=timezone,
            full_feature_names=full_feature_names,
            format=format,
            memory_limit=memory_limit,
            temp_directory=None if temp_directory is None else Path(temp_directory),
            datasets=files,
        )
        self._record_in_run(features)
        return frame

    def _record_in_run(self, features: Sequence[str]) -> None:
        """Inside a run, tag it with the feature views it trained on: a model registered from
        the run is then listed as a user of those views (``models_trained_on``)."""
        from loopline._runs import active_run

        run = active_run()
        if run is None:
            return
        from loopline.errors import NotFound
        from loopline.features import FEATURES_TAG

        refs = [features] if isinstance(features, str) else list(features)
        views = {str(f).split(":", 1)[0] for f in refs}
        try:
            tags = self.client._backend.get_run(run.id).tags
        except NotFound:  # the run lives in another store than this client's
            tags = {}
        known = {v for v in str(tags.get(FEATURES_TAG, "")).split(",") if v}
        run.set_tag(FEATURES_TAG, ",".join(sorted(known | views))[:8000])

    def materialize(
        self,
        until: datetime | None = None,
        *,
        views: Sequence[str] | None = None,
        full: bool = False,
        progress: Progress | None = None,
    ) -> list[MaterializeResult]:
        """Copy the latest values into the online store; see :func:`materialize`."""
        return self.client._backend.materialize_features(
            self.project, views=views, until=until, full=full, progress=progress
        )

    def get_online(
        self,
        features: Sequence[str],
        entities: Mapping[str, Sequence[Any]],
        *,
        request_data: Mapping[str, Sequence[Any]] | None = None,
        full_feature_names: bool = False,
    ) -> OnlineFeatures:
        """The latest values for ``entities``; see :func:`get_online`."""
        return self.client._backend.get_online_features(
            self.project,
            features,
            entities,
            request_data=request_data,
            full_feature_names=full_feature_names,
        )

    def list_views(self) -> list[FeatureViewInfo]:
        """Every view with its version, source and freshness (last materialized)."""
        return self.client._backend.list_feature_views(self.project)


def apply(definitions: Iterable[Definition], *, project: str | None = None) -> list[ApplyResult]:
    """Register entities and views in the metadata store, versioned.

    Applying the same definitions again changes nothing; a changed definition gets the next
    version. Entities of the views, and views of on-demand views, are applied with them.
    Relative ``FileSource`` paths are taken from the current folder.

    Example:
        >>> ll.features.apply([driver, driver_stats])
        [ApplyResult(kind='entity', name='driver', version=1, status='created'), ...]
    """
    return FeatureStore(project=project).apply(definitions)


def get_training_frame(
    entity_df: pd.DataFrame | pa.Table,
    features: Sequence[str],
    *,
    project: str | None = None,
    timestamp_column: str = "event_timestamp",
    timezone: str | None = None,
    full_feature_names: bool = False,
    format: Format = "pandas",
    memory_limit: str | None = None,
    temp_directory: str | Path | None = None,
) -> Any:
    """The entity rows, in their order and with their columns, plus point-in-time-correct
    feature values: for each row, each view's latest values at or before its timestamp and
    within the view's TTL (nulls when there are none).

    Args:
        entity_df: entity join keys and a timestamp per row (pandas or Arrow).
        features: ``"view:feature"`` references.
        timestamp_column: the column of ``entity_df`` holding each row's time.
        timezone: the zone of naive timestamps in ``entity_df``; without it they are refused.
        full_feature_names: name columns ``view__feature`` instead of ``feature``.
        format: ``"pandas"`` or ``"arrow"``.
        memory_limit: DuckDB's memory limit (``"4GB"``); past it, work spills to disk.
        temp_directory: where spilled data goes (default: a temporary folder).

    Example:
        >>> frame = ll.features.get_training_frame(labels, ["driver_stats:conv_rate"])
    """
    return FeatureStore(project=project).get_training_frame(
        entity_df,
        features,
        timestamp_column=timestamp_column,
        timezone=timezone,
        full_feature_names=full_feature_names,
        format=format,
        memory_limit=memory_limit,
        temp_directory=temp_directory,
    )


def materialize(
    until: datetime | None = None,
    *,
    views: Sequence[str] | None = None,
    full: bool = False,
    project: str | None = None,
    progress: Progress | None = None,
) -> list[MaterializeResult]:
    """Copy each online view's latest values up to ``until`` (default: now) into the online
    store, starting after the watermark the last materialization left (``full``: from the
    start). In remote mode the server does it, reading the sources from where it runs.

    Example:
        >>> ll.features.materialize()          # up to now, incrementally
        [MaterializeResult(view='driver_stats', start=None, end=..., rows=5, ...)]
    """
    return FeatureStore(project=project).materialize(
        until, views=views, full=full, progress=progress
    )


def get_online(
    features: Sequence[str],
    entities: Mapping[str, Sequence[Any]],
    *,
    request_data: Mapping[str, Sequence[Any]] | None = None,
    full_feature_names: bool = False,
    project: str | None = None,
) -> OnlineFeatures:
    """The latest materialized values of ``features`` for ``entities`` (join key -> values);
    ``None`` where an entity has none, or only one older than the view's TTL.

    Example:
        >>> ll.features.get_online(["driver_stats:conv_rate"], entities={"driver_id": [1, 2]})
    """
    client = default_client()
    return client._backend.get_online_features(
        project or client.settings.project,
        features,
        entities,
        request_data=request_data,
        full_feature_names=full_feature_names,
    )


def list_views(*, project: str | None = None) -> list[FeatureViewInfo]:
    """Every view of the project with its source, version and last materialization."""
    return FeatureStore(project=project).list_views()


def load_definitions(path: str | Path) -> list[Definition]:
    """Run a definitions file and return the entities and views it defines (at module level).

    Raises:
        InvalidInput: the file does not exist, fails, or defines nothing.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"No definitions file {str(path)!r}.")
    try:
        namespace = runpy.run_path(str(path), run_name="__loopline_features__")
    except InvalidInput as exc:
        raise InvalidInput(f"{path}: {exc.message}") from exc
    except Exception as exc:
        line = ""
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == str(path):
                line = f" (line {tb.tb_lineno})"
            tb = tb.tb_next
        raise InvalidInput(f"{path}{line} raised {type(exc).__name__}: {exc}") from exc
    found = [
        v for v in namespace.values() if isinstance(v, Entity | FeatureView | OnDemandFeatureView)
    ]
    if not found:
        raise InvalidInput(
            f"{path} defines no Entity, FeatureView or on-demand view at module level."
        )
    return found


def _closure(definitions: Iterable[Definition]) -> list[Definition]:
    """The definitions with the entities and views they use, each name once."""
    out: dict[tuple[str, str], Definition] = {}

    def add(d: Definition) -> None:
        if not isinstance(d, Entity | FeatureView | OnDemandFeatureView):
            raise InvalidInput(
                f"apply takes Entity, FeatureView and on-demand views, not {type(d).__name__}."
            )
        key = ("entity" if isinstance(d, Entity) else "view", d.name)
        seen = out.get(key)
        if seen is not None:
            if seen.to_spec() != d.to_spec():
                raise InvalidInput(f"Two different definitions are named {d.name!r}.")
            return
        if isinstance(d, FeatureView):
            for entity in d.entities:
                add(entity)
        elif isinstance(d, OnDemandFeatureView):
            for view in d.feature_views:
                add(view)
        out[key] = d

    if isinstance(definitions, Entity | FeatureView | OnDemandFeatureView):
        definitions = [definitions]
    for definition in definitions:
        add(definition)
    return list(out.values())
