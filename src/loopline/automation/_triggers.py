"""Triggers: named, versioned rules that launch a published pipeline template on an event.

Kinds: ``cron`` (a schedule), ``dataset`` (a new version of a dataset, or one of its aliases
moved), ``alert`` (a monitor's alert starts firing) and ``manual`` (fired by a person or a
script). Each trigger keeps a *cursor* of what it has seen; a controller reads the events past
the cursor and claims them by moving the cursor with ``UPDATE ... WHERE seq = <what it read>``:
of two controllers on one database, one wins. Each event is then recorded as a *firing* under a
unique (trigger, event key), a second guard.

Debouncing: while the trigger's previous launch still runs, or within ``debounce`` seconds of
it, an event is *coalesced* into that launch (recorded, and counted on the launch's firing)
instead of launching again: one alert storm, one retraining.
"""

from __future__ import annotations

import builtins
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loopline.automation._tables import FiringRow, TriggerRow, TriggerVersionRow
from loopline.automation._timeline import Timeline
from loopline.automation._types import (
    TRIGGER_KINDS,
    Firing,
    Trigger,
    TriggerVersion,
    check_mapping,
    map_params,
    parse_duration,
)
from loopline.db import Database, new_id, utcnow
from loopline.errors import Conflict, InvalidInput, NotFound, did_you_mean
from loopline.projects import ProjectService, validate_actor, validate_alias, validate_name

if TYPE_CHECKING:
    from loopline.datasets import DatasetService
    from loopline.pipelines import PipelineRunRecord, PipelineService

__all__ = ["TriggerService", "Launcher", "AlertSource", "TRIGGER_TAG", "FIRING_TAG"]

log = logging.getLogger("loopline.automation")

TRIGGER_TAG = "loopline.trigger"
FIRING_TAG = "loopline.trigger.firing"
DEFAULT_DEBOUNCE = {"cron": 0.0, "dataset": 60.0, "alert": 3600.0, "manual": 0.0}
MAX_EVENTS_A_TICK = 100

Launcher = Callable[[str, str, Mapping[str, Any], str, Mapping[str, str]], "PipelineRunRecord"]
"""(project, template, params, template version, tags) → the launched pipeline run."""
AlertSource = Callable[[str, "datetime | None"], builtins.list[Any]]
"""(project, since) → alerts (objects with id, monitor, rule, endpoint, metric, value,
threshold, fired_at, message), oldest first or in any order."""


def _cron() -> tuple[
    Callable[[str], str], Callable[..., builtins.list[datetime]], Callable[..., Any]
]:
    try:  # helper M moves these down to projects (automation must not need pipelines for them)
        from loopline.projects._cron import (  # type: ignore[import-not-found,unused-ignore]
            check_cron,
            check_timezone,
            next_firings,
        )
    except ImportError:
        from loopline.pipelines._schedules import check_cron, check_timezone, next_firings
    return check_cron, next_firings, check_timezone


@dataclass(frozen=True, slots=True)
class _Event:
    key: str
    payload: dict[str, Any]


class TriggerService:
    """Triggers, their versions and firings.

    Example:
        >>> svc.put("demo", "retrain-on-drift", kind="alert", template="digits-training",
        ...         params={"reason": "{event.message}"}, actor="ada").version
        1
    """

    def __init__(
        self,
        db: Database,
        projects: ProjectService,
        pipelines: PipelineService,
        datasets: DatasetService,
        timeline: Timeline,
    ) -> None:
        self._db = db
        self._projects = projects
        self._pipelines = pipelines
        self._datasets = datasets
        self._timeline = timeline

    # -- defining ------------------------------------------------------------------------------

    def put(
        self,
        project: str,
        name: str,
        *,
        kind: str,
        template: str,
        params: Mapping[str, Any] | None = None,
        template_version: int | str = "latest",
        config: Mapping[str, Any] | None = None,
        debounce: object = None,
        description: str = "",
        enabled: bool | None = None,
        actor: str,
        now: datetime | None = None,
    ) -> Trigger:
        """Create trigger ``name``, or make its next version when the definition changed
        (the same definition twice records one version). ``enabled=None`` keeps a trigger
        as it is (a new one starts enabled): editing a paused trigger does not resume it.

        Raises:
            InvalidInput: a bad kind, config, mapping or duration (``details["field"]``).
            NotFound: the template, or the dataset a ``dataset`` trigger watches.
        """
        now = now or utcnow()
        validate_name(name, "trigger", "retrain-on-drift")
        actor = validate_actor(actor)
        definition = self._definition(
            project, kind, template, params, template_version, config, debounce, description
        )
        project_row = self._projects.get(project)
        for _ in range(3):
            try:
                with self._db.transaction() as session:
                    row = self._find(session, project_row.id, name)
                    if row is None:
                        row = TriggerRow(
                            id=new_id(),
                            project_id=project_row.id,
                            name=name,
                            version=1,
                            enabled=True if enabled is None else bool(enabled),
                            state="ok",
                            problem="",
                            seq=0,
                            created_by=actor,
                            updated_at=now,
                        )
                        self._apply(row, definition, now, fresh=True)
                        session.add(row)
                        session.flush()
                    elif _definition_of(row) == definition and (
                        enabled is None or row.enabled == bool(enabled)
                    ):
                        return self._record(session, row)
                    else:
                        fresh = (_definition_of(row)["kind"], _definition_of(row)["config"]) != (
                            definition["kind"],
                            definition["config"],
                        )
                        row.version += 1
                        row.enabled = row.enabled if enabled is None else bool(enabled)
                        row.state, row.problem = "ok", ""
                        row.seq += 1
                        row.updated_at = now
                        self._apply(row, definition, now, fresh=fresh)
                    session.add(
                        TriggerVersionRow(
                            trigger_id=row.id,
                            version=row.version,
                            definition=json.dumps(definition, sort_keys=True),
                            created_by=actor,
                        )
                    )
                    session.flush()
                    return self._record(session, row)
            except IntegrityError:
                continue  # created or edited by someone else at the same moment: read again
        raise Conflict(f"Trigger {name!r} kept changing under us; try again.")

    def _definition(
        self,
        project: str,
        kind: str,
        template: str,
        params: Mapping[str, Any] | None,
        template_version: int | str,
        config: Mapping[str, Any] | None,
        debounce: object,
        description: str,
    ) -> dict[str, Any]:
        if kind not in TRIGGER_KINDS:
            raise InvalidInput(
                f"kind: {kind!r} is not a trigger kind; use one of {', '.join(TRIGGER_KINDS)}."
                f"{did_you_mean(str(kind), TRIGGER_KINDS)}",
                details={"field": "kind"},
            )
        if not isinstance(description, str) or len(description) > 5000:
            raise InvalidInput(
                "description: at most 5,000 characters.", details={"field": "description"}
            )
        version_text = str(template_version).strip()
        if version_text != "latest" and not (version_text.isdigit() and int(version_text) > 0):
            raise InvalidInput(
                f"template_version: a number or 'latest', not {template_version!r}.",
                details={"field": "template_version"},
            )
        self._pipelines.get_template(project, template, version_text)  # NotFound, with a hint
        params = dict(params or {})
        try:
            json.dumps(params)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"params: JSON data only ({exc}).", details={"field": "params"}
            ) from exc
        check_mapping(kind, params)
        config = self._config(project, kind, dict(config or {}))
        seconds = (
            DEFAULT_DEBOUNCE[kind] if debounce is None else parse_duration(debounce, "debounce")
        )
        return {
            "kind": kind,
            "template": template,
            "template_version": version_text,
            "params": params,
            "config": config,
            "debounce": seconds,
            "description": description,
        }

    def _config(self, project: str, kind: str, config: dict[str, Any]) -> dict[str, Any]:
        allowed = {
            "cron": {"cron", "timezone"},
            "dataset": {"dataset", "alias"},
            "alert": {"monitor", "rule", "endpoint"},
            "manual": set(),
        }[kind]
        extra = set(config) - allowed
        if extra:
            raise InvalidInput(
                f"A {kind} trigger takes {', '.join(sorted(allowed)) or 'no settings'}, not "
                f"{', '.join(sorted(extra))}.",
                details={"field": sorted(extra)[0]},
            )
        if kind == "cron":
            check_cron, _, check_timezone = _cron()
            if "cron" not in config:
                raise InvalidInput(
                    "A cron trigger needs cron='30 2 * * *'.", details={"field": "cron"}
                )
            out: dict[str, Any] = {"cron": check_cron(config["cron"])}
            out["timezone"] = str(config.get("timezone") or "UTC")
            check_timezone(out["timezone"])
            return out
        if kind == "dataset":
            if not config.get("dataset"):
                raise InvalidInput(
                    "A dataset trigger needs dataset='<name>' (and optionally alias=...).",
                    details={"field": "dataset"},
                )
            self._datasets.get(project, str(config["dataset"]))  # NotFound with a suggestion
            out = {"dataset": str(config["dataset"]), "alias": None}
            if config.get("alias"):
                out["alias"] = validate_alias(config["alias"], "production")
            return out
        if kind == "alert":
            return {
                k: (None if config.get(k) in (None, "") else str(config[k]))
                for k in ("monitor", "rule", "endpoint")
            }
        return {}

    def _apply(
        self, row: TriggerRow, definition: dict[str, Any], now: datetime, *, fresh: bool
    ) -> None:
        row.kind = definition["kind"]
        row.template = definition["template"]
        row.template_version = definition["template_version"]
        row.params = json.dumps(definition["params"], sort_keys=True)
        row.config = json.dumps(definition["config"], sort_keys=True)
        row.debounce = definition["debounce"]
        row.description = definition["description"]
        if fresh:
            row.cursor = json.dumps(self._start_cursor(row, definition, now))
        if row.kind == "cron" and (fresh or row.next_fire_at is None) and row.enabled:
            row.next_fire_at = self._next_cron(definition["config"], now)
        elif row.kind != "cron":
            row.next_fire_at = None

    def _start_cursor(
        self, row: TriggerRow, definition: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        """Where a new trigger starts watching: from now on (what happened before is not news)."""
        config = definition["config"]
        project = self._projects.get_by_id(row.project_id).name
        if definition["kind"] == "dataset":
            return {"version": self._dataset_head(project, config), "alias_seq": 0}
        if definition["kind"] == "alert":
            return {"since": now.isoformat(), "seen": []}
        return {}

    def _dataset_head(self, project: str, config: Mapping[str, Any]) -> int:
        try:
            ref = config.get("alias") or "latest"
            return self._datasets.version(project, config["dataset"], ref).number
        except NotFound:
            return 0

    @staticmethod
    def _next_cron(config: Mapping[str, Any], now: datetime) -> datetime:
        _, next_firings, _ = _cron()
        return next_firings(config["cron"], config.get("timezone") or "UTC", now)[0]

    def set_enabled(
        self, project: str, name: str, enabled: bool, *, now: datetime | None = None
    ) -> Trigger:
        """Pause or resume; resuming also clears a ``broken`` state (try again), and a resumed
        trigger watches from now on (a cron trigger does not make up for paused time)."""
        now = now or utcnow()
        project_row = self._projects.get(project)
        with self._db.transaction() as session:
            row = self._row(session, project_row.id, name)
            if enabled and (not row.enabled or row.state == "broken"):
                row.state, row.problem = "ok", ""
                if row.kind == "cron":
                    row.next_fire_at = self._next_cron(json.loads(row.config), now)
            if not enabled and row.enabled and row.kind == "cron":
                row.next_fire_at = None
            row.enabled = bool(enabled)
            row.seq += 1
            row.updated_at = now
            session.flush()
            return self._record(session, row)

    def delete(self, project: str, name: str) -> None:
        """Delete a trigger with its versions and firings (the runs and the timeline stay)."""
        project_row = self._projects.get(project)
        with self._db.transaction() as session:
            session.delete(self._row(session, project_row.id, name))

    # -- reading -------------------------------------------------------------------------------

    def get(self, project: str, name: str) -> Trigger:
        project_row = self._projects.get(project)
        with self._db.session() as session:
            return self._record(session, self._row(session, project_row.id, name))

    def list(self, project: str) -> builtins.list[Trigger]:
        project_row = self._projects.get(project)
        with self._db.session() as session:
            rows = session.scalars(
                select(TriggerRow)
                .where(TriggerRow.project_id == project_row.id)
                .order_by(TriggerRow.name)
            ).all()
            return [self._record(session, r) for r in rows]

    def versions(self, project: str, name: str) -> builtins.list[TriggerVersion]:
        """Every version of the trigger's definition, newest first."""
        project_row = self._projects.get(project)
        with self._db.session() as session:
            row = self._row(session, project_row.id, name)
            versions = session.scalars(
                select(TriggerVersionRow)
                .where(TriggerVersionRow.trigger_id == row.id)
                .order_by(TriggerVersionRow.version.desc())
            ).all()
            return [
                TriggerVersion(
                    name, v.version, json.loads(v.definition), v.created_at, v.created_by
                )
                for v in versions
            ]

    def firings(self, project: str, name: str, limit: int = 50) -> builtins.list[Firing]:
        """The trigger's firings, newest first."""
        project_row = self._projects.get(project)
        with self._db.session() as session:
            row = self._row(session, project_row.id, name)
            rows = session.scalars(
                select(FiringRow)
                .where(FiringRow.trigger_id == row.id)
                .order_by(FiringRow.fired_at.desc(), FiringRow.id.desc())
                .limit(max(1, min(int(limit), 1000)))
            ).all()
            return [_firing(project_row.name, name, f) for f in rows]

    # -- firing --------------------------------------------------------------------------------

    def fire(
        self,
        project: str,
        name: str,
        payload: Mapping[str, Any] | None = None,
        *,
        actor: str,
        launch: Launcher,
        run_status: Callable[[str], str],
        now: datetime | None = None,
    ) -> Firing:
        """Fire trigger ``name`` by hand with ``payload`` as its event (debounced like any)."""
        now = now or utcnow()
        actor = validate_actor(actor)
        try:
            event = json.loads(json.dumps(dict(payload or {})))
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"payload: JSON data only ({exc}).", details={"field": "payload"}
            ) from exc
        trigger = self.get(project, name)
        if not trigger.enabled:
            raise Conflict(
                f"Trigger {name!r} is paused; resume it first "
                f"(loopline automation triggers resume {name})."
            )
        made = self._handle(
            trigger.id,
            [_Event(f"manual:{new_id()}", {**event, "actor": actor})],
            now,
            launch,
            run_status,
        )
        return made[0]

    def poll(
        self,
        trigger_id: str,
        now: datetime,
        launch: Launcher,
        run_status: Callable[[str], str],
        alerts: AlertSource | None,
    ) -> builtins.list[Firing]:
        """Read the trigger's new events, claim them, fire them (what a controller's tick does
        for each trigger). Returns the firings this call made (none if another took them)."""
        with self._db.session() as session:
            row = session.get(TriggerRow, trigger_id)
            if row is None or not row.enabled or row.state != "ok" or row.kind == "manual":
                return []
            seq, kind = row.seq, row.kind
            cursor = json.loads(row.cursor)
            config = json.loads(row.config)
            next_fire_at = row.next_fire_at
            project = self._projects.get_by_id(row.project_id).name
        if kind == "cron":
            events, cursor, next_fire_at = _cron_events(config, next_fire_at, now)
        elif kind == "dataset":
            events, cursor = self._dataset_events(project, config, cursor)
        else:
            if alerts is None:
                return []
            events, cursor = _alert_events(alerts(project, _since(cursor)), config, cursor)
        if not events:
            return []
        with self._db.transaction() as session:
            moved = session.execute(
                update(TriggerRow)
                .where(TriggerRow.id == trigger_id, TriggerRow.seq == seq)
                .values(seq=seq + 1, cursor=json.dumps(cursor), next_fire_at=next_fire_at)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                return []  # another controller claimed these events (or the trigger changed)
        return self._handle(trigger_id, events, now, launch, run_status)

    def _dataset_events(
        self, project: str, config: Mapping[str, Any], cursor: dict[str, Any]
    ) -> tuple[builtins.list[_Event], dict[str, Any]]:
        name, alias = config["dataset"], config.get("alias")
        seen = int(cursor.get("version", 0))
        if alias:
            try:
                current = self._datasets.version(project, name, alias)
            except NotFound:
                return [], cursor
            if current.number == seen:
                return [], cursor
            count = int(cursor.get("alias_seq", 0)) + 1
            payload = _version_payload(current, alias)
            return [_Event(f"alias:{alias}:{count}:v{current.number}", payload)], {
                "version": current.number,
                "alias_seq": count,
            }
        try:
            versions = self._datasets.versions(project, name)
        except NotFound:
            return [], cursor
        new = sorted((v for v in versions if v.number > seen), key=lambda v: v.number)
        new = new[:MAX_EVENTS_A_TICK]
        if not new:
            return [], cursor
        events = [_Event(f"version:{v.number}", _version_payload(v, None)) for v in new]
        return events, {**cursor, "version": new[-1].number}

    def _handle(
        self,
        trigger_id: str,
        events: builtins.list[_Event],
        now: datetime,
        launch: Launcher,
        run_status: Callable[[str], str],
    ) -> builtins.list[Firing]:
        made: builtins.list[Firing] = []
        for event in events:
            firing = self._one(trigger_id, event, now, launch, run_status)
            if firing is not None:
                made.append(firing)
        return made

    def _one(
        self,
        trigger_id: str,
        event: _Event,
        now: datetime,
        launch: Launcher,
        run_status: Callable[[str], str],
    ) -> Firing | None:
        with self._db.session() as session:
            row = session.get(TriggerRow, trigger_id)
            if row is None:
                return None
            trigger = self._record(session, row)
            last_firing = row.last_firing_id
            last_launch = row.last_launch_at
        running = False
        if trigger.last_run_id is not None:
            try:
                running = run_status(trigger.last_run_id) == "running"
            except NotFound:
                running = False
        recent = last_launch is not None and now - last_launch < timedelta(seconds=trigger.debounce)
        coalesce = last_firing is not None and (running or recent)
        firing_id = new_id()
        try:
            with self._db.transaction() as session:
                session.add(
                    FiringRow(
                        id=firing_id,
                        trigger_id=trigger_id,
                        trigger_version=trigger.version,
                        event_key=event.key[:300],
                        event=json.dumps(event.payload, sort_keys=True, default=str),
                        status="coalesced" if coalesce else "launched",
                        coalesced_into=last_firing if coalesce else None,
                        fired_at=now,
                    )
                )
                session.flush()
                if coalesce:
                    target = session.get(FiringRow, last_firing)
                    if target is not None:
                        target.coalesced += 1
                else:
                    # This firing is now the trigger's launch: later events coalesce into it.
                    held = session.get(TriggerRow, trigger_id)
                    if held is not None:
                        held.last_firing_id = firing_id
                        held.last_launch_at = now
                        held.last_fired_at = now
                        held.last_run_id = None
        except IntegrityError:
            return None  # this event was fired already (another controller, or a retry)
        where = _describe(trigger, event.payload)
        if coalesce:
            reason = (
                "its last launch is still running"
                if running
                else (f"it launched less than {trigger.debounce:g} s ago")
            )
            self._timeline.record(
                trigger.project,
                "trigger_coalesced",
                f"Trigger {trigger.name!r} saw {where}; coalesced into its last launch ({reason}).",
                figures={"event": event.payload},
                trigger=trigger.name,
                firing_id=firing_id,
                run_id=trigger.last_run_id,
                alert_id=_alert_id(trigger, event.payload),
            )
            with self._db.session() as session:
                return _firing(trigger.project, trigger.name, session.get(FiringRow, firing_id))
        return self._launch(trigger, firing_id, event, where, launch)

    def _launch(
        self, trigger: Trigger, firing_id: str, event: _Event, where: str, launch: Launcher
    ) -> Firing:
        run_id: str | None = None
        error = ""
        params: dict[str, Any] = {}
        broken = False
        try:
            params = map_params(
                trigger.params,
                event.payload,
                {"name": trigger.name, "version": trigger.version, "id": trigger.id},
            )
            tags = {TRIGGER_TAG: trigger.name, FIRING_TAG: firing_id}
            run_id = launch(
                trigger.project, trigger.template, params, trigger.template_version, tags
            ).id
        except NotFound as exc:
            error, broken = f"{type(exc).__name__}: {exc}", True
        except Exception as exc:  # noqa: BLE001 - recorded on the firing; the others go on
            error = f"{type(exc).__name__}: {exc}"
        with self._db.transaction() as session:
            firing = session.get(FiringRow, firing_id)
            assert firing is not None
            firing.params = json.dumps(params, sort_keys=True, default=str)
            firing.run_id = run_id
            if run_id is None:
                firing.status, firing.error = "failed", error[:20_000]
            row = session.get(TriggerRow, trigger.id)
            if row is not None:
                if run_id is not None:
                    row.last_run_id = run_id
                    if row.state == "broken":
                        row.state, row.problem = "ok", ""
                else:
                    row.last_launch_at = None  # a failed launch debounces nothing
                    row.last_firing_id = None
                    if broken:
                        row.state = "broken"
                        row.problem = (
                            f"Template {trigger.template!r} (version {trigger.template_version}) "
                            f"could not be found: {error}. Publish it again, or edit the "
                            f"trigger, then resume it."
                        )[:5000]
                        row.seq += 1
            session.flush()
            record = _firing(trigger.project, trigger.name, firing)
        links: dict[str, Any] = {
            "trigger": trigger.name,
            "firing_id": firing_id,
            "alert_id": _alert_id(trigger, event.payload),
        }
        if run_id is not None:
            self._timeline.record(
                trigger.project,
                "trigger_fired",
                f"Trigger {trigger.name!r} fired on {where}.",
                figures={"event": event.payload},
                **links,
            )
            self._timeline.record(
                trigger.project,
                "run_launched",
                f"Launched {trigger.template} (version {trigger.template_version}) as run "
                f"{run_id}.",
                figures={"params": params},
                run_id=run_id,
                **links,
            )
        else:
            log.warning("Trigger %s could not launch %s: %s", trigger.name, trigger.template, error)
            self._timeline.record(
                trigger.project,
                "trigger_failed",
                f"Trigger {trigger.name!r} fired on {where} but could not launch "
                f"{trigger.template}: {error}",
                figures={"event": event.payload, "error": error},
                **links,
            )
            if broken:
                self._timeline.record(
                    trigger.project,
                    "trigger_broken",
                    f"Trigger {trigger.name!r} is broken and stops firing: its template "
                    f"{trigger.template!r} is gone. Publish it again or edit the trigger, then "
                    f"resume it.",
                    trigger=trigger.name,
                )
        return record

    # -- rows and records ----------------------------------------------------------------------

    def ids(self) -> builtins.list[str]:
        """The ids of the enabled, working triggers that watch for events (all projects)."""
        with self._db.session() as session:
            return list(
                session.scalars(
                    select(TriggerRow.id)
                    .where(
                        TriggerRow.enabled.is_(True),
                        TriggerRow.state == "ok",
                        TriggerRow.kind != "manual",
                    )
                    .order_by(TriggerRow.created_at)
                )
            )

    def _find(self, session: Session, project_id: str, name: str) -> TriggerRow | None:
        return session.scalars(
            select(TriggerRow).where(TriggerRow.project_id == project_id, TriggerRow.name == name)
        ).one_or_none()

    def _row(self, session: Session, project_id: str, name: str) -> TriggerRow:
        row = self._find(session, project_id, name) if isinstance(name, str) else None
        if row is None:
            names = session.scalars(
                select(TriggerRow.name).where(TriggerRow.project_id == project_id)
            ).all()
            raise NotFound(
                f"Trigger {name!r} not found in project "
                f"{self._projects.get_by_id(project_id).name!r}.{did_you_mean(str(name), names)}"
            )
        return row

    def _record(self, session: Session, row: TriggerRow) -> Trigger:
        return Trigger(
            id=row.id,
            project=self._projects.get_by_id(row.project_id).name,
            name=row.name,
            version=row.version,
            kind=row.kind,  # type: ignore[arg-type]
            template=row.template,
            template_version=row.template_version,
            params=json.loads(row.params),
            config=json.loads(row.config),
            debounce=row.debounce,
            enabled=row.enabled,
            state=row.state,
            problem=row.problem,
            created_at=row.created_at,
            updated_at=row.updated_at,
            created_by=row.created_by,
            description=row.description,
            next_fire_at=row.next_fire_at,
            last_fired_at=row.last_fired_at,
            last_run_id=row.last_run_id,
        )


def _definition_of(row: TriggerRow) -> dict[str, Any]:
    return {
        "kind": row.kind,
        "template": row.template,
        "template_version": row.template_version,
        "params": json.loads(row.params),
        "config": json.loads(row.config),
        "debounce": row.debounce,
        "description": row.description,
    }


def _firing(project: str, trigger: str, row: FiringRow | None) -> Firing:
    assert row is not None
    return Firing(
        id=row.id,
        project=project,
        trigger=trigger,
        trigger_version=row.trigger_version,
        event_key=row.event_key,
        event=json.loads(row.event),
        status=row.status,  # type: ignore[arg-type]
        fired_at=row.fired_at,
        run_id=row.run_id,
        error=row.error,
        coalesced_into=row.coalesced_into,
        coalesced=row.coalesced,
        params=json.loads(row.params),
    )


def _cron_events(
    config: Mapping[str, Any], expected: datetime | None, now: datetime
) -> tuple[builtins.list[_Event], dict[str, Any], datetime | None]:
    """The one firing due at ``now`` (the latest due time; the ones missed are counted)."""
    if expected is None or expected > now:
        return [], {}, expected
    _, next_firings, _ = _cron()
    cron, timezone = config["cron"], config.get("timezone") or "UTC"
    fire_at, missed = expected, 0
    following = next_firings(cron, timezone, expected)[0]
    while following <= now and missed < 10_000:
        fire_at, missed = following, missed + 1
        following = next_firings(cron, timezone, following)[0]
    payload = {"fire_at": fire_at.astimezone(UTC).isoformat(), "missed": missed}
    return [_Event(f"cron:{payload['fire_at']}", payload)], {}, following


def _version_payload(version: Any, alias: str | None) -> dict[str, Any]:
    return {
        "dataset": version.dataset,
        "version": version.number,
        "version_id": version.id,
        "alias": alias,
        "digest": version.digest,
        "message": version.message,
    }


def _since(cursor: Mapping[str, Any]) -> datetime | None:
    since = cursor.get("since")
    return datetime.fromisoformat(since) if since else None


def _alert_events(
    alerts: builtins.list[Any], config: Mapping[str, Any], cursor: dict[str, Any]
) -> tuple[builtins.list[_Event], dict[str, Any]]:
    """Alerts that started firing since the cursor and match the trigger's filters."""
    since = _since(cursor)
    seen = set(cursor.get("seen", []))
    events: builtins.list[_Event] = []
    latest = since
    at_latest: set[str] = set(seen)
    for alert in sorted(alerts, key=lambda a: (a.fired_at, str(a.id))):
        fired_at = alert.fired_at
        if since is not None and (
            fired_at < since or (fired_at == since and str(alert.id) in seen)
        ):
            continue
        if len(events) >= MAX_EVENTS_A_TICK and latest is not None and fired_at > latest:
            break  # the cursor stops here: the rest come next tick, none is skipped
        if latest is None or fired_at > latest:
            latest, at_latest = fired_at, set()
        at_latest.add(str(alert.id))
        if any(
            config.get(k) and str(getattr(alert, k, "")) != config[k]
            for k in ("monitor", "rule", "endpoint")
        ):
            continue
        payload = {
            "id": str(alert.id),
            "monitor": str(getattr(alert, "monitor", "")),
            "rule": str(getattr(alert, "rule", "")),
            "endpoint": getattr(alert, "endpoint", None),
            "metric": getattr(alert, "metric", None),
            "value": getattr(alert, "value", None),
            "threshold": getattr(alert, "threshold", None),
            "fired_at": fired_at.isoformat(),
            "message": str(getattr(alert, "message", "")),
        }
        events.append(_Event(f"alert:{alert.id}", payload))
    new_cursor = {"since": latest.isoformat() if latest else None, "seen": sorted(at_latest)}
    return events, new_cursor


def _alert_id(trigger: Trigger, payload: Mapping[str, Any]) -> str | None:
    return str(payload["id"]) if trigger.kind == "alert" and "id" in payload else None


def _describe(trigger: Trigger, payload: Mapping[str, Any]) -> str:
    if trigger.kind == "cron":
        missed = payload.get("missed", 0)
        extra = f" ({missed} earlier firings folded in)" if missed else ""
        return f"its schedule ({payload.get('fire_at')}){extra}"
    if trigger.kind == "dataset":
        if payload.get("alias"):
            return (
                f"alias {payload['alias']!r} of dataset {payload['dataset']!r} moving to "
                f"v{payload['version']}"
            )
        return f"dataset {payload['dataset']!r} v{payload['version']}"
    if trigger.kind == "alert":
        what = f"{payload.get('monitor')}/{payload.get('rule')}: {payload.get('message')}"
        return f"alert {payload.get('id')} ({what})"
    return f"a manual firing by {payload.get('actor', 'someone')}"
