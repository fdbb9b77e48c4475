"""TrackingService: runs, params, tags, metrics and artifacts in the metadata database."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loopline.db import Database, utcnow
from loopline.errors import Conflict, InvalidInput, NotFound
from loopline.projects import ProjectService
from loopline.tracking._chunks import pack, unpack
from loopline.tracking._tables import (
    ArtifactRow,
    MetricChunkRow,
    MetricSummaryRow,
    ParamRow,
    RunRow,
    TagRow,
)
from loopline.tracking._types import (
    MAX_NAME,
    Artifact,
    MetricPoint,
    MetricSummary,
    Run,
    RunStatus,
    param_text,
    tag_text,
    validate_key,
    validate_run_id,
    validate_status,
)

__all__ = ["TrackingService"]


class TrackingService:
    """Everything tracking stores, behind one service that both backends call.

    Example:
        >>> svc = TrackingService(db, ProjectService(db))
        >>> run = svc.create_run("demo", params={"lr": 0.1})
        >>> svc.log_metrics(run.id, [MetricPoint("loss", 0.5, 0, 1_700_000_000_000)])
        >>> svc.end_run(run.id, "finished").status
        'finished'
    """

    def __init__(self, db: Database, projects: ProjectService) -> None:
        self._db = db
        self._projects = projects

    # -- runs ----------------------------------------------------------------------------------

    def create_run(
        self,
        project: str,
        *,
        name: str | None = None,
        params: Mapping[str, object] | None = None,
        tags: Mapping[str, object] | None = None,
        parent_id: str | None = None,
        environment_digest: str | None = None,
        cloned_from: str | None = None,
    ) -> Run:
        """Start a run in ``project`` (created if it does not exist yet)."""
        project_row = self._projects.ensure(project)
        clean_params = _text_map(params, "param")
        clean_tags = _text_map(tags, "tag")
        if name is not None and (not isinstance(name, str) or not 0 < len(name) <= MAX_NAME):
            raise InvalidInput(f"A run name must be 1 to {MAX_NAME} characters, not {name!r}.")
        with self._db.transaction() as session:
            if parent_id is not None:
                parent = self._run_row(session, parent_id)
                if parent.project_id != project_row.id:
                    raise InvalidInput(
                        f"Parent run {parent_id} is in another project; a child run must be in "
                        f"its parent's project ({project!r} was asked for)."
                    )
            row = RunRow(
                project_id=project_row.id,
                name="",
                status="running",
                parent_id=parent_id,
                environment_digest=environment_digest,
                cloned_from=cloned_from,
                deleted=False,
            )
            session.add(row)
            session.flush()
            row.name = name or f"run-{row.id[:8]}"
            _insert_map(session, ParamRow, row.id, clean_params)
            _insert_map(session, TagRow, row.id, clean_tags)
        return Run(
            id=row.id,
            project=project_row.name,
            name=row.name,
            status="running",
            start_time=row.start_time,
            parent_id=parent_id,
            params=clean_params,
            tags=clean_tags,
            environment_digest=environment_digest,
            cloned_from=cloned_from,
        )

    def end_run(self, run_id: str, status: RunStatus = "finished") -> Run:
        """Mark a running run finished, failed or killed. Ending it twice is a Conflict."""
        status = validate_status(status)
        if status == "running":
            raise InvalidInput("A run is ended as finished, failed or killed, not running.")
        with self._db.transaction() as session:
            row = self._run_row(session, run_id, for_update=True)
            if row.status != "running":
                raise Conflict(
                    f"Run {run_id} is already {row.status} (ended {row.end_time:%Y-%m-%d %H:%M:%S}"
                    f" UTC); a run ends once."
                )
            row.status = status
            row.end_time = utcnow()
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> Run:
        """A run with its params, tags and latest metrics. NotFound for an unknown id."""
        with self._db.session() as session:
            row = self._run_row(session, run_id)
            return self._runs_from_rows(session, [row])[0]

    def delete_run(self, run_id: str) -> None:
        """Hide a run from searches (its data stays until garbage collection)."""
        with self._db.transaction() as session:
            row = self._run_row(session, run_id)
            row.deleted = True

    def search(
        self,
        project: str,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int = 1000,
        offset: int = 0,
    ) -> list[Run]:
        """Runs of ``project`` matching ``filter`` (the search grammar), in ``order_by`` order."""
        from loopline.tracking._search import search_query

        project_row = self._projects.get(project)
        query = search_query(project_row.id, filter, order_by, limit=limit, offset=offset)
        with self._db.session() as session:
            # Plain columns, not ORM objects: a search can answer thousands of runs, and
            # building an instance per row was most of its time.
            # Through the connection (Core), not the ORM session: same SQL, less per-row work.
            rows = session.connection().execute(query.with_only_columns(*_RUN_COLUMNS)).all()
            return self._runs_from_rows(session, rows, project_name=project_row.name)

    # -- params and tags -----------------------------------------------------------------------

    def log_params(self, run_id: str, params: Mapping[str, object]) -> None:
        """Record params. A param is set once: the same value again is fine, another is a
        Conflict (a run that changed its params half-way would not be reproducible)."""
        clean = _text_map(params, "param")
        if not clean:
            return
        try:
            self._log_params(run_id, clean)
        except IntegrityError:
            # Another writer inserted one of these keys between our read and our insert
            # (PostgreSQL; SQLite writers are serialised): look again, once.
            self._log_params(run_id, clean)

    def _log_params(self, run_id: str, clean: dict[str, str]) -> None:
        with self._db.transaction() as session:
            self._active_row(session, run_id, "log params")
            rows = session.execute(
                select(ParamRow.key, ParamRow.value).where(
                    ParamRow.run_id == run_id, ParamRow.key.in_(clean)
                )
            )
            existing: dict[str, str] = dict(rows.all())
            changed = {
                k: (existing[k], v) for k, v in clean.items() if k in existing and existing[k] != v
            }
            if changed:
                key, (old, new) = next(iter(changed.items()))
                raise Conflict(
                    f"Param {key!r} of run {run_id} is already {old!r}; it cannot become {new!r}. "
                    f"Params are fixed for a run: start a new run, or log it as a tag or metric."
                )
            _insert_map(
                session, ParamRow, run_id, {k: v for k, v in clean.items() if k not in existing}
            )

    def set_tags(self, run_id: str, tags: Mapping[str, object]) -> None:
        """Set tags (new keys are added, existing ones overwritten), on running or ended runs."""
        clean = _text_map(tags, "tag")
        if not clean:
            return
        with self._db.transaction() as session:
            self._run_row(session, run_id)
            session.execute(delete(TagRow).where(TagRow.run_id == run_id, TagRow.key.in_(clean)))
            _insert_map(session, TagRow, run_id, clean)

    # -- metrics -------------------------------------------------------------------------------

    def log_metrics(self, run_id: str, points: Sequence[MetricPoint]) -> None:
        """Append metric points (one bulk insert) and bring the per-key summaries up to date.

        This is the storage behind every ``log_metric``: a batch becomes one packed row per
        key (see :class:`MetricChunkRow`), a fraction of the cost of a row per point.
        """
        if not points:
            return
        keys = {p.key for p in points}
        for key in keys:
            validate_key(key, "metric")
        by_key: dict[str, list[MetricPoint]] = {k: [] for k in keys}
        for p in points:
            by_key[p.key].append(p)
        chunks = []
        for key, group in by_key.items():
            steps, stamps, values = pack(group)
            chunks.append(
                {
                    "run_id": run_id,
                    "key": key,
                    "count": len(group),
                    "first_step": min(p.step for p in group),
                    "last_step": max(p.step for p in group),
                    "steps": steps,
                    "timestamps_ms": stamps,
                    "values": values,
                }
            )
        with self._db.transaction() as session:
            self._active_row(session, run_id, "log metrics")
            session.execute(insert(MetricChunkRow), chunks)
            self._update_summaries(session, run_id, by_key)

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every point of one metric of a run, by step then time."""
        validate_key(key, "metric")
        with self._db.session() as session:
            self._run_row(session, run_id)
            chunks = session.execute(
                select(MetricChunkRow.steps, MetricChunkRow.timestamps_ms, MetricChunkRow.values)
                .where(MetricChunkRow.run_id == run_id, MetricChunkRow.key == key)
                .order_by(MetricChunkRow.id)
            )
            points = [p for chunk in chunks for p in unpack(key, *chunk)]
        # By step, then time; points logged at the same step and time keep their order.
        points.sort(key=_step_then_time)
        return points

    def metric_summaries(self, run_id: str) -> list[MetricSummary]:
        with self._db.session() as session:
            self._run_row(session, run_id)
            rows = session.scalars(
                select(MetricSummaryRow)
                .where(MetricSummaryRow.run_id == run_id)
                .order_by(MetricSummaryRow.key)
            ).all()
            return [
                MetricSummary(
                    key=r.key,
                    latest=_latest(r),
                    latest_step=r.latest_step,
                    min=r.min,
                    max=r.max,
                    count=r.count,
                )
                for r in rows
            ]

    # -- artifacts -----------------------------------------------------------------------------

    def add_artifact(self, run_id: str, path: str, digest: str, size: int) -> Artifact:
        """Record that ``path`` in the run holds blob ``digest`` (replacing an earlier file)."""
        clean = normalise_artifact_path(path)
        with self._db.transaction() as session:
            self._run_row(session, run_id)
            session.execute(
                delete(ArtifactRow).where(ArtifactRow.run_id == run_id, ArtifactRow.path == clean)
            )
            session.add(ArtifactRow(run_id=run_id, path=clean, digest=digest, size=size))
        return Artifact(clean, digest, size)

    def list_artifacts(self, run_id: str) -> list[Artifact]:
        with self._db.session() as session:
            self._run_row(session, run_id)
            rows = session.scalars(
                select(ArtifactRow).where(ArtifactRow.run_id == run_id).order_by(ArtifactRow.path)
            ).all()
            return [Artifact(r.path, r.digest, r.size) for r in rows]

    # -- internals -----------------------------------------------------------------------------

    def _run_row(self, session: Session, run_id: str, *, for_update: bool = False) -> RunRow:
        validate_run_id(run_id)
        query = select(RunRow).where(RunRow.id == run_id)
        if for_update and not self._db.is_sqlite:
            query = query.with_for_update()
        row = session.scalars(query).one_or_none()
        if row is None or row.deleted:
            raise NotFound(f"Run {run_id} not found. `loopline runs list` shows the runs.")
        return row

    def _active_row(self, session: Session, run_id: str, action: str) -> RunRow:
        row = self._run_row(session, run_id)
        if row.status != "running":
            raise Conflict(
                f"Cannot {action}: run {run_id} is {row.status}. Start a new run (a clone keeps "
                f"its params: `loopline runs rerun {run_id}`)."
            )
        return row

    def _update_summaries(
        self, session: Session, run_id: str, by_key: dict[str, list[MetricPoint]]
    ) -> None:
        query = select(MetricSummaryRow).where(
            MetricSummaryRow.run_id == run_id, MetricSummaryRow.key.in_(by_key)
        )
        if not self._db.is_sqlite:
            query = query.with_for_update()
        existing = {row.key: row for row in session.scalars(query)}
        new_rows = []
        for key, group in by_key.items():
            # Latest = highest step, then latest time, then the last one logged.
            latest = max(reversed(group), key=_step_then_time)
            finite = [p.value for p in group if p.value == p.value]
            lo, hi = (min(finite), max(finite)) if finite else (None, None)
            row = existing.get(key)
            if row is None:
                new_rows.append(
                    {
                        "run_id": run_id,
                        "key": key,
                        "latest": _stored(latest.value),
                        "latest_is_nan": math.isnan(latest.value),
                        "latest_step": latest.step,
                        "latest_timestamp_ms": latest.timestamp_ms,
                        "min": lo,
                        "max": hi,
                        "count": len(group),
                    }
                )
                continue
            if (latest.step, latest.timestamp_ms) >= (row.latest_step, row.latest_timestamp_ms):
                row.latest = _stored(latest.value)
                row.latest_is_nan = math.isnan(latest.value)
                row.latest_step, row.latest_timestamp_ms = latest.step, latest.timestamp_ms
            row.min = _least(row.min, lo)
            row.max = _greatest(row.max, hi)
            row.count += len(group)
        if new_rows:
            session.execute(insert(MetricSummaryRow), new_rows)

    def _runs_from_rows(
        self, session: Session, rows: Sequence[Any], project_name: str | None = None
    ) -> list[Run]:
        """Runs from ``rows``: RunRow objects, or rows of :data:`_RUN_COLUMNS`."""
        if not rows:
            return []
        ids = [r.id for r in rows]
        params: dict[str, dict[str, str]] = {i: {} for i in ids}
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        metrics: dict[str, dict[str, float]] = {i: {} for i in ids}
        # Bulk reads of thousands of small rows: on the driver's own cursor, as plain tuples.
        # SQLAlchemy's Row objects cost most of a search's time here. The SQL text is fixed
        # (only placeholders are formatted in) and every value is a bound parameter.
        cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
        mark = "?" if self._db.is_sqlite else "%s"
        try:
            for chunk in _batches(ids, 500):
                marks = ", ".join([mark] * len(chunk))
                for table, target in (("run_params", params), ("run_tags", tags)):
                    cursor.execute(
                        f"SELECT run_id, key, value FROM {table} WHERE run_id IN ({marks})",  # noqa: S608
                        list(chunk),
                    )
                    for run_id, key, value in cursor.fetchall():
                        target[run_id][key] = value
                cursor.execute(
                    "SELECT run_id, key, latest, latest_is_nan FROM metric_summaries "  # noqa: S608
                    f"WHERE run_id IN ({marks})",
                    list(chunk),
                )
                for run_id, key, latest, is_nan in cursor.fetchall():
                    metrics[run_id][key] = math.nan if is_nan or latest is None else latest
        finally:
            cursor.close()
        if project_name is None:
            project_names = self._project_names(session, {r.project_id for r in rows})
        return [
            Run(
                id=r.id,
                project=project_name if project_name is not None else project_names[r.project_id],
                name=r.name,
                status=validate_status(r.status),
                start_time=r.start_time,
                end_time=r.end_time,
                parent_id=r.parent_id,
                params=dict(sorted(params[r.id].items())),
                tags=dict(sorted(tags[r.id].items())),
                metrics=dict(sorted(metrics[r.id].items())),
                environment_digest=r.environment_digest,
                cloned_from=r.cloned_from,
            )
            for r in rows
        ]

    def _project_names(self, session: Session, ids: set[str]) -> dict[str, str]:
        names = {p.id: p.name for p in self._projects.list()}
        missing = ids - names.keys()
        if missing:  # pragma: no cover - a foreign key makes this impossible
            raise NotFound(f"Projects {sorted(missing)} vanished while reading runs.")
        return names


_RUN_COLUMNS = (
    RunRow.id,
    RunRow.project_id,
    RunRow.name,
    RunRow.status,
    RunRow.start_time,
    RunRow.end_time,
    RunRow.parent_id,
    RunRow.environment_digest,
    RunRow.cloned_from,
)


def _step_then_time(p: MetricPoint) -> tuple[int, int]:
    return (p.step, p.timestamp_ms)


def _stored(value: float) -> float | None:
    """NaN is kept by the ``is_nan`` flag: SQLite would turn it into NULL anyway."""
    return None if value != value else value


def normalise_artifact_path(path: str) -> str:
    """A run-relative POSIX path: no leading '/', no '..', no empty or '.' parts."""
    if not isinstance(path, str) or not path.strip():
        raise InvalidInput("An artifact path must be a non-empty string, like 'plots/loss.png'.")
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts) or "\0" in path or len(path) > 1000:
        raise InvalidInput(
            f"Invalid artifact path {path!r}: use a relative path inside the run, without '..' "
            f"(for example 'model/model.pkl')."
        )
    return "/".join(parts)


def _latest(row: MetricSummaryRow) -> float:
    return math.nan if row.latest_is_nan or row.latest is None else row.latest


def _least(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _greatest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _text_map(values: Mapping[str, object] | None, kind: str) -> dict[str, str]:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise InvalidInput(
            f"{kind.capitalize()}s must be a mapping of key to value, not {type(values).__name__}."
        )
    convert = param_text if kind == "param" else tag_text
    return {validate_key(k, kind): convert(k, v) for k, v in values.items()}


def _insert_map(
    session: Session, table: type[ParamRow] | type[TagRow], run_id: str, values: Mapping[str, str]
) -> None:
    if values:
        session.execute(
            insert(table), [{"run_id": run_id, "key": k, "value": v} for k, v in values.items()]
        )


def _batches(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
