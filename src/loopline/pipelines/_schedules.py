"""Schedules: published templates launched on a cron expression, by the server's scheduler.

A schedule stores its next firing time. A scheduler *claims* a due firing with one conditional
UPDATE (``... WHERE id = ? AND next_fire_at = <what it read>``) that also moves
``next_fire_at`` on, and records the firing under a primary key (schedule, due time): of two
schedulers on one database, exactly one wins the row and launches the run.

Catching up: after downtime a schedule fires once, for the most recent time it was due, and
records how many firings it folded into that one (``missed``); then it goes on from the next
time after now. Pausing clears the next firing; resuming sets it from now (no catch-up).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update

from loopline.db import Database, new_id, utcnow
from loopline.errors import InvalidInput, NotFound
from loopline.pipelines._tables import FiringRow, NotificationRow, ScheduleRow
from loopline.pipelines._types import (
    FiringRecord,
    InvalidParameter,
    Notify,
    PipelineRunRecord,
    ScheduleRecord,
)
from loopline.projects import ProjectService, _cron
from loopline.projects._ticker import Ticker

if TYPE_CHECKING:
    from loopline.config import Settings
    from loopline.pipelines._service import PipelineService

__all__ = [
    "check_cron",
    "check_timezone",
    "next_firings",
    "ScheduleService",
    "Scheduler",
    "SCHEDULE_TAG",
    "TICK_SECONDS",
    "MAX_MISSED_COUNTED",
    "schedule",
]

log = logging.getLogger("loopline.pipelines")

SCHEDULE_TAG = "loopline.schedule"
TICK_SECONDS = 20.0
"""How often the server's scheduler looks for due schedules (cron's resolution is a minute)."""
MAX_MISSED_COUNTED = _cron.MAX_MISSED_COUNTED


def check_cron(expression: str) -> str:
    """``expression`` if it is a five-field cron expression (``"30 2 * * 1-5"``) or an alias
    (``@hourly``, ``@daily``, ``@weekly``, ``@monthly``, ``@yearly``).

    Raises:
        InvalidParameter: it is not (``details["field"] == "cron"``); servers answer 422.
    """
    try:
        return _cron.check_cron(expression)
    except InvalidInput as exc:
        raise InvalidParameter(exc.message, details=exc.details) from None


def check_timezone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``"Europe/Paris"``, ``"UTC"``).

    Raises:
        InvalidParameter: no such time zone (``details["field"] == "timezone"``), with a
            suggestion.
    """
    try:
        return _cron.check_timezone(name)
    except InvalidInput as exc:
        raise InvalidParameter(exc.message, details=exc.details) from None


def next_firings(cron: str, timezone: str, after: datetime, count: int = 1) -> list[datetime]:
    """The ``count`` firing times of ``cron`` read in ``timezone`` strictly after ``after``,
    as aware UTC datetimes (see :func:`loopline.projects._cron.next_firings`).

    Example:
        >>> next_firings("0 3 * * *", "Europe/Paris", datetime(2026, 1, 1, tzinfo=UTC), 2)
        [datetime(2026, 1, 1, 2, 0, tzinfo=UTC), datetime(2026, 1, 2, 2, 0, tzinfo=UTC)]
    """
    check_cron(cron)
    check_timezone(timezone)
    return _cron.next_firings(cron, timezone, after, count)


# The cron helpers live in projects/_cron.py (shared with monitors and automation).
_latest_due = _cron.latest_due
_count_between = _cron.count_between


@dataclass(frozen=True, slots=True)
class _Claim:
    schedule: ScheduleRecord
    fire_at: datetime
    missed: int


class ScheduleService:
    """Schedules and their firings; owned by :class:`~loopline.pipelines.PipelineService`
    (``service.schedules``).

    Example:
        >>> svc.create("demo", "digits-training", "0 3 * * *", timezone="Europe/Paris").next_fire_at
        datetime.datetime(2026, 11, 26, 2, 0, tzinfo=datetime.timezone.utc)
    """

    def __init__(self, db: Database, projects: ProjectService, pipelines: PipelineService) -> None:
        self._db = db
        self._projects = projects
        self._pipelines = pipelines

    def create(
        self,
        project: str,
        template: str,
        cron: str,
        *,
        params: Mapping[str, Any] | None = None,
        version: int | str = "latest",
        timezone: str = "UTC",
        enabled: bool = True,
        notify: list[Notify] | tuple[Notify, ...] = (),
        created_by: str = "",
        now: datetime | None = None,
    ) -> ScheduleRecord:
        """Schedule template ``template`` (it must be published): its parameters are checked
        against the template version's schema now, and again at each firing."""
        from loopline.pipelines._dag import DAG
        from loopline.pipelines._notify import check_notify

        cron = check_cron(cron)
        check_timezone(timezone)
        version_text = _version_text(version)
        found = self._pipelines.get_template(project, template, version_text)
        DAG.from_spec(found.dag).bind(dict(params or {}))  # InvalidParameter naming the field
        specs = [check_notify(s) for s in notify]
        try:
            params_text = json.dumps(dict(params or {}), sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise InvalidParameter(
                f"params: schedule parameters are JSON data ({exc}).", details={"field": "params"}
            ) from exc
        project_row = self._projects.get(project)
        first = next_firings(cron, timezone, now or utcnow())[0] if enabled else None
        with self._db.transaction() as session:
            row = ScheduleRow(
                id=new_id(),
                project_id=project_row.id,
                template=template,
                version=version_text,
                cron=cron,
                timezone=timezone,
                params=params_text,
                enabled=bool(enabled),
                next_fire_at=first,
                created_by=created_by,
            )
            session.add(row)
            session.flush()
            session.add_all(
                NotificationRow(
                    project_id=project_row.id,
                    schedule_id=row.id,
                    notifier=s.notifier,
                    config=json.dumps(s.config, sort_keys=True),
                    events=json.dumps(list(s.on)),
                )
                for s in specs
            )
            schedule_id = row.id
        return self.get(schedule_id)

    def get(self, schedule_id: str) -> ScheduleRecord:
        with self._db.session() as session:
            return self._record(session, self._row(session, schedule_id))

    def of_project(self, project: str, template: str | None = None) -> list[ScheduleRecord]:
        """Schedules of ``project`` (of one template), by template then creation."""
        project_row = self._projects.get(project)
        query = select(ScheduleRow).where(ScheduleRow.project_id == project_row.id)
        if template is not None:
            query = query.where(ScheduleRow.template == template)
        with self._db.session() as session:
            rows = session.scalars(query.order_by(ScheduleRow.template, ScheduleRow.created_at))
            return [self._record(session, r) for r in rows]

    def set_enabled(
        self, schedule_id: str, enabled: bool, *, now: datetime | None = None
    ) -> ScheduleRecord:
        """Pause (no next firing) or resume (next firing after now: paused time is not made
        up for) a schedule. Doing it twice is harmless."""
        with self._db.transaction() as session:
            row = self._row(session, schedule_id)
            if row.enabled != enabled:
                row.enabled = enabled
                row.next_fire_at = (
                    next_firings(row.cron, row.timezone, now or utcnow())[0] if enabled else None
                )
        return self.get(schedule_id)

    def delete(self, schedule_id: str) -> None:
        """Delete a schedule, its firing records and its notifications (runs stay)."""
        with self._db.transaction() as session:
            self._row(session, schedule_id)
            session.execute(delete(FiringRow).where(FiringRow.schedule_id == schedule_id))
            session.execute(
                delete(NotificationRow).where(NotificationRow.schedule_id == schedule_id)
            )
            session.execute(delete(ScheduleRow).where(ScheduleRow.id == schedule_id))

    def firings(self, schedule_id: str, limit: int = 50) -> list[FiringRecord]:
        """The schedule's firings, newest first."""
        with self._db.session() as session:
            self._row(session, schedule_id)
            rows = session.scalars(
                select(FiringRow)
                .where(FiringRow.schedule_id == schedule_id)
                .order_by(FiringRow.fire_at.desc())
                .limit(max(1, min(limit, 10_000)))
            ).all()
            return [_firing(r) for r in rows]

    # -- what schedulers call -------------------------------------------------------------------

    def due(self, now: datetime) -> list[tuple[str, datetime]]:
        """(id, next firing) of the enabled schedules due at ``now``."""
        with self._db.session() as session:
            rows = session.execute(
                select(ScheduleRow.id, ScheduleRow.next_fire_at)
                .where(ScheduleRow.enabled.is_(True), ScheduleRow.next_fire_at <= now)
                .order_by(ScheduleRow.next_fire_at)
            ).all()
        return [(r[0], r[1]) for r in rows if r[1] is not None]

    def claim(self, schedule_id: str, expected: datetime, now: datetime) -> _Claim | None:
        """Take the firing due at ``expected`` (as read by :meth:`due`) for this scheduler, or
        ``None`` when another scheduler took it (or the schedule changed) first."""
        with self._db.session() as session:
            row = session.get(ScheduleRow, schedule_id)
            if row is None:
                return None
            cron, timezone = row.cron, row.timezone
        fire_at = max(expected, _latest_due(cron, timezone, now))
        missed = _count_between(cron, timezone, expected, fire_at) + (fire_at != expected)
        following = next_firings(cron, timezone, now)[0]
        with self._db.transaction() as session:
            # The claim: whoever moves next_fire_at on from what both read wins; the firing's
            # primary key is a second guard should two ever compute the same move.
            moved = session.execute(
                update(ScheduleRow)
                .where(
                    ScheduleRow.id == schedule_id,
                    ScheduleRow.enabled.is_(True),
                    ScheduleRow.next_fire_at == expected,
                )
                .values(next_fire_at=following, last_fire_at=fire_at)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                return None
            session.add(
                FiringRow(schedule_id=schedule_id, fire_at=fire_at, fired_at=now, missed=missed)
            )
        return _Claim(self.get(schedule_id), fire_at, missed)

    def record(
        self, schedule_id: str, fire_at: datetime, run_id: str | None, error: str | None
    ) -> FiringRecord:
        with self._db.transaction() as session:
            row = session.get(FiringRow, (schedule_id, fire_at))
            if row is None:
                raise NotFound(f"Schedule {schedule_id} has no firing at {fire_at.isoformat()}.")
            row.run_id = run_id
            row.error = error
            session.flush()
            return _firing(row)

    # -- rows and records -----------------------------------------------------------------------

    def _row(self, session: Any, schedule_id: str) -> ScheduleRow:
        row = session.get(ScheduleRow, str(schedule_id)) if isinstance(schedule_id, str) else None
        if row is None:
            raise NotFound(
                f"Schedule {schedule_id!r} not found; `loopline pipelines schedule list` shows "
                "the schedules of a project."
            )
        return row  # type: ignore[no-any-return]

    def _record(self, session: Any, row: ScheduleRow) -> ScheduleRecord:
        notes = session.scalars(
            select(NotificationRow)
            .where(NotificationRow.schedule_id == row.id)
            .order_by(NotificationRow.id)
        ).all()
        return ScheduleRecord(
            id=row.id,
            project=self._projects.get_by_id(row.project_id).name,
            template=row.template,
            cron=row.cron,
            timezone=row.timezone,
            params=json.loads(row.params),
            version=row.version,
            enabled=row.enabled,
            next_fire_at=row.next_fire_at,
            last_fire_at=row.last_fire_at,
            created_at=row.created_at,
            created_by=row.created_by,
            notify=tuple(
                Notify(n.notifier, json.loads(n.config), tuple(json.loads(n.events))) for n in notes
            ),
        )


def _version_text(version: int | str) -> str:
    text = str(version).strip()
    if text != "latest" and not (text.isdigit() and int(text) > 0):
        raise InvalidParameter(
            f"version: a template version is a number or 'latest', not {version!r}.",
            details={"field": "version"},
        )
    return text


def _firing(row: FiringRow) -> FiringRecord:
    return FiringRecord(
        schedule=row.schedule_id,
        fire_at=row.fire_at,
        fired_at=row.fired_at,
        run_id=row.run_id,
        error=row.error,
        missed=row.missed,
    )


Launcher = Callable[[ScheduleRecord], PipelineRunRecord]


class Scheduler(Ticker):
    """Launches due schedules: ``tick()`` once (tests drive it with their own ``now``), or
    ``start()`` a thread that ticks every ``interval`` seconds until ``stop()``.

    Any number of schedulers may run over one database (several server processes): each due
    firing is claimed by exactly one of them.

    Example:
        >>> scheduler = Scheduler(backend.pipelines, backend.settings)
        >>> [f.run_id for f in scheduler.tick()]
        ['4f0c...']
    """

    def __init__(
        self,
        pipelines: PipelineService,
        settings: Settings,
        *,
        interval: float = TICK_SECONDS,
        launch: Launcher | None = None,
    ) -> None:
        super().__init__(interval, thread_name="loopline-scheduler", what="pipeline scheduler")
        self._pipelines = pipelines
        self._settings = settings
        self._launch = launch or self._launch_template

    def _launch_template(self, schedule: ScheduleRecord) -> PipelineRunRecord:
        from loopline.pipelines._templates import launch_here

        return launch_here(
            self._pipelines,
            self._settings,
            schedule.project,
            schedule.template,
            schedule.params,
            schedule.version,
            tags={SCHEDULE_TAG: schedule.id},
        )

    def tick(self, now: datetime | None = None) -> list[FiringRecord]:
        """Launch what is due at ``now`` (default: now) and this scheduler claims; answer the
        firings it made. A launch that fails (the template is gone, its schema changed) is
        recorded on the firing, and the schedule goes on."""
        now = now or utcnow()
        schedules = self._pipelines.schedules
        made: list[FiringRecord] = []
        for schedule_id, expected in schedules.due(now):
            # One bad schedule (deleted under us, its template gone, a race on its firing)
            # must not keep the others from firing this tick.
            try:
                firing = self._fire(schedule_id, expected, now)
            except Exception:
                log.warning("Schedule %s could not fire.", schedule_id, exc_info=True)
                continue
            if firing is not None:
                made.append(firing)
        return made

    def _fire(self, schedule_id: str, expected: datetime, now: datetime) -> FiringRecord | None:
        schedules = self._pipelines.schedules
        claim = schedules.claim(schedule_id, expected, now)
        if claim is None:
            return None  # another scheduler fired it
        run_id: str | None = None
        error: str | None = None
        try:
            run_id = self._launch(claim.schedule).id
        except Exception as exc:  # noqa: BLE001 - recorded on the firing; the schedule goes on
            error = f"{type(exc).__name__}: {exc}"
            log.warning(
                "Schedule %s could not launch %s: %s", schedule_id, claim.schedule.template, error
            )
        return schedules.record(schedule_id, claim.fire_at, run_id, error)


def schedule(
    template: str,
    cron: str,
    *,
    params: Mapping[str, Any] | None = None,
    version: int | str = "latest",
    timezone: str = "UTC",
    enabled: bool = True,
    notify: list[Notify] | tuple[Notify, ...] = (),
    project: str | None = None,
    client: Any = None,
) -> ScheduleRecord:
    """Launch published template ``template`` on ``cron`` (five fields, read in ``timezone``)
    with ``params``; the server's scheduler does the launching.

    Raises:
        InvalidInput: a bad cron expression, time zone, version or parameter
            (``details["field"]`` names it; servers answer 422).

    Example:
        >>> ll.pipelines.schedule("digits-training", "0 3 * * 1-5", params={"lr": 0.1},
        ...                       timezone="Europe/Paris", notify=[ll.pipelines.webhook(url)])
    """
    from loopline.pipelines._context import default_client

    client = client if client is not None else default_client()
    record: ScheduleRecord = client._backend.create_pipeline_schedule(
        project or client.settings.project,
        template,
        cron,
        params=dict(params or {}),
        version=version,
        timezone=timezone,
        enabled=enabled,
        notify=list(notify),
    )
    return record
