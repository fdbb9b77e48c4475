"""PipelineService: pipeline runs, their steps and the step cache in the metadata database.

Each step execution is a tracked run (a child of the pipeline run's tracked run) made through
the tracking service; this service keeps what tracking has no words for: the DAG, each step's
state, cache key and outputs, and which earlier run a reused output came from.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from loopline.blobs import BlobStore
from loopline.db import Database, utcnow
from loopline.errors import Conflict, InvalidInput, NotFound
from loopline.pipelines._tables import (
    PipelineRunRow,
    PipelineStepRow,
    PipelineTemplateRow,
    StepCacheRow,
)
from loopline.pipelines._types import (
    STEP_STATUSES,
    CacheHit,
    OutputRef,
    PipelineRunRecord,
    PipelineStatus,
    StepRecord,
    StepUpdate,
    TemplateRecord,
)
from loopline.projects import ProjectService
from loopline.tracking import TrackingService, validate_run_id

if TYPE_CHECKING:
    from loopline.pipelines._notify import NotificationService
    from loopline.pipelines._schedules import ScheduleService

__all__ = ["PipelineService", "MAX_PIPELINE_NAME"]

log = logging.getLogger("loopline.pipelines")

MAX_PIPELINE_NAME = 200
_END_STATUS = {"succeeded": "finished", "failed": "failed", "stopped": "killed"}
_RUN_STATUSES = ("running", "succeeded", "failed", "stopped")


def _outputs_json(outputs: Sequence[OutputRef]) -> str:
    return json.dumps([[o.digest, o.size, o.materializer, o.type_name] for o in outputs])


def _outputs_of(text: str | None) -> tuple[OutputRef, ...]:
    if not text:
        return ()
    return tuple(OutputRef(d, int(s), m, t) for d, s, m, t in json.loads(text))


class PipelineService:
    """Everything pipelines store, behind one service that both backends call.

    Example:
        >>> svc = PipelineService(db, projects, tracking, lambda: blobs)
        >>> run = svc.create_run("demo", "training", {"lr": 0.1}, dag.to_spec())
        >>> svc.update_steps(run.id, [StepUpdate("load", "running")])[0].status
        'running'
    """

    def __init__(
        self,
        db: Database,
        projects: ProjectService,
        tracking: TrackingService,
        blobs: Callable[[], BlobStore],
    ) -> None:
        self._db = db
        self._projects = projects
        self._tracking = tracking
        self._blobs = blobs

    def create_run(
        self,
        project: str,
        pipeline: str,
        params: Mapping[str, Any],
        dag: Mapping[str, Any],
        *,
        tags: Mapping[str, object] | None = None,
    ) -> PipelineRunRecord:
        """Start a pipeline run: its tracked run (with ``params``) and a pending row per step."""
        if not isinstance(pipeline, str) or not 0 < len(pipeline) <= MAX_PIPELINE_NAME:
            raise InvalidInput(f"A pipeline name is 1 to {MAX_PIPELINE_NAME} characters.")
        try:
            names = [str(s["name"]) for s in dag["steps"]]
            params_text = json.dumps(dict(params), sort_keys=True)
            dag_text = json.dumps(dag, sort_keys=True)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"Not a pipeline DAG spec with JSON params: {exc!r}.") from exc
        run = self._tracking.create_run(
            project,
            name=pipeline,
            params=params,
            tags={"loopline.pipeline": pipeline, **(tags or {})},
        )
        project_row = self._projects.get(project)
        with self._db.transaction() as session:
            row = PipelineRunRow(
                run_id=run.id,
                project_id=project_row.id,
                pipeline=pipeline,
                status="running",
                params=params_text,
                dag=dag_text,
                started_at=run.start_time,
            )
            session.add(row)
            session.flush()
            session.add_all(
                PipelineStepRow(run_id=run.id, name=n, position=i, status="pending", attempt=0)
                for i, n in enumerate(names)
            )
        return self.get_run(run.id)

    def update_steps(self, run_id: str, updates: Sequence[StepUpdate]) -> list[StepRecord]:
        """Apply a batch of step changes (see :class:`StepUpdate`); answer the changed steps."""
        validate_run_id(run_id)
        with self._db.session() as session:
            run = self._run_row(session, run_id)
            project = self._projects.get_by_id(run.project_id).name
            steps = {
                r.name: (r.step_run_id, r.status)
                for r in session.scalars(
                    select(PipelineStepRow).where(PipelineStepRow.run_id == run_id)
                )
            }
        # Tracked runs first (the tracking service owns their transactions), then one
        # transaction for this service's rows.
        made: dict[str, str] = {}
        for update in updates:
            if update.status not in STEP_STATUSES:
                raise InvalidInput(f"{update.status!r} is not a step status ({STEP_STATUSES}).")
            if update.step not in steps:
                raise NotFound(f"Pipeline run {run_id} has no step {update.step!r}.")
            step_run, _ = steps[update.step]
            if update.status == "running":
                child = self._tracking.create_run(
                    project,
                    name=update.step[:200],
                    params=update.params,
                    tags={"loopline.step": update.step, "loopline.pipeline": run.pipeline},
                    parent_id=run_id,
                )
                made[update.step] = step_run = child.id
            elif update.status in _END_STATUS and step_run is not None:
                for i, out in enumerate(update.outputs or ()):
                    self._tracking.add_artifact(step_run, f"outputs/{i}", out.digest, out.size)
                if update.console:
                    ref = self._blobs().put_bytes(update.console.encode())
                    self._tracking.add_artifact(step_run, "console.log", ref.digest, ref.size)
                # Conflict: ended already (a stop raced the step's own end).
                with contextlib.suppress(Conflict):
                    self._tracking.end_run(step_run, _END_STATUS[update.status])  # type: ignore[arg-type]
        now = utcnow()
        with self._db.transaction() as session:
            rows = {
                r.name: r
                for r in session.scalars(
                    select(PipelineStepRow).where(
                        PipelineStepRow.run_id == run_id,
                        PipelineStepRow.name.in_({u.step for u in updates}),
                    )
                )
            }
            for update in updates:
                row = rows[update.step]
                row.status = update.status
                if update.step in made:
                    row.step_run_id = made[update.step]
                    row.started_at = now
                    row.ended_at = None
                    row.attempt = update.attempt
                    row.error = None
                if update.status != "running":
                    row.ended_at = now
                    if row.started_at is None:
                        row.started_at = now
                if update.cache_key is not None:
                    row.cache_key = update.cache_key
                if update.outputs is not None:
                    row.outputs = _outputs_json(update.outputs)
                if update.error is not None:
                    row.error = update.error
                if update.source_run is not None:
                    row.source_run = update.source_run
                if update.status == "succeeded" and update.cache_key and update.outputs is not None:
                    self._remember(session, run.project_id, update, row.step_run_id)
            return [_step_record(rows[u.step]) for u in updates]

    def _remember(
        self, session: Session, project_id: str, update: StepUpdate, step_run: str | None
    ) -> None:
        assert update.cache_key is not None
        assert update.outputs is not None
        existing = session.get(StepCacheRow, (project_id, update.cache_key))
        if existing is None:
            session.add(
                StepCacheRow(
                    project_id=project_id,
                    cache_key=update.cache_key,
                    outputs=_outputs_json(update.outputs),
                    step_run_id=step_run,
                )
            )
        else:  # the newest execution wins (its blobs are the ones most surely still there)
            existing.outputs = _outputs_json(update.outputs)
            existing.step_run_id = step_run

    def finish_run(self, run_id: str, status: PipelineStatus) -> PipelineRunRecord:
        """End a pipeline run (and its tracked run); steps still pending or running become
        ``stopped`` when the run is stopped."""
        if status not in _RUN_STATUSES or status == "running":
            raise InvalidInput(f"A pipeline run ends succeeded, failed or stopped, not {status!r}.")
        with self._db.transaction() as session:
            row = self._run_row(session, run_id)
            if row.status != "running":
                raise Conflict(f"Pipeline run {run_id} is {row.status} already.")
            row.status = status
            row.ended_at = utcnow()
        with self._db.session() as session:
            unfinished = session.scalars(
                select(PipelineStepRow).where(
                    PipelineStepRow.run_id == run_id, PipelineStepRow.status == "running"
                )
            ).all()
        if unfinished:
            self.update_steps(run_id, [StepUpdate(r.name, "stopped") for r in unfinished])
        with contextlib.suppress(Conflict):
            self._tracking.end_run(run_id, _END_STATUS[status])  # type: ignore[arg-type]
        record = self.get_run(run_id)
        self._notify_ended(record)
        return record

    def _notify_ended(self, record: PipelineRunRecord) -> None:
        from loopline.pipelines._schedules import SCHEDULE_TAG

        try:
            schedule = self._tracking.get_run(record.id).tags.get(SCHEDULE_TAG)
            self.notifications.run_ended(record, str(schedule) if schedule else None)
        except Exception:
            log.warning("Could not send notifications of run %s.", record.id, exc_info=True)

    @cached_property
    def notifications(self) -> NotificationService:
        """Notifications attached to pipelines, schedules and runs."""
        from loopline.pipelines._notify import NotificationService

        return NotificationService(self._db, self._projects)

    @cached_property
    def schedules(self) -> ScheduleService:
        """Schedules of published templates and their firings."""
        from loopline.pipelines._schedules import ScheduleService

        return ScheduleService(self._db, self._projects, self)

    def get_run(self, run_id: str) -> PipelineRunRecord:
        validate_run_id(run_id)
        with self._db.session() as session:
            row = self._run_row(session, run_id)
            return self._record(session, row)

    def list_runs(
        self,
        project: str,
        pipeline: str | None = None,
        *,
        status: str | None = None,
        limit: int = 100,
        params: Mapping[str, Any] | None = None,
    ) -> list[PipelineRunRecord]:
        """Runs of ``project`` (of one pipeline, in one status, with these parameter values),
        newest first. ``params`` values match when equal, or when their text is (``"0.1"``
        matches ``0.1``: filters come from forms and command lines)."""
        if status is not None and status not in _RUN_STATUSES:
            raise InvalidInput(f"{status!r} is not a pipeline run status ({_RUN_STATUSES}).")
        project_row = self._projects.get(project)
        query = select(PipelineRunRow).where(PipelineRunRow.project_id == project_row.id)
        if pipeline is not None:
            query = query.where(PipelineRunRow.pipeline == pipeline)
        if status is not None:
            query = query.where(PipelineRunRow.status == status)
        limit = max(1, min(limit, 10_000))
        query = query.order_by(PipelineRunRow.started_at.desc())
        if not params:
            query = query.limit(limit)
        found: list[PipelineRunRecord] = []
        with self._db.session() as session:
            # A params filter is applied here, on the stored JSON: the runs of one pipeline are
            # few enough (thousands) for that, and it keeps the schema free of a params table.
            for row in session.scalars(query):
                if params and not _params_match(json.loads(row.params), params):
                    continue
                found.append(self._record(session, row))
                if len(found) >= limit:
                    break
        return found

    def quota_usage(self, project: str) -> dict[str, int]:
        """Pipeline runs running now, and bytes the steps' outputs store, each blob once
        (accounts' usage counter)."""
        project_id = self._projects.get(project).id
        with self._db.session() as session:
            running = session.scalar(
                select(func.count()).where(
                    PipelineRunRow.project_id == project_id, PipelineRunRow.status == "running"
                )
            )
            outputs = session.scalars(
                select(PipelineStepRow.outputs)
                .join(PipelineRunRow, PipelineRunRow.run_id == PipelineStepRow.run_id)
                .where(
                    PipelineRunRow.project_id == project_id,
                    PipelineStepRow.outputs.is_not(None),
                )
            ).all()
        sizes = {ref.digest: ref.size for text in outputs for ref in _outputs_of(text)}
        return {
            "concurrent_pipeline_runs": int(running or 0),
            "storage_bytes": sum(sizes.values()),
        }

    # -- operations on runs ---------------------------------------------------------------------

    def stop_run(self, run_id: str) -> PipelineRunRecord:
        """Mark a running pipeline run ``stopped``. Its runner (in whatever process) sees it at
        its next check and stops the running steps: SIGTERM, then SIGKILL after a grace period.

        Raises:
            Conflict: the run has ended already.
        """
        return self.finish_run(run_id, "stopped")

    def delete_run(self, run_id: str) -> None:
        """Delete a pipeline run's records: its steps, and (hidden from searches) its tracked
        run and step runs. Blobs stay for ``loopline gc``; the step cache keeps its entries.

        Raises:
            Conflict: the run is still running; stop it first.
        """
        validate_run_id(run_id)
        with self._db.transaction() as session:
            row = self._run_row(session, run_id)
            if row.status == "running":
                raise Conflict(f"Pipeline run {run_id} is running; stop it before deleting it.")
            step_runs = [
                r
                for r in session.scalars(
                    select(PipelineStepRow.step_run_id).where(PipelineStepRow.run_id == run_id)
                )
                if r
            ]
            session.execute(delete(PipelineStepRow).where(PipelineStepRow.run_id == run_id))
            session.execute(delete(PipelineRunRow).where(PipelineRunRow.run_id == run_id))
        for tracked in (run_id, *step_runs):
            with contextlib.suppress(NotFound):
                self._tracking.delete_run(tracked)

    def run_metrics(self, run_id: str) -> dict[str, float]:
        """The latest value of every metric the run's steps logged, as ``"step.metric"``."""
        found: dict[str, float] = {}
        for step in self.get_run(run_id).steps:
            if step.run_id is None or step.status in ("cached", "reused"):
                continue
            with contextlib.suppress(NotFound):
                for key, value in self._tracking.get_run(step.run_id).metrics.items():
                    found[f"{step.name}.{key}"] = value
        return found

    # -- templates ------------------------------------------------------------------------------

    def publish_template(
        self,
        project: str,
        name: str,
        *,
        dag: Mapping[str, Any],
        code: str,
        entry: str,
        description: str = "",
        requirements: Sequence[str] = (),
        created_by: str = "",
    ) -> TemplateRecord:
        """Store a new version of template ``name`` (version 1, 2, ...) and answer it."""
        if not isinstance(name, str) or not 0 < len(name) <= MAX_PIPELINE_NAME:
            raise InvalidInput(f"A template name is 1 to {MAX_PIPELINE_NAME} characters.")
        from loopline.pipelines._dag import DAG

        DAG.from_spec(dag)  # refuse a spec that is not a valid DAG now, not at launch
        project_row = self._projects.ensure(project)
        with self._db.transaction() as session:
            latest = session.scalar(
                select(func.max(PipelineTemplateRow.version)).where(
                    PipelineTemplateRow.project_id == project_row.id,
                    PipelineTemplateRow.name == name,
                )
            )
            row = PipelineTemplateRow(
                project_id=project_row.id,
                name=name,
                version=(latest or 0) + 1,
                description=description,
                dag=json.dumps(dict(dag), sort_keys=True),
                code_digest=code,
                entry=entry,
                requirements=json.dumps(list(requirements)),
                created_by=created_by,
            )
            session.add(row)
            session.flush()
            return self._template(row, project)

    def get_template(
        self, project: str, name: str, version: int | str = "latest"
    ) -> TemplateRecord:
        """One version of a template (``"latest"``: the newest). NotFound, with a suggestion."""
        project_row = self._projects.get(project)
        query = select(PipelineTemplateRow).where(
            PipelineTemplateRow.project_id == project_row.id, PipelineTemplateRow.name == name
        )
        if version == "latest":
            query = query.order_by(PipelineTemplateRow.version.desc()).limit(1)
        else:
            try:
                number = int(version)
            except ValueError:
                raise InvalidInput(
                    f"A template version is a number or 'latest', not {version!r}."
                ) from None
            query = query.where(PipelineTemplateRow.version == number)
        with self._db.session() as session:
            row = session.scalars(query).first()
            if row is None:
                names = session.scalars(
                    select(PipelineTemplateRow.name)
                    .where(PipelineTemplateRow.project_id == project_row.id)
                    .distinct()
                ).all()
                from loopline.errors import did_you_mean

                what = f"Template {name!r}" + ("" if version == "latest" else f" version {version}")
                raise NotFound(
                    f"{what} not found in project {project!r}.{did_you_mean(name, names)}"
                )
            return self._template(row, project)

    def list_templates(self, project: str) -> list[TemplateRecord]:
        """The newest version of each template of ``project``, by name."""
        project_row = self._projects.get(project)
        newest = (
            select(PipelineTemplateRow.name, func.max(PipelineTemplateRow.version).label("v"))
            .where(PipelineTemplateRow.project_id == project_row.id)
            .group_by(PipelineTemplateRow.name)
            .subquery()
        )
        query = (
            select(PipelineTemplateRow)
            .join(
                newest,
                (PipelineTemplateRow.name == newest.c.name)
                & (PipelineTemplateRow.version == newest.c.v),
            )
            .where(PipelineTemplateRow.project_id == project_row.id)
            .order_by(PipelineTemplateRow.name)
        )
        with self._db.session() as session:
            return [self._template(r, project) for r in session.scalars(query)]

    def template_versions(self, project: str, name: str) -> list[TemplateRecord]:
        """Every version of template ``name``, newest first."""
        self.get_template(project, name)  # NotFound with a suggestion
        project_row = self._projects.get(project)
        query = (
            select(PipelineTemplateRow)
            .where(
                PipelineTemplateRow.project_id == project_row.id,
                PipelineTemplateRow.name == name,
            )
            .order_by(PipelineTemplateRow.version.desc())
        )
        with self._db.session() as session:
            return [self._template(r, project) for r in session.scalars(query)]

    def _template(self, row: PipelineTemplateRow, project: str) -> TemplateRecord:
        return TemplateRecord(
            project=project,
            name=row.name,
            version=row.version,
            description=row.description,
            dag=json.loads(row.dag),
            code=row.code_digest,
            entry=row.entry,
            requirements=tuple(json.loads(row.requirements)),
            created_at=row.created_at,
            created_by=row.created_by,
        )

    def lookup_cache(self, project: str, keys: Sequence[str]) -> dict[str, CacheHit]:
        """The cached outputs of those of ``keys`` that have some."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        try:
            project_row = self._projects.get(project)
        except NotFound:
            return {}
        with self._db.session() as session:
            rows = session.scalars(
                select(StepCacheRow).where(
                    StepCacheRow.project_id == project_row.id, StepCacheRow.cache_key.in_(wanted)
                )
            ).all()
            return {
                r.cache_key: CacheHit(r.cache_key, _outputs_of(r.outputs), r.step_run_id)
                for r in rows
            }

    def _run_row(self, session: Session, run_id: str) -> PipelineRunRow:
        row = session.get(PipelineRunRow, run_id)
        if row is None:
            raise NotFound(f"Pipeline run {run_id} not found.")
        return row

    def _record(self, session: Session, row: PipelineRunRow) -> PipelineRunRecord:
        steps = session.scalars(
            select(PipelineStepRow)
            .where(PipelineStepRow.run_id == row.run_id)
            .order_by(PipelineStepRow.position)
        ).all()
        return PipelineRunRecord(
            id=row.run_id,
            project=self._projects.get_by_id(row.project_id).name,
            pipeline=row.pipeline,
            status=row.status,  # type: ignore[arg-type]
            params=json.loads(row.params),
            started_at=row.started_at,
            ended_at=row.ended_at,
            dag=json.loads(row.dag),
            steps=tuple(_step_record(s) for s in steps),
        )


def _params_match(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    for key, value in wanted.items():
        if key not in stored:
            return False
        have = stored[key]
        if have != value and _text(have) != _text(value):
            return False
    return True


def _text(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return str(value)
    return json.dumps(value, sort_keys=True)


def _step_record(row: PipelineStepRow) -> StepRecord:
    return StepRecord(
        name=row.name,
        status=row.status,  # type: ignore[arg-type]
        run_id=row.step_run_id,
        cache_key=row.cache_key,
        outputs=_outputs_of(row.outputs),
        error=row.error,
        source_run=row.source_run,
        attempt=row.attempt,
        started_at=row.started_at,
        ended_at=row.ended_at,
    )
