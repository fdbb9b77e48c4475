"""ServingService: endpoints, their revisions, and the statistics inference servers report.

An endpoint's every change is a new revision that pins the exact model versions it routes to
(an alias is resolved when the revision is made). Inference servers move to the newest
revision that has not failed: they load its models in the background, report it ``live`` once
it serves (the revision it replaced becomes ``superseded``) or ``failed`` with the reason when
a model will not load, and keep serving the previous one in that case. A rollback is one more
revision, a copy of an earlier one, so the record only grows.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loopline.db import Database, utcnow
from loopline.errors import Conflict, InvalidInput, NotFound, did_you_mean
from loopline.projects import Project, ProjectService, validate_actor
from loopline.projects._types import validate_text
from loopline.registry import RegistryService, parse_model_uri
from loopline.serving._tables import EndpointRevisionRow, EndpointRow, EndpointStatsRow
from loopline.serving._types import (
    LATENCY_BUCKETS_MS,
    REVISION_STATUSES,
    Endpoint,
    EndpointSpec,
    Revision,
    RevisionStatus,
    Route,
    StatsWindow,
    spec_from_dict,
    validate_endpoint_name,
)

__all__ = ["ServingService", "MAX_MESSAGE", "MAX_STATS_ROWS"]

MAX_MESSAGE = 2000
MAX_DESCRIPTION = 5000
MAX_STATS_ROWS = 1000
"""Stats rows one report may carry (a server reports every few seconds: a handful)."""
_ATTEMPTS = 8


class ServingService:
    """Endpoints and revisions, behind one service both backends (and the UI) call.

    Example:
        >>> svc = ServingService(db, projects, registry)
        >>> spec = EndpointSpec(routes=(Route("models:/digits/1"),))
        >>> svc.create("vision", "digits", spec, actor="ada").revision.number
        1
        >>> svc.update("vision", "digits", spec.with_routes([
        ...     Route("models:/digits/1", 90), Route("models:/digits/2", 10)]), actor="ada")
    """

    def __init__(self, db: Database, projects: ProjectService, registry: RegistryService) -> None:
        self._db = db
        self._projects = projects
        self._registry = registry

    # -- defining ------------------------------------------------------------------------------

    def create(
        self,
        project: str,
        name: str,
        spec: EndpointSpec,
        *,
        description: str = "",
        actor: str,
        message: str = "",
    ) -> Endpoint:
        """A new endpoint serving ``spec`` (revision 1). Conflict if the name is taken."""
        validate_endpoint_name(name)
        validate_text(description, "endpoint description", MAX_DESCRIPTION)
        actor, message = (
            validate_actor(actor),
            validate_text(message, "revision message", MAX_MESSAGE),
        )
        project_row = self._projects.ensure(project)
        pinned = self._pin(project_row.name, spec)
        try:
            with self._db.transaction() as session:
                if self._find(session, project_row.id, name) is not None:
                    raise Conflict(
                        f"Endpoint {name!r} already exists in project {project_row.name!r}. "
                        f"Change its routes with update (loopline endpoints update), or apply "
                        f"a file (loopline endpoints apply)."
                    )
                row = EndpointRow(
                    project_id=project_row.id, name=name, description=description, revision=1
                )
                session.add(row)
                session.flush()
                session.add(_revision_row(row.id, 1, pinned, actor, message or "created"))
        except IntegrityError:
            raise Conflict(
                f"Endpoint {name!r} was created in project {project_row.name!r} by someone "
                f"else at the same moment."
            ) from None
        return self.get(project_row.name, name)

    def update(
        self,
        project: str,
        name: str,
        spec: EndpointSpec,
        *,
        actor: str,
        message: str = "",
        rollback_of: int | None = None,
    ) -> Endpoint:
        """Make ``spec`` the endpoint's next revision; servers move to it with no restart."""
        actor, message = (
            validate_actor(actor),
            validate_text(message, "revision message", MAX_MESSAGE),
        )
        project_row = self._projects.get(project)
        pinned = self._pin(project_row.name, spec)
        for attempt in range(_ATTEMPTS):
            try:
                with self._db.transaction() as session:
                    row = self._row(session, project_row, name)
                    number = (
                        session.scalar(
                            select(func.max(EndpointRevisionRow.number)).where(
                                EndpointRevisionRow.endpoint_id == row.id
                            )
                        )
                        or 0
                    ) + 1
                    session.add(_revision_row(row.id, number, pinned, actor, message, rollback_of))
                    row.revision = number
                break
            except IntegrityError:
                if attempt == _ATTEMPTS - 1:
                    raise Conflict(
                        f"Could not record a revision of endpoint {name!r}: other changes kept "
                        f"getting there first. Try again."
                    ) from None
        return self.get(project_row.name, name)

    def apply(
        self,
        project: str,
        name: str,
        spec: EndpointSpec,
        *,
        description: str | None = None,
        actor: str,
        message: str = "",
    ) -> tuple[Endpoint, bool]:
        """Create the endpoint or move it to ``spec``; no new revision if nothing changed.

        Returns the endpoint and whether a revision was made (``apply`` of the same file twice
        records one revision).
        """
        try:
            current = self.get(project, name)
        except NotFound:
            made = self.create(
                project, name, spec, description=description or "", actor=actor, message=message
            )
            return made, True
        pinned = self._pin(current.project, spec)
        if description is not None and description != current.description:
            self._set_description(current, description)
        if pinned.to_dict() == current.revision.spec.to_dict():
            return self.get(project, name), False
        return self.update(project, name, spec, actor=actor, message=message), True

    def rollback(
        self, project: str, name: str, *, to: int | None = None, actor: str, message: str = ""
    ) -> Endpoint:
        """Serve an earlier revision again, as a new revision that copies it.

        Args:
            to: the revision to copy; by default the last one that served before the newest
                (the newest revision that went live and is not the current one).
        """
        endpoint = self.get(project, name)
        history = self.revisions(project, name)
        if to is None:
            current = endpoint.revision.number
            earlier = [
                r for r in history if r.number < current and r.status in ("live", "superseded")
            ]
            if not earlier:
                raise Conflict(
                    f"Endpoint {name!r} has no earlier revision that served traffic to roll back "
                    f"to (revisions: {', '.join(f'{r.number} {r.status}' for r in history)})."
                )
            target = earlier[0]
        else:
            found = [r for r in history if r.number == to]
            if not found:
                raise NotFound(
                    f"Endpoint {name!r} has no revision {to}; it has 1 to "
                    f"{endpoint.revision.number}."
                )
            target = found[0]
        note = message or f"roll back to revision {target.number}"
        return self.update(
            project, name, target.spec, actor=actor, message=note, rollback_of=target.number
        )

    def delete(self, project: str, name: str) -> None:
        """Remove the endpoint, its revisions and statistics (servers stop answering for it)."""
        project_row = self._projects.get(project)
        with self._db.transaction() as session:
            session.delete(self._row(session, project_row, name))

    # -- reading -------------------------------------------------------------------------------

    def get(self, project: str, name: str) -> Endpoint:
        """The endpoint with its newest revision and the one servers should serve."""
        project_row = self._projects.get(project)
        with self._db.session() as session:
            row = self._row(session, project_row, name)
            return self._endpoint(session, project_row.name, row)

    def list(self, project: str) -> builtins.list[Endpoint]:
        project_row = self._projects.get(project)
        with self._db.session() as session:
            rows = session.scalars(
                select(EndpointRow)
                .where(EndpointRow.project_id == project_row.id)
                .order_by(EndpointRow.name)
            ).all()
            return [self._endpoint(session, project_row.name, r) for r in rows]

    def revisions(self, project: str, name: str) -> builtins.list[Revision]:
        """Every revision of the endpoint, newest first."""
        project_row = self._projects.get(project)
        with self._db.session() as session:
            row = self._row(session, project_row, name)
            rows = session.scalars(
                select(EndpointRevisionRow)
                .where(EndpointRevisionRow.endpoint_id == row.id)
                .order_by(EndpointRevisionRow.number.desc())
            ).all()
            return [_revision(project_row.name, name, r) for r in rows]

    def revision(self, project: str, name: str, number: int) -> Revision:
        for r in self.revisions(project, name):
            if r.number == number:
                return r
        raise NotFound(f"Endpoint {name!r} has no revision {number}.")

    # -- what inference servers report ---------------------------------------------------------

    def mark(
        self, project: str, name: str, number: int, status: RevisionStatus, error: str = ""
    ) -> Revision:
        """Record that a server now serves revision ``number`` (``live``) or could not load it
        (``failed``, with ``error``). Reporting the same thing twice changes nothing."""
        if status not in ("live", "failed"):
            raise InvalidInput(
                f"A server reports a revision 'live' or 'failed', not {status!r} "
                f"(statuses: {', '.join(REVISION_STATUSES)})."
            )
        error = validate_text(error, "error", 20_000)
        project_row = self._projects.get(project)
        with self._db.transaction() as session:
            row = self._row(session, project_row, name)
            revision = session.scalars(
                select(EndpointRevisionRow)
                .where(
                    EndpointRevisionRow.endpoint_id == row.id,
                    EndpointRevisionRow.number == number,
                )
                .with_for_update()
            ).one_or_none()
            if revision is None:
                raise NotFound(f"Endpoint {name!r} has no revision {number}.")
            if status == "failed":
                if revision.status != "live":  # one server's success is not undone by another
                    revision.status, revision.error = "failed", error
            elif revision.status in ("pending", "failed"):
                revision.status, revision.error, revision.live_at = "live", "", utcnow()
                for older in session.scalars(
                    select(EndpointRevisionRow).where(
                        EndpointRevisionRow.endpoint_id == row.id,
                        EndpointRevisionRow.number < number,
                        EndpointRevisionRow.status == "live",
                    )
                ):
                    older.status = "superseded"
            session.flush()
            return _revision(project_row.name, name, revision)

    def record_stats(
        self, project: str, name: str, worker: str, windows: Sequence[StatsWindow]
    ) -> int:
        """Add a server's counts for its windows (repeated reports of a window add up)."""
        if len(windows) > MAX_STATS_ROWS:
            raise InvalidInput(
                f"A stats report carries at most {MAX_STATS_ROWS} windows, not {len(windows)}."
            )
        worker = validate_text(worker, "worker name", 100) or "worker"
        for w in windows:
            if len(w.buckets) != len(LATENCY_BUCKETS_MS) or min(w.buckets, default=0) < 0:
                raise InvalidInput(
                    f"A stats window has {len(w.buckets)} latency buckets; expected "
                    f"{len(LATENCY_BUCKETS_MS)} non-negative counts."
                )
        project_row = self._projects.get(project)
        with self._db.transaction() as session:
            endpoint = self._row(session, project_row, name)
            for w in _merged(windows):
                row = session.scalars(
                    select(EndpointStatsRow).where(
                        EndpointStatsRow.endpoint_id == endpoint.id,
                        EndpointStatsRow.window_start == w.start,
                        EndpointStatsRow.worker == worker,
                        EndpointStatsRow.model == w.model,
                    )
                ).one_or_none()
                if row is None:
                    session.add(
                        EndpointStatsRow(
                            endpoint_id=endpoint.id,
                            window_start=w.start,
                            worker=worker,
                            model=w.model[:200],
                            requests=w.requests,
                            errors=w.errors,
                            latency_sum_ms=w.latency_sum_ms,
                            buckets=json.dumps(list(w.buckets)),
                            batches=w.batches,
                            batch_rows=w.batch_rows,
                        )
                    )
                else:
                    old = json.loads(row.buckets)
                    row.requests += w.requests
                    row.errors += w.errors
                    row.latency_sum_ms += w.latency_sum_ms
                    row.buckets = json.dumps([a + b for a, b in zip(old, w.buckets, strict=True)])
                    row.batches += w.batches
                    row.batch_rows += w.batch_rows
        return len(windows)

    def stats(
        self, project: str, name: str, *, since: datetime | None = None
    ) -> builtins.list[StatsWindow]:
        """The endpoint's windows since ``since``, summed over servers, per window and model."""
        project_row = self._projects.get(project)
        with self._db.session() as session:
            endpoint = self._row(session, project_row, name)
            query = select(EndpointStatsRow).where(EndpointStatsRow.endpoint_id == endpoint.id)
            if since is not None:
                query = query.where(EndpointStatsRow.window_start >= since)
            rows = session.scalars(query.order_by(EndpointStatsRow.window_start)).all()
            return _merged(
                [
                    StatsWindow(
                        start=row.window_start,
                        model=row.model,
                        requests=row.requests,
                        errors=row.errors,
                        latency_sum_ms=row.latency_sum_ms,
                        buckets=tuple(int(b) for b in json.loads(row.buckets)),
                        batches=row.batches,
                        batch_rows=row.batch_rows,
                    )
                    for row in rows
                ]
            )

    # -- helpers -------------------------------------------------------------------------------

    def _pin(self, project: str, spec: EndpointSpec) -> EndpointSpec:
        """The spec with every route's version resolved (aliases and ``latest`` looked up)."""
        routes = []
        for route in spec.routes:
            parsed = parse_model_uri(route.model)
            where = parsed.project or project
            ref = parsed.ref if route.version is None else route.version
            version = self._registry.version(where, parsed.name, ref)
            if version.status == "archived":
                raise InvalidInput(
                    f"{route.model} is version {version.number}, which is archived; archived "
                    f"versions do not serve. Set its status back to registered or approved first."
                )
            routes.append(
                Route(route.model, weight=route.weight, shadow=route.shadow, version=version.number)
            )
        pinned = spec.with_routes(routes)
        EndpointSpec.__post_init__(pinned)  # two routes may pin to the same version
        return pinned

    def _set_description(self, endpoint: Endpoint, description: str) -> None:
        validate_text(description, "endpoint description", MAX_DESCRIPTION)
        with self._db.transaction() as session:
            row = session.get(EndpointRow, endpoint.id)
            if row is not None:
                row.description = description

    def _find(self, session: Session, project_id: str, name: str) -> EndpointRow | None:
        return session.scalars(
            select(EndpointRow).where(
                EndpointRow.project_id == project_id, EndpointRow.name == name
            )
        ).one_or_none()

    def _row(self, session: Session, project: Project, name: str) -> EndpointRow:
        validate_endpoint_name(name)
        row = self._find(session, project.id, name)
        if row is None:
            names = session.scalars(
                select(EndpointRow.name).where(EndpointRow.project_id == project.id)
            ).all()
            raise NotFound(
                f"Endpoint {name!r} not found in project {project.name!r}."
                f"{did_you_mean(name, list(names))}"
            )
        return row

    def _endpoint(self, session: Session, project: str, row: EndpointRow) -> Endpoint:
        newest = session.scalars(
            select(EndpointRevisionRow).where(
                EndpointRevisionRow.endpoint_id == row.id,
                EndpointRevisionRow.number == row.revision,
            )
        ).one()
        target = newest
        if newest.status == "failed":
            target = (
                session.scalars(
                    select(EndpointRevisionRow)
                    .where(
                        EndpointRevisionRow.endpoint_id == row.id,
                        EndpointRevisionRow.status != "failed",
                    )
                    .order_by(EndpointRevisionRow.number.desc())
                    .limit(1)
                ).first()
                or newest
            )
        return Endpoint(
            id=row.id,
            project=project,
            name=row.name,
            description=row.description,
            created_at=row.created_at,
            revision=_revision(project, row.name, newest),
            target=_revision(project, row.name, target),
        )


def _merged(windows: Sequence[StatsWindow]) -> builtins.list[StatsWindow]:
    """The windows with repeats of the same (start, model) added together."""
    out: dict[tuple[datetime, str], StatsWindow] = {}
    for w in windows:
        prev = out.get((w.start, w.model))
        out[(w.start, w.model)] = (
            w
            if prev is None
            else StatsWindow(
                start=w.start,
                model=w.model,
                requests=prev.requests + w.requests,
                errors=prev.errors + w.errors,
                latency_sum_ms=prev.latency_sum_ms + w.latency_sum_ms,
                buckets=tuple(a + b for a, b in zip(prev.buckets, w.buckets, strict=True)),
                batches=prev.batches + w.batches,
                batch_rows=prev.batch_rows + w.batch_rows,
            )
        )
    return builtins.list(out.values())


def _revision_row(
    endpoint_id: str,
    number: int,
    spec: EndpointSpec,
    actor: str,
    message: str,
    rollback_of: int | None = None,
) -> EndpointRevisionRow:
    return EndpointRevisionRow(
        endpoint_id=endpoint_id,
        number=number,
        spec=json.dumps(spec.to_dict(), sort_keys=True),
        status="pending",
        error="",
        actor=actor,
        message=message,
        rollback_of=rollback_of,
    )


def _revision(project: str, endpoint: str, row: EndpointRevisionRow) -> Revision:
    return Revision(
        endpoint=endpoint,
        project=project,
        number=row.number,
        spec=spec_from_dict(json.loads(row.spec), f"revision {row.number} of {endpoint!r}"),
        status=row.status,  # type: ignore[arg-type]
        created_at=row.created_at,
        actor=row.actor,
        message=row.message,
        error=row.error,
        rollback_of=row.rollback_of,
        live_at=row.live_at,
    )
