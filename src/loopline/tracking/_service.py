"""TrackingService: runs, params, tags, metrics and artifacts in the metadata database."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loopline.db import Database, utcnow
from loopline.errors import Conflict, InvalidInput, NotFound
from loopline.projects import ProjectService
from loopline.tracking._chunks import pack, series
from loopline.tracking._tables import (
    ArtifactRow,
    ConsoleRow,
    MetricChunkRow,
    MetricSummaryRow,
    ParamRow,
    RunRow,
    TagRow,
)
from loopline.tracking._types import (
    MAX_CONSOLE_PIECE,
    MAX_NAME,
    Artifact,
    ConsoleText,
    MetricPoint,
    MetricSeries,
    MetricSummary,
    Run,
    RunStatus,
    RunTable,
    param_text,
    tag_text,
    validate_key,
    validate_run_id,
    validate_status,
)

__all__ = ["TrackingService", "CONSOLE_ARTIFACT", "MAX_CONSOLE_BYTES"]

CONSOLE_ARTIFACT = "console.log"
"""The artifact that holds a run's whole console log once the run has ended."""
MAX_CONSOLE_BYTES = 64 * 1024 * 1024
"""The most console output kept for a running run (the SDK caps its log at 10 MB)."""


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
            if session.get(ArtifactRow, (run_id, CONSOLE_ARTIFACT)) is not None:
                # The log is whole in its artifact now; the live pieces have done their job.
                session.execute(delete(ConsoleRow).where(ConsoleRow.run_id == run_id))
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> Run:
        """A run with its params, tags and latest metrics. NotFound for an unknown id."""
        with self._db.session() as session:
            row = self._run_row(session, run_id)
            return self._table(session, [row]).runs()[0]

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
        return self.search_table(project, filter, order_by, limit, offset).runs()

    def search_table(
        self,
        project: str,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int = 1000,
        offset: int = 0,
    ) -> RunTable:
        """Like :meth:`search`, as columns (for a DataFrame or a page of the UI)."""
        from loopline.tracking._search import search_query

        project_row = self._projects.get(project)
        query = search_query(project_row.id, filter, order_by, limit=limit, offset=offset)
        with self._db.session() as session:
            # Plain columns through the connection (Core), not ORM objects through the
            # session: same SQL, a fraction of the per-row work.
            rows = session.connection().execute(query.with_only_columns(*_RUN_COLUMNS)).all()
            return self._table(session, rows, project_row.name)

    def count(self, project: str, filter: str = "") -> int:
        """How many runs of ``project`` match ``filter`` (for pages of a search)."""
        from loopline.tracking._search import count_query

        project_row = self._projects.get(project)
        query = count_query(project_row.id, filter)
        with self._db.session() as session:
            return session.execute(query).scalar_one()

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
        return self.metric_series(run_id, key).points()

    def metric_series(self, run_id: str, key: str) -> MetricSeries:
        """Every point of one metric of a run as arrays, by step then time."""
        validate_key(key, "metric")
        with self._db.session() as session:
            self._run_row(session, run_id)
            chunks = session.execute(
                select(MetricChunkRow.steps, MetricChunkRow.timestamps_ms, MetricChunkRow.values)
                .where(MetricChunkRow.run_id == run_id, MetricChunkRow.key == key)
                .order_by(MetricChunkRow.id)
            ).all()
        return series(key, [(bytes(s), bytes(t), bytes(v)) for s, t, v in chunks])

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

    def quota_usage(self, project: str) -> dict[str, int]:
        """Bytes the project's run artifacts store, each blob once (accounts' usage counter)."""
        project_id = self._projects.get(project).id
        stored = (
            select(ArtifactRow.digest, ArtifactRow.size)
            .join(RunRow, RunRow.id == ArtifactRow.run_id)
            .where(RunRow.project_id == project_id)
            .distinct()
            .subquery()
        )
        with self._db.session() as session:
            total = session.scalar(select(func.coalesce(func.sum(stored.c.size), 0)))
        return {"storage_bytes": int(total or 0)}

    def list_artifacts(self, run_id: str) -> list[Artifact]:
        with self._db.session() as session:
            self._run_row(session, run_id)
            rows = session.scalars(
                select(ArtifactRow).where(ArtifactRow.run_id == run_id).order_by(ArtifactRow.path)
            ).all()
            return [Artifact(r.path, r.digest, r.size) for r in rows]

    # -- console -------------------------------------------------------------------------------

    def append_console(self, run_id: str, offset: int, data: bytes) -> None:
        """Add a running run's console output that starts at byte ``offset`` of its log.

        Pieces must follow one another. Sending a piece again (a retry) is fine and changes
        nothing; a gap or an overlap that is not a retry is a Conflict naming the offset
        expected.
        """
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidInput(f"A console offset is a byte count, 0 or more, not {offset!r}.")
        if not isinstance(data, bytes):
            raise InvalidInput(f"Console output is bytes, not {type(data).__name__}.")
        if len(data) > MAX_CONSOLE_PIECE:
            raise InvalidInput(
                f"A console piece of {len(data):,} bytes is over the {MAX_CONSOLE_PIECE:,} limit: "
                f"send it in smaller pieces."
            )
        if not data:
            return
        try:
            self._append_console(run_id, offset, data)
        except IntegrityError:
            # The same piece arrived twice at once (a client retry racing the first try): the
            # other one stored it; looking again finds it and accepts this one as a retry.
            self._append_console(run_id, offset, data)

    def _append_console(self, run_id: str, offset: int, data: bytes) -> None:
        with self._db.transaction() as session:
            self._active_row(session, run_id, "add console output", for_update=True)
            last = session.execute(
                select(ConsoleRow.offset, func.length(ConsoleRow.data))
                .where(ConsoleRow.run_id == run_id)
                .order_by(ConsoleRow.offset.desc())
                .limit(1)
            ).one_or_none()
            end = 0 if last is None else int(last[0]) + int(last[1])
            if offset < end:
                # A retry: of this very piece, or of a piece that has grown since the try
                # whose answer was lost. What is stored must match; the rest is new.
                stored = b"".join(
                    bytes(piece)
                    for (piece,) in session.execute(
                        select(ConsoleRow.data)
                        .where(
                            ConsoleRow.run_id == run_id,
                            ConsoleRow.offset + func.length(ConsoleRow.data) > offset,
                        )
                        .order_by(ConsoleRow.offset)
                    )
                )
                first = end - len(stored)
                overlap = stored[offset - first :] if first <= offset else b""
                if first > offset or not data.startswith(overlap[: len(data)]):
                    raise Conflict(
                        f"Console output of run {run_id} continues at byte {end:,}, and the "
                        f"bytes sent from {offset:,} differ from those stored: send the pieces "
                        f"in order."
                    )
                data, offset = data[len(overlap) :], end
                if not data:
                    return
            if offset != end:
                raise Conflict(
                    f"Console output of run {run_id} continues at byte {end:,}, not {offset:,}: "
                    f"send the pieces in order."
                )
            if end + len(data) > MAX_CONSOLE_BYTES:
                raise InvalidInput(
                    f"Run {run_id} has {end:,} bytes of console output; the limit for a running "
                    f"run is {MAX_CONSOLE_BYTES:,}."
                )
            session.add(ConsoleRow(run_id=run_id, offset=offset, data=data))

    def read_console(
        self,
        run_id: str,
        offset: int = 0,
        limit: int = 1_000_000,
        *,
        read_blob: Callable[[str], bytes],
    ) -> ConsoleText:
        """Up to ``limit`` bytes of a run's console log from byte ``offset``, as text.

        While the run is going, from the pieces shipped so far; once it has ended, from its
        ``console.log`` artifact (read with ``read_blob``, which takes a digest).
        """
        for name, number, least in (("offset", offset, 0), ("limit", limit, 4)):
            if isinstance(number, bool) or not isinstance(number, int) or number < least:
                raise InvalidInput(f"The console {name} must be a whole number from {least}.")
        with self._db.session() as session:
            row = self._run_row(session, run_id)
            running = row.status == "running"
            artifact = None if running else session.get(ArtifactRow, (run_id, CONSOLE_ARTIFACT))
            digest = None if artifact is None else artifact.digest
            if digest is None:
                total = int(
                    session.scalar(
                        select(func.coalesce(func.sum(func.length(ConsoleRow.data)), 0)).where(
                            ConsoleRow.run_id == run_id
                        )
                    )
                    or 0
                )
                # While the run goes on, never answer an offset before the one asked for: its
                # pieces may have just been replaced by the artifact (end_run, committed
                # between these reads), and a view going back to 0 would show the log twice.
                start = offset if running else min(offset, total)
                pieces = session.execute(
                    select(ConsoleRow.offset, ConsoleRow.data)
                    .where(
                        ConsoleRow.run_id == run_id,
                        ConsoleRow.offset + func.length(ConsoleRow.data) > start,
                        ConsoleRow.offset < start + limit,
                    )
                    .order_by(ConsoleRow.offset)
                ).all()
                first = int(pieces[0][0]) if pieces else start
                joined = b"".join(bytes(data) for _, data in pieces)
                window = joined[start - first : start - first + limit]
        if digest is not None:
            log = read_blob(digest)
            total = len(log)
            start = min(offset, total)
            window = log[start : start + limit]
        at_end = start + len(window) >= total
        # A character cut by the window's end waits for the next read, unless nothing follows.
        cut = len(window) if at_end and not running else _whole_characters(window)
        text = window[:cut].decode("utf-8", "replace")
        next_offset = start + cut
        return ConsoleText(text, next_offset, not running and next_offset >= total)

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

    def _active_row(
        self, session: Session, run_id: str, action: str, *, for_update: bool = False
    ) -> RunRow:
        row = self._run_row(session, run_id, for_update=for_update)
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

    def _table(self, session: Session, rows: Sequence[Any], project: str | None = None) -> RunTable:
        """The runs of ``rows`` (RunRow objects, or rows of :data:`_RUN_COLUMNS`) as columns,
        with their params, tags and latest metrics."""
        if project is None:
            owners = {r.project_id for r in rows}
            if len(owners) > 1:  # pragma: no cover - callers read one project at a time
                raise InvalidInput("A run table holds one project's runs.")
            project = self._projects.get_by_id(owners.pop()).name if owners else ""
        count = len(rows)
        ids = [r.id for r in rows]
        position = {run_id: i for i, run_id in enumerate(ids)}
        params: dict[str, list[str | None]] = {}
        tags: dict[str, list[str | None]] = {}
        metrics: dict[str, list[float | None]] = {}
        # Bulk reads of thousands of small rows: on the driver's own cursor, as plain tuples.
        # SQLAlchemy's Row objects cost most of a search's time here. The SQL text is fixed
        # (only placeholders are formatted in) and every value is a bound parameter.
        cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
        mark = "?" if self._db.is_sqlite else "%s"
        try:
            for chunk in _batches(ids, 500):
                marks = ", ".join([mark] * len(chunk))
                for table, texts in (("run_params", params), ("run_tags", tags)):
                    cursor.execute(
                        f"SELECT run_id, key, value FROM {table} WHERE run_id IN ({marks})",  # noqa: S608
                        list(chunk),
                    )
                    for run_id, key, value in cursor.fetchall():
                        column = texts.get(key)
                        if column is None:
                            column = texts[key] = [None] * count
                        column[position[run_id]] = value
                cursor.execute(
                    "SELECT run_id, key, latest, latest_is_nan FROM metric_summaries "  # noqa: S608
                    f"WHERE run_id IN ({marks})",
                    list(chunk),
                )
                for run_id, key, latest, is_nan in cursor.fetchall():
                    numbers = metrics.get(key)
                    if numbers is None:
                        numbers = metrics[key] = [None] * count
                    numbers[position[run_id]] = math.nan if is_nan or latest is None else latest
        finally:
            cursor.close()
        return RunTable(
            project=project,
            ids=ids,
            names=[r.name for r in rows],
            statuses=[validate_status(r.status) for r in rows],
            start_times=[r.start_time for r in rows],
            end_times=[r.end_time for r in rows],
            parent_ids=[r.parent_id for r in rows],
            environment_digests=[r.environment_digest for r in rows],
            cloned_from=[r.cloned_from for r in rows],
            params=params,
            metrics=metrics,
            tags=tags,
        )


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


def _whole_characters(window: bytes) -> int:
    """The length of ``window`` without a UTF-8 character that its end splits."""
    if not window:
        return 0
    # Walk back over up to three continuation bytes to the character's first byte.
    lead = len(window) - 1
    while lead > 0 and window[lead] & 0xC0 == 0x80 and len(window) - lead < 4:
        lead -= 1
    first = window[lead]
    if first < 0x80 or first & 0xC0 == 0x80 or first >= 0xF8:
        return len(window)  # ASCII, or not UTF-8 here: nothing to wait for
    need = 2 if first < 0xE0 else 3 if first < 0xF0 else 4
    return len(window) if len(window) - lead >= need else lead


def _batches(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
