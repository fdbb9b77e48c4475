"""Monitors: stored checks of an endpoint run on a cron schedule, their time series, alerts.

A monitor run looks at one window of the endpoint's traffic (the time since its previous run,
or a declared length), measures drift, live quality and latency per model version (see
:mod:`loopline.monitoring._checks`), stores each figure as a row of a time series, then reads
its alert rules: a rule that holds for ``for_windows`` consecutive windows with data fires an
alert; the first window with data where it stops holding resolves it. Windows without data
change nothing (no flapping). Each transition is made by one conditional write, so however
many processes run monitors, an alert fires once and its webhooks are told once.

Schedulers claim a due run as pipeline schedules do: one conditional UPDATE moves
``next_run_at`` on from the value both read; only its winner runs the monitor.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from loopline.db import Database, new_id, utcnow
from loopline.errors import InvalidInput, LooplineError, NotFound, did_you_mean
from loopline.monitoring._checks import (
    Figure,
    OperationsSource,
    Window,
    check_drift_options,
    check_quality_options,
    drift_figures,
    latency_figures,
    missing_reference,
    quality_figures,
)
from loopline.monitoring._tables import AlertRow, MonitorResultRow, MonitorRow, MonitorRunRow
from loopline.monitoring._types import (
    AlertRecord,
    AlertRule,
    MonitorRecord,
    MonitorResult,
    MonitorRunRecord,
)
from loopline.projects import ProjectService, validate_name
from loopline.projects._cron import check_cron, check_timezone, next_firings
from loopline.projects._webhooks import in_background, post_json

if TYPE_CHECKING:
    from loopline.blobs import BlobStore
    from loopline.datasets import DatasetService
    from loopline.monitoring._drift import DriftReport
    from loopline.monitoring._evaluation import EvaluationStore
    from loopline.monitoring._reference import ReferenceProfile
    from loopline.registry import RegistryService

__all__ = ["MonitorService", "check_notify"]

log = logging.getLogger("loopline.monitoring")

MAX_RESULTS = 10_000
CHECKS = ("drift", "quality", "latency")
_WEBHOOK_KEYS = frozenset({"url", "headers", "timeout", "retries", "backoff"})


def check_notify(items: Sequence[Any]) -> list[dict[str, Any]]:
    """Webhooks to tell of alerts: URLs, ``{"url": ..., "headers": ..., "timeout": ...,
    "retries": ..., "backoff": ...}``, or ``ll.pipelines.webhook(url)``."""
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, str):
            config: dict[str, Any] = {"url": item}
        elif isinstance(item, Mapping):
            config = dict(item)
        elif getattr(item, "notifier", None) == "webhook" and isinstance(
            getattr(item, "config", None), Mapping
        ):
            config = {k: v for k, v in item.config.items() if k in _WEBHOOK_KEYS}
        else:
            raise InvalidInput(
                f"notify takes webhook URLs (or {{'url': ...}}), not {item!r}.",
                details={"field": "notify"},
            )
        unknown = sorted(set(config) - _WEBHOOK_KEYS)
        url = config.get("url")
        if unknown or not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidInput(
                f"A webhook is an http(s):// URL with optional headers, timeout, retries and "
                f"backoff, not {item!r}.",
                details={"field": "notify"},
            )
        out.append(config)
    json.dumps(out)
    return out


def _check_options(name: str, value: Any) -> dict[str, Any] | None:
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(
            f"{name}: True, False, or a mapping of options; not {value!r}.", details={"field": name}
        )
    if name == "drift":
        return check_drift_options(value)
    if name == "quality":
        return check_quality_options(value)
    if value:
        raise InvalidInput("latency takes no options (True or False).", details={"field": name})
    return {}


class MonitorService:
    """Monitors of a database: make, list, run them; their results and alerts.

    Args:
        evaluations: the prediction and label logs.
        registry, datasets, blobs: where reference profiles come from (a model version's
            training profile, or a named dataset version's).
        operations: the serving side's requests, errors and latency (see
            :class:`~loopline.monitoring._checks.OperationsSource`); without it, the latency
            of logged predictions.

    Example:
        >>> svc.create("demo", "churn", "churn-api", schedule="*/15 * * * *")
        >>> svc.run("demo", "churn").status
        'ok'
    """

    def __init__(
        self,
        db: Database,
        projects: ProjectService,
        evaluations: EvaluationStore,
        *,
        registry: RegistryService | None = None,
        datasets: DatasetService | None = None,
        blobs: Callable[[], BlobStore] | None = None,
        operations: OperationsSource | None = None,
    ) -> None:
        self._db = db
        self._projects = projects
        self._evaluations = evaluations
        self._registry = registry
        self._datasets = datasets
        self._blobs = blobs
        self._operations = operations
        self._profiles: dict[tuple[str, str, int | None], ReferenceProfile] = {}

    # -- monitors -------------------------------------------------------------------------------

    def create(
        self,
        project: str,
        name: str,
        endpoint: str,
        *,
        schedule: str = "*/15 * * * *",
        timezone: str = "UTC",
        window: timedelta | int | None = None,
        drift: bool | Mapping[str, Any] = True,
        quality: bool | Mapping[str, Any] = True,
        latency: bool | Mapping[str, Any] = True,
        rules: Sequence[AlertRule | Mapping[str, Any] | str] = (),
        notify: Sequence[Any] = (),
        enabled: bool = True,
        created_by: str = "",
        now: datetime | None = None,
    ) -> MonitorRecord:
        """Make monitor ``name`` of ``endpoint``, or change it (its results and alerts stay)."""
        from loopline.monitoring._evaluation import validate_endpoint_name

        validate_name(name, "monitor", "churn-drift")
        validate_endpoint_name(endpoint)
        schedule = check_cron(schedule)
        check_timezone(timezone)
        seconds = _window_seconds(window)
        checks = {
            c: _check_options(c, v) for c, v in zip(CHECKS, (drift, quality, latency), strict=True)
        }
        if all(v is None for v in checks.values()):
            raise InvalidInput("A monitor checks something: drift, quality or latency.")
        parsed = [AlertRule.from_dict(r) for r in rules]
        names = [r.name for r in parsed]
        if len(set(names)) != len(names):
            raise InvalidInput(f"Two alert rules are named the same: {names}.")
        hooks = check_notify(notify)
        project_row = self._projects.ensure(project)
        first = next_firings(schedule, timezone, now or utcnow())[0] if enabled else None
        with self._db.transaction() as session:
            row = session.scalars(
                select(MonitorRow).where(
                    MonitorRow.project_id == project_row.id, MonitorRow.name == name
                )
            ).one_or_none()
            if row is None:
                row = MonitorRow(id=new_id(), project_id=project_row.id, name=name, status="never",
                                 created_by=created_by)  # fmt: skip
                session.add(row)
            elif (row.schedule, row.timezone, row.enabled) == (schedule, timezone, enabled):
                first = row.next_run_at  # the same schedule: keep its next run
            row.endpoint = endpoint
            row.schedule = schedule
            row.timezone = timezone
            row.window_seconds = seconds
            row.checks = json.dumps(checks, sort_keys=True)
            row.rules = json.dumps([r.to_dict() for r in parsed])
            row.notify = json.dumps(hooks)
            row.enabled = bool(enabled)
            row.next_run_at = first
        return self.get(project, name)

    def get(self, project: str, name: str) -> MonitorRecord:
        project_row = self._projects.get(project)
        with self._db.session() as session:
            return self._record(session, self._row(session, project_row.id, project, name))

    def of_project(self, project: str) -> list[MonitorRecord]:
        """The monitors of ``project``, by name."""
        project_row = self._projects.get(project)
        with self._db.session() as session:
            rows = session.scalars(
                select(MonitorRow)
                .where(MonitorRow.project_id == project_row.id)
                .order_by(MonitorRow.name)
            ).all()
            return [self._record(session, r) for r in rows]

    def set_enabled(
        self, project: str, name: str, enabled: bool, *, now: datetime | None = None
    ) -> MonitorRecord:
        """Pause (no next run) or resume (next run after now) a monitor."""
        project_row = self._projects.get(project)
        with self._db.transaction() as session:
            row = self._row(session, project_row.id, project, name)
            if row.enabled != enabled:
                row.enabled = bool(enabled)
                row.next_run_at = (
                    next_firings(row.schedule, row.timezone, now or utcnow())[0]
                    if enabled
                    else None
                )
        return self.get(project, name)

    def delete(self, project: str, name: str) -> None:
        """Delete a monitor with its runs, results and alerts."""
        project_row = self._projects.get(project)
        with self._db.transaction() as session:
            row = self._row(session, project_row.id, project, name)
            for table in (AlertRow, MonitorResultRow):
                session.execute(delete(table).where(table.monitor_id == row.id))
            session.execute(delete(MonitorRunRow).where(MonitorRunRow.monitor_id == row.id))
            session.execute(delete(MonitorRow).where(MonitorRow.id == row.id))

    # -- what schedulers call -------------------------------------------------------------------

    def due(self, now: datetime) -> list[tuple[str, datetime]]:
        """(id, next run) of the enabled monitors due at ``now``."""
        with self._db.session() as session:
            rows = session.execute(
                select(MonitorRow.id, MonitorRow.next_run_at)
                .where(MonitorRow.enabled.is_(True), MonitorRow.next_run_at <= now)
                .order_by(MonitorRow.next_run_at)
            ).all()
        return [(r[0], r[1]) for r in rows if r[1] is not None]

    def claim(self, monitor_id: str, expected: datetime, now: datetime) -> tuple[str, str] | None:
        """Take the run due at ``expected`` (as :meth:`due` read it): (project, name), or
        ``None`` when another scheduler took it (or the monitor changed) first. Runs missed
        while nothing ran fold into this one (its window reaches back to the previous run)."""
        with self._db.session() as session:
            row = session.get(MonitorRow, monitor_id)
            if row is None:
                return None
            following = next_firings(row.schedule, row.timezone, now)[0]
            project = self._projects.get_by_id(row.project_id).name
            name = row.name
        with self._db.transaction() as session:
            moved = session.execute(
                update(MonitorRow)
                .where(
                    MonitorRow.id == monitor_id,
                    MonitorRow.enabled.is_(True),
                    MonitorRow.next_run_at == expected,
                )
                .values(next_run_at=following)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                return None
        return project, name

    # -- running --------------------------------------------------------------------------------

    def run(
        self, project: str, name: str, *, now: datetime | None = None, trigger: str = "manual"
    ) -> MonitorRunRecord:
        """Run monitor ``name`` once over the window ending ``now``: store its figures, then
        fire or resolve its alerts. A check that fails is recorded as the run's error for that
        check; the others still run."""
        now = now or utcnow()
        project_row = self._projects.get(project)
        with self._db.session() as session:
            row = self._row(session, project_row.id, project, name)
            monitor = self._record(session, row)
            last_end = row.last_window_end
        start = _window_start(monitor, last_end, now)
        window = Window(project, monitor.endpoint, start, now)
        run_id = new_id()
        with self._db.transaction() as session:
            session.add(
                MonitorRunRow(id=run_id, monitor_id=monitor.id, window_start=start,
                              window_end=now, started_at=utcnow(), status="running",
                              trigger=trigger[:20])
            )  # fmt: skip
        try:
            figures, errors = self._measure(monitor, window)
        except Exception as exc:  # an I/O or engine failure: the run ends, recorded as such
            log.exception("monitor %s/%s failed", project, name)
            figures, errors = [], {"run": f"{type(exc).__name__}: {exc}"[:2000]}
        has_data = any(f.status == "ok" for f in figures)
        status = "error" if errors else ("ok" if has_data else "no data")
        with self._db.transaction() as session:
            session.add_all(
                MonitorResultRow(run_id=run_id, monitor_id=monitor.id, check=f.check,
                                 metric=f.metric, model=f.model, version=f.version,
                                 window_start=start, window_end=now, value=f.value,
                                 status=f.status, message=f.message[:4000], report=f.report)
                for f in figures
            )  # fmt: skip
            run_row = session.get(MonitorRunRow, run_id)
            assert run_row is not None
            run_row.status = status
            run_row.finished_at = utcnow()
            run_row.errors = json.dumps(errors)
            # The window only moves forward: a run racing another never moves it back.
            moved = MonitorRow.last_window_end.is_(None) | (MonitorRow.last_window_end < now)
            session.execute(
                update(MonitorRow)
                .where(MonitorRow.id == monitor.id, moved)
                .values(last_run_at=now, last_window_end=now, status=status)
                .execution_options(synchronize_session=False)
            )
        touched = self._judge(monitor, window, now)
        return self._run_record(project, monitor, run_id, touched)

    def _measure(
        self, monitor: MonitorRecord, window: Window
    ) -> tuple[list[Figure], dict[str, str]]:
        figures: list[Figure] = []
        errors: dict[str, str] = {}
        try:
            logged = self._evaluations.predictions(
                window.project, window.endpoint, start=window.start, end=window.end
            )
        except LooplineError as exc:
            return [], {"logs": str(exc)}
        primary = logged[logged["route"] == "primary"]
        checks: list[tuple[str, Callable[[], list[Figure]]]] = []
        if monitor.drift is not None:
            options = monitor.drift
            checks.append(("drift", lambda: drift_figures(
                self._evaluations, window, options, self._reference, self._save_report, primary
            )))  # fmt: skip
        if monitor.quality is not None:
            quality = monitor.quality
            checks.append(("quality", lambda: quality_figures(window, quality, primary)))
        if monitor.latency is not None:
            checks.append(("latency", lambda: latency_figures(window, self._operations, logged)))
        for check, measure in checks:
            try:
                figures += measure()
            except Exception as exc:  # one failing check must not stop the others
                errors[check] = f"{type(exc).__name__}: {exc}"
                figures += getattr(exc, "figures", None) or [
                    Figure(check, _first_metric(check), None, status="error", message=str(exc))
                ]
                if not isinstance(exc, LooplineError):
                    log.warning("Monitor %s: the %s check failed.", monitor.name, check,
                                exc_info=True)  # fmt: skip
        return figures, errors

    def _reference(self, project: str, model: str, version: int | None) -> ReferenceProfile:
        from loopline.monitoring._reference import ReferenceProfile

        key = (project, model, version)
        if key in self._profiles:
            return self._profiles[key]
        if model.startswith("dataset:"):
            dataset = model.removeprefix("dataset:")
            if self._datasets is None:
                raise InvalidInput("This monitor service reads no datasets.")
            found = self._datasets.profile(
                project, dataset, "latest" if version is None else version
            )
            if found is None:
                raise NotFound(
                    f"Dataset {dataset!r} (version {version or 'latest'}) has no stored profile "
                    f"(no Parquet or CSV files) to compare with."
                )
            profile = ReferenceProfile.from_dataset_profile(found)
        else:
            if self._registry is None or self._blobs is None or version is None:
                raise missing_reference(project, model, version)
            record = self._registry.version(project, model, version)
            if record.profile_digest is None:
                raise missing_reference(project, model, version)
            data = json.loads(self._blobs().get_bytes(record.profile_digest))
            profile = ReferenceProfile.from_dataset_profile(data)
        if version is not None:  # "latest" may move on; fixed versions never change
            self._profiles[key] = profile
        return profile

    def _save_report(self, report: DriftReport) -> str:
        if self._blobs is None:
            return ""
        return self._blobs().put_bytes(report.to_html().encode("utf-8")).digest

    # -- alerts ---------------------------------------------------------------------------------

    def _judge(self, monitor: MonitorRecord, window: Window, now: datetime) -> list[str]:
        touched: list[str] = []
        for rule in monitor.rules:
            try:
                changed = self._judge_rule(monitor, rule, window, now)
            except Exception:
                log.warning("Monitor %s: rule %r could not be judged.", monitor.name, rule.name,
                            exc_info=True)  # fmt: skip
                continue
            if changed is not None:
                touched.append(changed.id)
                self._tell(monitor, changed)
        return touched

    def _judge_rule(
        self, monitor: MonitorRecord, rule: AlertRule, window: Window, now: datetime
    ) -> AlertRecord | None:
        with self._db.session() as session:
            rows = session.execute(
                select(MonitorResultRow.run_id, MonitorResultRow.window_start,
                       MonitorResultRow.window_end, MonitorResultRow.model,
                       MonitorResultRow.version, MonitorResultRow.value)
                .where(MonitorResultRow.monitor_id == monitor.id,
                       MonitorResultRow.metric == rule.metric,
                       MonitorResultRow.status == "ok")
                .order_by(MonitorResultRow.window_end.desc(), MonitorResultRow.id)
                .limit(200 * rule.for_windows)
            ).all()  # fmt: skip
            open_row = session.scalars(
                select(AlertRow).where(AlertRow.open_key == _open_key(monitor.id, rule.name))
            ).one_or_none()
            open_id = open_row.id if open_row is not None else None
        # Windows with data, newest first: [(end, {model vN: value})].
        windows: list[tuple[datetime, datetime, dict[str, float]]] = []
        for run_id, start, end, model, version, value in rows:
            if value is None:
                continue
            if not windows or windows[-1][1] != end:
                if len(windows) == rule.for_windows:
                    break
                windows.append((start, end, {}))
            label = f"{model} v{version}" if model else "endpoint"
            windows[-1][2][label] = float(value)
            del run_id
        if not windows or windows[0][1] != window.end:
            return None  # this window has no data for the rule: nothing changes
        worst = [rule.worst(list(values.values())) for _, _, values in windows]
        holds_now = rule.holds(worst[0])
        full = len(windows) == rule.for_windows
        if open_id is None and full and all(rule.holds(w) for w in worst):
            return self._fire(monitor, rule, window, now, worst, windows)
        if open_id is not None and not holds_now:
            return self._resolve(open_id, now)
        return None

    def _fire(
        self,
        monitor: MonitorRecord,
        rule: AlertRule,
        window: Window,
        now: datetime,
        worst: list[float],
        windows: list[tuple[datetime, datetime, dict[str, float]]],
    ) -> AlertRecord | None:
        values = windows[0][2]
        culprits = [k for k, v in values.items() if rule.holds(v)]
        message = (
            f"{monitor.name} on {monitor.endpoint}: {rule.metric} = {worst[0]:.4g} "
            f"({', '.join(culprits)}), {rule.op} {rule.value:g}"
            + (f" for {rule.for_windows} windows" if rule.for_windows > 1 else "")
        )
        figures = {
            "rule": rule.to_dict(),
            "values": values,
            "windows": [
                {"start": s.isoformat(), "end": e.isoformat(), "values": v} for s, e, v in windows
            ],
        }
        project_row = self._projects.get(monitor.project)
        alert_id = new_id()
        try:
            with self._db.transaction() as session:
                session.add(
                    AlertRow(id=alert_id, project_id=project_row.id, monitor_id=monitor.id,
                             rule=rule.name, endpoint=monitor.endpoint, state="firing",
                             metric=rule.metric, value=worst[0], threshold=rule.value,
                             fired_at=now, resolved_at=None, window_start=window.start,
                             window_end=window.end, message=message,
                             figures=json.dumps(figures, sort_keys=True),
                             open_key=_open_key(monitor.id, rule.name))
                )  # fmt: skip
        except IntegrityError:
            return None  # another process fired it first (and tells the webhooks)
        return self._alert(alert_id)

    def _resolve(self, alert_id: str, now: datetime) -> AlertRecord | None:
        with self._db.transaction() as session:
            moved = session.execute(
                update(AlertRow)
                .where(AlertRow.id == alert_id, AlertRow.state == "firing")
                .values(state="resolved", resolved_at=now, open_key=None)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                return None
        return self._alert(alert_id)

    def _tell(self, monitor: MonitorRecord, alert: AlertRecord) -> None:
        if not monitor.notify:
            return
        body = {
            "event": f"alert.{alert.state}",
            "alert": alert_json(alert),
            "link": f"/ui/projects/{alert.project}/alerts",
        }
        for hook in monitor.notify:
            options: dict[str, Any] = {
                k: hook[k] for k in ("timeout", "retries", "backoff") if k in hook
            }

            def send(hook: dict[str, Any] = hook, options: dict[str, Any] = options) -> None:
                post_json(hook["url"], body, headers=hook.get("headers"),
                          what=f"alert {alert.id}", **options)  # fmt: skip

            in_background(send, f"loopline-alert-{alert.id[:8]}")

    def alerts(
        self,
        project: str,
        *,
        since: datetime | None = None,
        state: str | None = None,
        monitor: str | None = None,
        limit: int = 100,
    ) -> list[AlertRecord]:
        """Alerts of ``project``, oldest first: fired after ``since`` (exclusive), in
        ``state`` (``firing`` or ``resolved``), of one ``monitor``; at most ``limit``."""
        if state is not None and state not in ("firing", "resolved"):
            raise InvalidInput(f"state is 'firing' or 'resolved', not {state!r}.")
        project_row = self._projects.get(project)
        query = (
            select(AlertRow, MonitorRow.name)
            .join(MonitorRow, MonitorRow.id == AlertRow.monitor_id)
            .where(AlertRow.project_id == project_row.id)
        )
        if since is not None:
            query = query.where(AlertRow.fired_at > since)
        if state is not None:
            query = query.where(AlertRow.state == state)
        if monitor is not None:
            query = query.where(MonitorRow.name == monitor)
        limit = max(1, min(int(limit), MAX_RESULTS))
        with self._db.session() as session:
            rows = session.execute(
                query.order_by(AlertRow.fired_at, AlertRow.id).limit(limit)
            ).all()
            return [_alert_record(r[0], project, r[1]) for r in rows]

    def _alert(self, alert_id: str) -> AlertRecord:
        with self._db.session() as session:
            row = session.get(AlertRow, alert_id)
            if row is None:
                raise NotFound(f"Alert {alert_id} not found.")
            monitor = session.get(MonitorRow, row.monitor_id)
            assert monitor is not None
            project = self._projects.get_by_id(row.project_id).name
            return _alert_record(row, project, monitor.name)

    # -- results --------------------------------------------------------------------------------

    def runs(self, project: str, name: str, limit: int = 50) -> list[MonitorRunRecord]:
        """The monitor's runs, newest first, with their figures."""
        monitor = self.get(project, name)
        with self._db.session() as session:
            ids = session.scalars(
                select(MonitorRunRow.id)
                .where(MonitorRunRow.monitor_id == monitor.id)
                .order_by(MonitorRunRow.window_end.desc(), MonitorRunRow.started_at.desc())
                .limit(max(1, min(int(limit), 1000)))
            ).all()
        return [self._run_record(project, monitor, i, []) for i in ids]

    def results(
        self,
        project: str,
        name: str,
        *,
        metric: str | None = None,
        since: datetime | None = None,
        limit: int = MAX_RESULTS,
    ) -> list[MonitorResult]:
        """The monitor's figures, oldest window first: the time series the UI charts."""
        monitor = self.get(project, name)
        query = select(MonitorResultRow).where(MonitorResultRow.monitor_id == monitor.id)
        if metric is not None:
            query = query.where(MonitorResultRow.metric == metric)
        if since is not None:
            query = query.where(MonitorResultRow.window_end > since)
        limit = max(1, min(int(limit), MAX_RESULTS))
        with self._db.session() as session:
            rows = session.scalars(
                query.order_by(MonitorResultRow.window_end.desc(), MonitorResultRow.id).limit(limit)
            ).all()
            return [_result(r) for r in reversed(rows)]

    def report(
        self, project: str, name: str, run_id: str, *, model: str | None = None,
        version: int | None = None,
    ) -> str:  # fmt: skip
        """The HTML drift report of one run (of one model version when it served several)."""
        monitor = self.get(project, name)
        with self._db.session() as session:
            query = select(MonitorResultRow.report).where(
                MonitorResultRow.monitor_id == monitor.id,
                MonitorResultRow.run_id == run_id,
                MonitorResultRow.report.is_not(None),
                MonitorResultRow.report != "",
            )
            if model is not None:
                query = query.where(MonitorResultRow.model == model)
            if version is not None:
                query = query.where(MonitorResultRow.version == version)
            digest = session.scalars(query.order_by(MonitorResultRow.id).limit(1)).first()
        if digest is None or self._blobs is None:
            raise NotFound(
                f"Run {run_id[:40]!r} of monitor {name!r} has no drift report (it found no "
                f"data, or drift is not checked)."
            )
        return self._blobs().get_bytes(digest).decode("utf-8")

    # -- rows and records -----------------------------------------------------------------------

    def _row(self, session: Any, project_id: str, project: str, name: str) -> MonitorRow:
        row = session.scalars(
            select(MonitorRow).where(MonitorRow.project_id == project_id, MonitorRow.name == name)
        ).one_or_none()
        if row is None:
            known = session.scalars(
                select(MonitorRow.name).where(MonitorRow.project_id == project_id)
            ).all()
            raise NotFound(
                f"Monitor {name!r} not found in project {project!r}.{did_you_mean(name, known)}"
            )
        return row  # type: ignore[no-any-return]

    def _record(self, session: Any, row: MonitorRow) -> MonitorRecord:
        checks = json.loads(row.checks)
        open_alerts = session.scalar(
            select(func.count())
            .select_from(AlertRow)
            .where(AlertRow.monitor_id == row.id, AlertRow.state == "firing")
        )
        return MonitorRecord(
            id=row.id,
            project=self._projects.get_by_id(row.project_id).name,
            name=row.name,
            endpoint=row.endpoint,
            schedule=row.schedule,
            timezone=row.timezone,
            window_seconds=row.window_seconds,
            drift=checks.get("drift"),
            quality=checks.get("quality"),
            latency=checks.get("latency"),
            rules=[AlertRule.from_dict(r) for r in json.loads(row.rules)],
            notify=json.loads(row.notify),
            enabled=row.enabled,
            next_run_at=row.next_run_at,
            last_run_at=row.last_run_at,
            status=row.status,
            open_alerts=int(open_alerts or 0),
            created_at=row.created_at,
            created_by=row.created_by,
        )

    def _run_record(
        self, project: str, monitor: MonitorRecord, run_id: str, alerts: list[str]
    ) -> MonitorRunRecord:
        with self._db.session() as session:
            row = session.get(MonitorRunRow, run_id)
            if row is None:
                raise NotFound(f"Monitor run {run_id} not found.")
            results = session.scalars(
                select(MonitorResultRow)
                .where(MonitorResultRow.run_id == run_id)
                .order_by(MonitorResultRow.id)
            ).all()
            return MonitorRunRecord(
                id=row.id,
                project=project,
                monitor=monitor.name,
                endpoint=monitor.endpoint,
                window_start=row.window_start,
                window_end=row.window_end,
                started_at=row.started_at,
                finished_at=row.finished_at,
                status=row.status,
                trigger=row.trigger,
                errors=json.loads(row.errors),
                results=[_result(r) for r in results],
                alerts=list(alerts),
            )


def _first_metric(check: str) -> str:
    return {"drift": "drift_share", "quality": "labelled", "latency": "requests"}[check]


def _open_key(monitor_id: str, rule: str) -> str:
    return f"{monitor_id}:{rule}"[:300]


def _window_seconds(window: timedelta | int | None) -> int | None:
    if window is None:
        return None
    seconds = window.total_seconds() if isinstance(window, timedelta) else window
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise InvalidInput(f"window: a timedelta or a number of seconds, not {window!r}.")
    if not math.isfinite(seconds) or seconds < 1 or seconds > 366 * 86400:
        raise InvalidInput(
            f"window: between 1 second and a year, not {window!r}.", details={"field": "window"}
        )
    return int(seconds)


def _window_start(monitor: MonitorRecord, last_end: datetime | None, now: datetime) -> datetime:
    if monitor.window_seconds is not None:
        return now - timedelta(seconds=monitor.window_seconds)
    if last_end is not None and last_end < now:
        return last_end
    # The first run: one period of the schedule.
    first, second = next_firings(monitor.schedule, monitor.timezone, now, 2)
    return now - (second - first)


def _result(row: MonitorResultRow) -> MonitorResult:
    return MonitorResult(
        run_id=row.run_id,
        check=row.check,
        metric=row.metric,
        model=row.model,
        version=row.version,
        window_start=row.window_start,
        window_end=row.window_end,
        value=row.value,
        status=row.status,  # type: ignore[arg-type]
        message=row.message,
        report=row.report or None,
    )


def _alert_record(row: AlertRow, project: str, monitor: str) -> AlertRecord:
    return AlertRecord(
        id=row.id,
        project=project,
        monitor=monitor,
        rule=row.rule,
        endpoint=row.endpoint,
        state=row.state,  # type: ignore[arg-type]
        metric=row.metric,
        value=row.value,
        threshold=row.threshold,
        fired_at=row.fired_at,
        resolved_at=row.resolved_at,
        window_start=row.window_start,
        window_end=row.window_end,
        message=row.message,
        figures=json.loads(row.figures),
    )


def alert_json(alert: AlertRecord) -> dict[str, Any]:
    """An alert as JSON data (times in ISO 8601), as webhooks receive it."""
    from dataclasses import asdict

    data = asdict(alert)
    for key in ("fired_at", "resolved_at", "window_start", "window_end"):
        if data[key] is not None:
            data[key] = data[key].isoformat()
    return data
