"""The loop's timeline: every event and decision, with its figures, in one table and the audit log.

An event is appended once and never changed, except that a reverted decision points at the
event that reverted it. Each is also written to the accounts audit log (user ``automation``,
or whoever reverted), so the audit trail of a project shows the loop's decisions next to
people's changes.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from loopline.automation._tables import EventRow
from loopline.automation._types import EventKind, LoopEvent
from loopline.db import Database, utcnow
from loopline.errors import InvalidInput, NotFound
from loopline.projects import ProjectService

__all__ = ["Timeline", "AUTOMATION_ACTOR", "clean_figures"]

log = logging.getLogger("loopline.automation")

AUTOMATION_ACTOR = "automation"
"""Who the controller acts as, in revisions, alias events and the audit log."""

_LINKS = (
    "trigger",
    "firing_id",
    "run_id",
    "gate_id",
    "delivery_id",
    "endpoint",
    "model",
    "version",
    "revision",
    "alert_id",
)


def clean_figures(value: Any) -> Any:
    """``value`` made JSON-safe: NaN and infinities become None, numpy scalars plain numbers."""
    if isinstance(value, Mapping):
        return {str(k): clean_figures(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_figures(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy scalars
        return clean_figures(value.item())
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class Timeline:
    """Appends and reads the loop's events.

    Example:
        >>> timeline.record("demo", "promoted", "digits v4 promoted on digits-api",
        ...                 endpoint="digits-api", model="digits", version=4)
    """

    def __init__(self, db: Database, projects: ProjectService) -> None:
        self._db = db
        self._projects = projects

    def record(
        self,
        project: str,
        kind: EventKind,
        message: str,
        *,
        figures: Mapping[str, Any] | None = None,
        actor: str = AUTOMATION_ACTOR,
        at: datetime | None = None,
        **links: Any,
    ) -> LoopEvent:
        unknown = set(links) - set(_LINKS)
        if unknown:
            raise TypeError(f"unknown event links: {sorted(unknown)}")
        project_row = self._projects.get(project)
        with self._db.transaction() as session:
            row = EventRow(
                project_id=project_row.id,
                kind=kind,
                at=at or utcnow(),
                actor=actor[:200],
                message=message[:5000],
                figures=json.dumps(clean_figures(dict(figures or {})), sort_keys=True),
                **{k: v for k, v in links.items() if v is not None},
            )
            session.add(row)
            session.flush()
            event = _event(project_row.name, row)
        self._audit(event)
        return event

    def _audit(self, event: LoopEvent) -> None:
        # The audit log is the accounts domain's; a failure to write there must not undo the
        # decision that was just made (it is in the timeline already).
        try:
            from loopline.accounts import AccountService

            AccountService(self._db, self._projects).record(
                user=event.actor,
                method="AUTO",
                path=f"/automation/{event.project}/events/{event.id}",
                route=f"automation:{event.kind}",
                status=200,
                remote="",
                project=event.project,
            )
        except Exception:
            log.warning(
                "Could not write automation event %s to the audit log.", event.id, exc_info=True
            )

    def get(self, event_id: int) -> LoopEvent:
        if isinstance(event_id, bool) or not isinstance(event_id, int) or event_id < 1:
            raise InvalidInput(f"An event id is a positive whole number, not {event_id!r}.")
        with self._db.session() as session:
            row = session.get(EventRow, event_id)
            if row is None:
                raise NotFound(
                    f"No automation event {event_id}; `loopline automation timeline` lists them."
                )
            return _event(self._projects.get_by_id(row.project_id).name, row)

    def events(
        self,
        project: str,
        *,
        limit: int = 100,
        before: int | None = None,
        delivery_id: str | None = None,
        trigger: str | None = None,
        kinds: tuple[str, ...] = (),
    ) -> list[LoopEvent]:
        """Events of ``project``, newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1,000, not {limit!r}.")
        project_row = self._projects.get(project)
        query = (
            select(EventRow)
            .where(EventRow.project_id == project_row.id)
            .order_by(EventRow.id.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(EventRow.id < before)
        if delivery_id is not None:
            query = query.where(EventRow.delivery_id == delivery_id)
        if trigger is not None:
            query = query.where(EventRow.trigger == trigger)
        if kinds:
            query = query.where(EventRow.kind.in_(kinds))
        with self._db.session() as session:
            return [_event(project_row.name, r) for r in session.scalars(query)]

    def last_id(self) -> int:
        """The newest event's id (0 when there is none), across projects."""
        with self._db.session() as session:
            return int(session.scalar(select(func.max(EventRow.id))) or 0)

    def after(self, event_id: int) -> list[LoopEvent]:
        """Events newer than ``event_id``, in every project, oldest first."""
        with self._db.session() as session:
            rows = session.scalars(
                select(EventRow).where(EventRow.id > event_id).order_by(EventRow.id).limit(10_000)
            ).all()
            names: dict[str, str] = {}
            out = []
            for row in rows:
                if row.project_id not in names:
                    names[row.project_id] = self._projects.get_by_id(row.project_id).name
                out.append(_event(names[row.project_id], row))
            return out

    def mark_reverted(self, event_id: int, by: int) -> bool:
        """Point decision ``event_id`` at the event that reverted it; False if one already did."""
        with self._db.transaction() as session:
            moved = session.execute(
                update(EventRow)
                .where(EventRow.id == event_id, EventRow.reverted_by.is_(None))
                .values(reverted_by=by)
                .execution_options(synchronize_session=False)
            )
            return bool(moved.rowcount == 1)  # type: ignore[attr-defined]


def _event(project: str, row: EventRow) -> LoopEvent:
    return LoopEvent(
        id=int(row.id),
        project=project,
        kind=row.kind,  # type: ignore[arg-type]
        at=row.at,
        message=row.message,
        figures=json.loads(row.figures),
        actor=row.actor,
        trigger=row.trigger,
        firing_id=row.firing_id,
        run_id=row.run_id,
        gate_id=row.gate_id,
        delivery_id=row.delivery_id,
        endpoint=row.endpoint,
        model=row.model,
        version=row.version,
        revision=row.revision,
        alert_id=row.alert_id,
        reverted_by=None if row.reverted_by is None else int(row.reverted_by),
    )
