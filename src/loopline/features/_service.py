"""The feature service: the registry of definitions, materialization and online lookups.

Definitions are stored per project as canonical JSON specs, versioned: applying an unchanged
definition does nothing, a changed one adds the next version, and the latest is in force.
Online lookups are prepared once per list of features and kept; a definition applied in this
process is seen at once, one applied by another process within :data:`REFRESH_SECONDS`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from loopline.db import Database, utcnow
from loopline.errors import Conflict, InvalidInput, NotFound
from loopline.features._catalog import Catalog
from loopline.features._dataset_files import DatasetFiles, DatasetStore
from loopline.features._definitions import DatasetSource, FeatureView, spec_digest
from loopline.features._materialize import Progress, materialize_view
from loopline.features._online import OnlineLookup, OnlineStore, open_online_store
from loopline.features._sources import _mask
from loopline.features._tables import DefinitionRow, MaterializationRow
from loopline.features._values import (
    ApplyResult,
    FeatureViewInfo,
    FieldInfo,
    MaterializeResult,
    OnlineFeatures,
    SourceInfo,
)
from loopline.projects import ProjectService

__all__ = ["FeatureService", "REFRESH_SECONDS"]

REFRESH_SECONDS = 1.0
"""How often a process checks whether another one applied new definitions."""


class FeatureService:
    """Registry, materialization and online lookups over one metadata database.

    Example:
        >>> svc = FeatureService(db, ProjectService(db), online_store="", home=Path("/tmp/ll"))
        >>> svc.apply("demo", [driver.to_spec(), driver_stats.to_spec()])
        [ApplyResult(kind='entity', name='driver', version=1, status='created'), ...]
        >>> svc.get_online("demo", ["driver_stats:conv_rate"], {"driver_id": [1001]})
    """

    def __init__(
        self,
        db: Database,
        projects: ProjectService,
        *,
        online_store: str,
        home: Path,
        datasets: DatasetStore | None = None,
    ) -> None:
        self._db = db
        # Dataset versions and their blobs, for views whose source is a dataset.
        self._datasets = datasets
        self._projects = projects
        self._online_url = online_store
        self._home = home
        self._lock = threading.Lock()
        # project -> (catalog, generation, checked at (monotonic))
        self._catalogs: dict[str, tuple[Catalog, tuple[int, int], float]] = {}
        self._lookups: dict[tuple[str, tuple[str, ...], bool], OnlineLookup] = {}

    @cached_property
    def online_store(self) -> OnlineStore:
        """The online store ``LOOPLINE_ONLINE_STORE`` names, opened on first use."""
        return open_online_store(self._online_url, self._home)

    # -- registry --

    def apply(self, project: str, specs: Sequence[Mapping[str, Any]]) -> list[ApplyResult]:
        """Register definitions (their specs); unchanged ones keep their version.

        Raises:
            InvalidInput: a spec is malformed, or refers to an entity or view that is neither
                applied already nor in ``specs``.
        """
        if not isinstance(specs, Sequence) or not all(isinstance(s, Mapping) for s in specs):
            raise InvalidInput("apply takes a list of definition specs (objects).")
        project_id = self._projects.ensure(project).id
        names = [(s.get("kind"), s.get("name")) for s in specs]
        repeated = sorted({f"{k} {n!r}" for k, n in names if names.count((k, n)) > 1})
        if repeated:
            raise InvalidInput(f"Defined twice in one apply: {', '.join(repeated)}.")
        latest = self._latest_specs(project_id)
        merged = {(s["kind"], s["name"]): s for s in latest}
        merged.update({(str(s.get("kind")), str(s.get("name"))): dict(s) for s in specs})
        # Rebuilding every definition checks the specs and their references, and gives the
        # canonical spec (whatever extra keys a client sent).
        catalog = Catalog.from_specs(list(merged.values()))
        canonical: list[tuple[str, str, dict[str, Any]]] = []
        for kind, name in names:
            key = str(name)
            definition = catalog.entities[key] if kind == "entity" else catalog.views[key]
            canonical.append((str(kind), key, definition.to_spec()))
        results: list[ApplyResult] = []
        try:
            with self._db.transaction() as session:
                for kind, name, spec in canonical:
                    digest = spec_digest(spec)
                    row = session.scalars(
                        select(DefinitionRow)
                        .where(
                            DefinitionRow.project_id == project_id,
                            DefinitionRow.kind == kind,
                            DefinitionRow.name == name,
                        )
                        .order_by(DefinitionRow.version.desc())
                        .limit(1)
                    ).first()
                    if row is not None and row.digest == digest:
                        results.append(ApplyResult(kind, name, row.version, "unchanged"))  # type: ignore[arg-type]
                        continue
                    version = 1 if row is None else row.version + 1
                    session.add(
                        DefinitionRow(
                            project_id=project_id,
                            kind=kind,
                            name=name,
                            version=version,
                            digest=digest,
                            spec=json.dumps(spec, sort_keys=True),
                        )
                    )
                    status = "created" if row is None else "updated"
                    results.append(ApplyResult(kind, name, version, status))  # type: ignore[arg-type]
                session.flush()
        except IntegrityError as exc:
            raise Conflict(
                f"Definitions of project {project!r} were applied by someone else at the same "
                f"time. Apply again."
            ) from exc
        with self._lock:
            self._catalogs.pop(project, None)
        return results

    def specs(self, project: str) -> list[dict[str, Any]]:
        """The spec in force (latest version) of every definition of ``project``."""
        try:
            project_id = self._projects.get(project).id
        except NotFound:
            return []
        return self._latest_specs(project_id)

    def catalog(self, project: str) -> Catalog:
        """The definitions in force, rebuilt from the registry (cached; see the module doc)."""
        now = time.monotonic()
        cached = self._catalogs.get(project)
        if cached is not None and now - cached[2] < REFRESH_SECONDS:
            return cached[0]
        generation = self._generation(project)
        if cached is not None and cached[1] == generation:
            self._catalogs[project] = (cached[0], generation, now)
            return cached[0]
        catalog = Catalog.from_specs(self.specs(project))
        with self._lock:
            self._catalogs[project] = (catalog, generation, now)
            for key in [k for k in self._lookups if k[0] == project]:
                del self._lookups[key]
        return catalog

    def list_views(self, project: str) -> list[FeatureViewInfo]:
        """Every view of ``project`` with its source and freshness, by name (for lists, UIs)."""
        try:
            project_id = self._projects.get(project).id
        except NotFound:
            return []
        with self._db.session() as session:
            rows = session.scalars(
                select(DefinitionRow)
                .where(DefinitionRow.project_id == project_id, DefinitionRow.kind == "view")
                .order_by(DefinitionRow.name, DefinitionRow.version)
            ).all()
            marks = {
                m.view_name: m
                for m in session.scalars(
                    select(MaterializationRow).where(
                        MaterializationRow.project_id == project_id,
                        MaterializationRow.store == self._store_location(),
                    )
                ).all()
            }
        first: dict[str, datetime] = {}
        latest: dict[str, DefinitionRow] = {}
        for row in rows:
            first.setdefault(row.name, row.created_at)
            latest[row.name] = row
        return [
            _view_info(json.loads(row.spec), row, first[name], marks.get(name))
            for name, row in sorted(latest.items())
        ]

    # -- online --

    def lookup(
        self, project: str, features: Sequence[str], *, full_feature_names: bool = False
    ) -> OnlineLookup:
        """A prepared online read of ``features`` (what a serving endpoint keeps)."""
        catalog = self.catalog(project)
        key = (project, tuple(features), full_feature_names)
        found = self._lookups.get(key)
        if found is None:
            plan = catalog.plan(list(features), full_feature_names=full_feature_names)
            found = OnlineLookup(project, plan, self.online_store)
            with self._lock:
                self._lookups[key] = found
        return found

    def get_online(
        self,
        project: str,
        features: Sequence[str],
        entities: Mapping[str, Sequence[Any]],
        *,
        request_data: Mapping[str, Sequence[Any]] | None = None,
        full_feature_names: bool = False,
    ) -> OnlineFeatures:
        """The latest values of ``features`` for ``entities`` (join key -> values)."""
        if isinstance(features, str):
            features = [features]
        lookup = self._lookups.get((project, tuple(features), full_feature_names))
        cached = self._catalogs.get(project)
        if lookup is None or cached is None or time.monotonic() - cached[2] >= REFRESH_SECONDS:
            lookup = self.lookup(project, features, full_feature_names=full_feature_names)
        return lookup(entities, request_data)

    # -- materialization --

    def materialize(
        self,
        project: str,
        *,
        views: Sequence[str] | None = None,
        until: datetime | None = None,
        full: bool = False,
        progress: Progress | None = None,
        memory_limit: str | None = None,
        temp_directory: Path | None = None,
    ) -> list[MaterializeResult]:
        """Copy the latest values of online views into the online store, from each view's
        watermark (or from the start, with ``full``) up to ``until`` (default: now).

        A view whose source is a dataset reads the version its source names now; when that is
        not the version it was last materialized from, it is materialized from the start (a
        new version may change any row), and the version read is recorded.

        Raises:
            InvalidInput: ``until`` has no time zone, or a named view is on-demand or offline.
            NotFound: a named view does not exist.
        """
        end = _aware(until, "until") if until is not None else utcnow()
        catalog = self.catalog(project)
        if views is None:
            chosen = [v for v in catalog.views.values() if isinstance(v, FeatureView) and v.online]
        else:
            chosen = []
            for name in views:
                view = catalog.view(name)
                if not isinstance(view, FeatureView):
                    raise InvalidInput(
                        f"{name!r} is an on-demand view: it is computed at lookup time, not "
                        f"materialized."
                    )
                if not view.online:
                    raise InvalidInput(f"Feature view {name!r} is offline only (online=False).")
                chosen.append(view)
        project_id = self._projects.get(project).id
        store = self.online_store
        versions = self._versions(project_id)
        files = None
        if self._datasets is not None:
            files = DatasetFiles(self._datasets, project, self._home / "cache" / "blobs")
        results = []
        for view in sorted(chosen, key=lambda v: v.name):
            version = versions[view.name]
            mark = self._mark(project_id, view.name)
            read = None
            if isinstance(view.source, DatasetSource) and files is not None:
                read = files.resolve(view.name, view.source).ref
            start = None
            if (
                mark is not None
                and not full
                and mark.view_version == version
                and mark.source_version == read
            ):
                start = mark.watermark
                if start >= end:
                    results.append(
                        MaterializeResult(view.name, start, end, 0, 0.0, store.location, read)
                    )
                    continue
            began = time.perf_counter()
            rows = materialize_view(
                view,
                store,
                f"{project}/{view.name}",
                start=start,
                end=end,
                progress=progress,
                memory_limit=memory_limit,
                temp_directory=temp_directory,
                datasets=files,
            )
            self._save_mark(project_id, view.name, version, end, rows, read)
            seconds = time.perf_counter() - began
            results.append(
                MaterializeResult(view.name, start, end, rows, seconds, store.location, read)
            )
        return results

    def close(self) -> None:
        if "online_store" in self.__dict__:
            self.online_store.close()
            del self.__dict__["online_store"]

    # -- helpers --

    def _latest_specs(self, project_id: str) -> list[dict[str, Any]]:
        with self._db.session() as session:
            newest = (
                select(
                    DefinitionRow.kind,
                    DefinitionRow.name,
                    func.max(DefinitionRow.version).label("version"),
                )
                .where(DefinitionRow.project_id == project_id)
                .group_by(DefinitionRow.kind, DefinitionRow.name)
                .subquery()
            )
            texts = session.scalars(
                select(DefinitionRow.spec)
                .join(
                    newest,
                    (DefinitionRow.kind == newest.c.kind)
                    & (DefinitionRow.name == newest.c.name)
                    & (DefinitionRow.version == newest.c.version),
                )
                .where(DefinitionRow.project_id == project_id)
            ).all()
        return [json.loads(t) for t in texts]

    def _generation(self, project: str) -> tuple[int, int]:
        """Changes whenever a definition of ``project`` is added: (rows, sum of versions)."""
        try:
            project_id = self._projects.get(project).id
        except NotFound:
            return 0, 0
        with self._db.session() as session:
            count, total = session.execute(
                select(
                    func.count(DefinitionRow.id), func.coalesce(func.sum(DefinitionRow.version), 0)
                ).where(DefinitionRow.project_id == project_id)
            ).one()
        return int(count), int(total)

    def _versions(self, project_id: str) -> dict[str, int]:
        with self._db.session() as session:
            rows = session.execute(
                select(DefinitionRow.name, func.max(DefinitionRow.version))
                .where(DefinitionRow.project_id == project_id, DefinitionRow.kind == "view")
                .group_by(DefinitionRow.name)
            ).all()
        return {name: int(version) for name, version in rows}

    def _store_location(self) -> str:
        return self.online_store.location

    def _mark(self, project_id: str, view: str) -> MaterializationRow | None:
        with self._db.session() as session:
            return session.get(MaterializationRow, (project_id, view, self._store_location()))

    def _save_mark(
        self,
        project_id: str,
        view: str,
        version: int,
        end: datetime,
        rows: int,
        source_version: str | None,
    ) -> None:
        with self._db.transaction() as session:
            mark = session.get(MaterializationRow, (project_id, view, self._store_location()))
            if mark is None:
                mark = MaterializationRow(
                    project_id=project_id, view_name=view, store=self._store_location()
                )
                session.add(mark)
            mark.view_version = version
            mark.watermark = end
            mark.materialized_at = utcnow()
            mark.rows_written = rows
            mark.source_version = source_version


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidInput(f"{name} must be a datetime, not {type(value).__name__}.")
    if value.tzinfo is None:
        raise InvalidInput(
            f"{name}={value.isoformat()} has no time zone: pass an aware datetime "
            f"(datetime.now(UTC), or .replace(tzinfo=UTC))."
        )
    return value.astimezone(UTC)


def _view_info(
    spec: dict[str, Any],
    row: DefinitionRow,
    created_at: datetime,
    mark: MaterializationRow | None,
) -> FeatureViewInfo:
    source = spec.get("source")
    info = None
    if source is not None:
        if source["type"] == "file":
            location = source["path"]
        elif source["type"] == "dataset":
            project = f"{source['project']}/" if source.get("project") else ""
            location = f"{project}{source['dataset']}:{source['version']} {source['path']}"
        else:
            location = f"{_mask(source['url'])}: {source['query'][:200]}"
        info = SourceInfo(
            type=source["type"],
            location=location,
            timestamp_field=source["timestamp_field"],
            created_timestamp_column=source.get("created_timestamp_column", ""),
            timezone=source.get("timezone"),
            name=source.get("name", ""),
        )
    keys = set(spec.get("join_keys", []))
    return FeatureViewInfo(
        name=spec["name"],
        type=spec["type"],
        version=row.version,
        entities=list(spec.get("entities", [])),
        join_keys=list(spec.get("join_keys", [])),
        features=[
            FieldInfo(f["name"], f["dtype"], f.get("description", ""))
            for f in spec["schema"]
            if f["name"] not in keys
        ],
        source=info,
        sources=list(spec.get("sources", [])),
        ttl_seconds=spec.get("ttl_seconds"),
        online=bool(spec.get("online", spec["type"] == "on_demand")),
        description=spec.get("description", ""),
        tags=dict(spec.get("tags", {})),
        created_at=created_at,
        updated_at=row.created_at,
        watermark=None if mark is None else mark.watermark,
        materialized_at=None if mark is None else mark.materialized_at,
        rows_materialized=None if mark is None else mark.rows_written,
        online_store=None if mark is None else mark.store,
        source_version=None if mark is None else mark.source_version,
    )
