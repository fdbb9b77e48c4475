"""Notifications when a pipeline run ends: the Notifier protocol, its registry, the webhook.

A notifier is named in a :class:`Notify` (``"webhook"``, or a name registered with
:func:`register_notifier`) and built from its ``config`` when a run ends. Delivery happens in a
thread of its own: a slow or failing receiver never delays or fails the run, and the process
waits for deliveries in flight before it exits (each one is bounded by its timeout and retries).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from functools import partial
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import or_, select

from loopline.db import Database
from loopline.errors import InvalidInput, NotFound, did_you_mean
from loopline.pipelines._tables import NotificationRow
from loopline.pipelines._types import (
    END_STATUSES,
    NotificationRecord,
    Notify,
    PipelineRunRecord,
    RunEvent,
)
from loopline.projects import ProjectService
from loopline.projects._webhooks import in_background, post_json, wait_for_deliveries

__all__ = [
    "Notifier",
    "NotificationService",
    "WebhookNotifier",
    "register_notifier",
    "notifier_class",
    "check_notify",
    "deliver",
    "wait_for_deliveries",
    "webhook",
    "add_notification",
    "ENTRY_POINT_GROUP",
]

log = logging.getLogger("loopline.pipelines")

ENTRY_POINT_GROUP = "loopline.notifiers"

# name -> "module:Class". Imported only when a run ends with a notifier of that name.
_NOTIFIERS: dict[str, str] = {"webhook": "loopline.pipelines._notify:WebhookNotifier"}


@runtime_checkable
class Notifier(Protocol):
    """Told when a pipeline run ends. Built with the ``config`` of its :class:`Notify` as
    keyword arguments; ``notify`` may take its time (it runs in a thread of its own) and
    should not raise (what it raises is logged and dropped).

    Example:
        >>> class Printer:
        ...     def __init__(self, prefix: str = "") -> None:
        ...         self.prefix = prefix
        ...     def notify(self, event: RunEvent) -> None:
        ...         print(self.prefix, event.pipeline, event.status)
        >>> ll.pipelines.register_notifier("printer", "myproject.notifiers:Printer")
    """

    def notify(self, event: RunEvent) -> None: ...


def register_notifier(name: str, path: str) -> None:
    """Make ``Notify(name, ...)`` build the class at ``path`` (``"module:Class"``), imported
    when first needed. Packages can also declare an entry point in ``loopline.notifiers``.

    Example:
        >>> ll.pipelines.register_notifier("printer", "myproject.notifiers:Printer")
    """
    module, sep, attr = path.partition(":")
    if not name or not sep or not module or not attr:
        raise InvalidInput(f"Register a notifier as name -> 'module:Class', not {path!r}.")
    _NOTIFIERS[name] = path


def _known() -> dict[str, str]:
    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return {**found, **_NOTIFIERS}


def notifier_class(name: str) -> type[Any]:
    """The class registered as ``name``, imported now.

    Raises:
        InvalidInput: no notifier has that name (with a suggestion), or it cannot be imported.
    """
    known = _known()
    if name not in known:
        raise InvalidInput(
            f"No notifier called {name!r} (known: {', '.join(sorted(known))})."
            f"{did_you_mean(name, known)} Register one with "
            "ll.pipelines.register_notifier(name, 'module:Class').",
            details={"field": "notifier"},
        )
    module, _, attr = known[name].partition(":")
    try:
        cls: type[Any] = getattr(import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(
            f"Notifier {name!r} is registered as {known[name]!r}, which cannot be imported: {exc}."
        ) from exc
    return cls


def check_notify(spec: Notify) -> Notify:
    """``spec`` checked now (known notifier, settings it accepts, run endings), so that a
    mistake shows when it is attached, not silently when a run ends."""
    if not isinstance(spec, Notify):
        raise InvalidInput(f"Attach a Notify (e.g. ll.pipelines.webhook(url)), not {spec!r}.")
    bad = [s for s in spec.on if s not in END_STATUSES]
    if bad or not spec.on:
        raise InvalidInput(
            f"A notification is sent on {', '.join(END_STATUSES)} (one or more), "
            f"not {bad or '[]'}.",
            details={"field": "on"},
        )
    try:
        json.dumps(spec.config)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"A notifier's config is JSON data: {exc}.", details={"field": "config"}
        ) from exc
    cls = notifier_class(spec.notifier)
    try:
        cls(**spec.config)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"Notifier {spec.notifier!r} does not accept config {spec.config!r}: {exc}",
            details={"field": "config"},
        ) from exc
    return Notify(spec.notifier, dict(spec.config), tuple(dict.fromkeys(spec.on)))


class WebhookNotifier:
    """POSTs the event as JSON to ``url``; retries connection errors and 429/5xx answers with
    exponential backoff (``backoff``, 2x, ...), each attempt bounded by ``timeout`` seconds.

    Example:
        >>> WebhookNotifier("http://127.0.0.1:9000/hook").notify(event)
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
        headers: dict[str, str] | None = None,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"a webhook url is http(s)://..., not {url!r}")
        if timeout <= 0 or retries < 0 or backoff < 0:
            raise ValueError("timeout > 0, retries >= 0 and backoff >= 0, please")
        self.url = url
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.headers = dict(headers or {})

    def notify(self, event: RunEvent) -> None:
        post_json(
            self.url,
            _event_json(event),
            timeout=self.timeout,
            retries=self.retries,
            backoff=self.backoff,
            headers=self.headers,
            what=f"run {event.run_id}",
        )


def webhook(
    url: str,
    *,
    on: tuple[str, ...] | list[str] = END_STATUSES,
    timeout: float = 5.0,
    retries: int = 3,
    headers: dict[str, str] | None = None,
) -> Notify:
    """A :class:`Notify` for the built-in webhook: a JSON POST to ``url`` when a run ends
    with a status in ``on``.

    Example:
        >>> ll.pipelines.webhook("https://chat.example/hook", on=["failed", "stopped"])
    """
    config: dict[str, Any] = {"url": url, "timeout": timeout, "retries": retries}
    if headers:
        config["headers"] = dict(headers)
    return Notify("webhook", config, tuple(on))


def _event_json(event: RunEvent) -> dict[str, Any]:
    data = asdict(event)
    for key in ("started_at", "ended_at"):
        if data[key] is not None:
            data[key] = data[key].isoformat()
    return {"event": "pipeline_run.ended", **data}


def _send(spec: Notify, event: RunEvent) -> None:
    try:
        notifier_class(spec.notifier)(**spec.config).notify(event)
    except Exception:
        log.warning("Notifier %r failed for run %s.", spec.notifier, event.run_id, exc_info=True)


def deliver(specs: list[Notify], event: RunEvent) -> None:
    """Send ``event`` to each of ``specs`` whose ``on`` has its status, each in a thread.

    The threads are not daemons: a script whose run just ended still tells its webhook before
    the interpreter exits (at most each notifier's timeout x attempts later).
    """
    for spec in specs:
        if event.status not in spec.on:
            continue
        in_background(partial(_send, spec, event), f"loopline-notify-{event.run_id[:8]}")


class NotificationService:
    """Notifications attached to pipelines, schedules and runs, and sending them when a run
    ends. Owned by :class:`~loopline.pipelines.PipelineService` (``service.notifications``).

    Example:
        >>> svc.attach("demo", webhook("http://127.0.0.1:9000/hook"), pipeline="training")
    """

    def __init__(self, db: Database, projects: ProjectService) -> None:
        self._db = db
        self._projects = projects

    def attach(
        self,
        project: str,
        spec: Notify,
        *,
        pipeline: str | None = None,
        schedule: str | None = None,
        run: str | None = None,
    ) -> NotificationRecord:
        """Attach ``spec`` to exactly one of a pipeline (by name), a schedule or a run."""
        if sum(x is not None for x in (pipeline, schedule, run)) != 1:
            raise InvalidInput(
                "Attach a notification to one of: a pipeline, a schedule or a run.",
                details={"field": "target"},
            )
        spec = check_notify(spec)
        project_row = self._projects.ensure(project) if pipeline else self._projects.get(project)
        with self._db.transaction() as session:
            row = NotificationRow(
                project_id=project_row.id,
                pipeline=pipeline,
                schedule_id=schedule,
                run_id=run,
                notifier=spec.notifier,
                config=json.dumps(spec.config, sort_keys=True),
                events=json.dumps(list(spec.on)),
            )
            session.add(row)
            session.flush()
            return _notification(row, project)

    def attached(
        self,
        project: str,
        *,
        pipeline: str | None = None,
        schedule: str | None = None,
        run: str | None = None,
    ) -> list[NotificationRecord]:
        """Notifications of ``project`` (those attached to this pipeline, schedule or run)."""
        project_row = self._projects.get(project)
        query = select(NotificationRow).where(NotificationRow.project_id == project_row.id)
        if pipeline is not None:
            query = query.where(NotificationRow.pipeline == pipeline)
        if schedule is not None:
            query = query.where(NotificationRow.schedule_id == schedule)
        if run is not None:
            query = query.where(NotificationRow.run_id == run)
        with self._db.session() as session:
            rows = session.scalars(query.order_by(NotificationRow.id)).all()
            return [_notification(r, project) for r in rows]

    def detach(self, notification_id: int) -> None:
        with self._db.transaction() as session:
            row = session.get(NotificationRow, int(notification_id))
            if row is None:
                raise NotFound(f"Notification {notification_id} not found.")
            session.delete(row)

    def run_ended(self, record: PipelineRunRecord, schedule: str | None) -> None:
        """Send the notifications that concern ``record`` (ended) in background threads."""
        project_row = self._projects.get(record.project)
        targets = [
            NotificationRow.run_id == record.id,
            NotificationRow.pipeline == record.pipeline,
        ]
        if schedule:
            targets.append(NotificationRow.schedule_id == schedule)
        with self._db.session() as session:
            rows = session.scalars(
                select(NotificationRow)
                .where(NotificationRow.project_id == project_row.id, or_(*targets))
                .order_by(NotificationRow.id)
            ).all()
            specs = [_notification(r, record.project).notify for r in rows]
        if not specs:
            return
        event = RunEvent(
            run_id=record.id,
            project=record.project,
            pipeline=record.pipeline,
            status=record.status,
            started_at=record.started_at,
            ended_at=record.ended_at,
            params=dict(record.params),
            link=f"/ui/runs/{record.id}",
            schedule=schedule,
        )
        deliver(specs, event)


def _notification(row: NotificationRow, project: str) -> NotificationRecord:
    return NotificationRecord(
        id=row.id,
        project=project,
        notify=Notify(row.notifier, json.loads(row.config), tuple(json.loads(row.events))),
        pipeline=row.pipeline,
        schedule=row.schedule_id,
        run=row.run_id,
    )


def add_notification(
    notify: Notify,
    *,
    pipeline: str | None = None,
    run: str | None = None,
    project: str | None = None,
    client: Any = None,
) -> NotificationRecord:
    """Tell ``notify`` when runs of pipeline (or template) ``pipeline`` end, or when run
    ``run`` ends. Schedules take theirs in ``ll.pipelines.schedule(..., notify=[...])``, and a
    launch in ``ll.launch(..., notify=[...])``.

    Example:
        >>> ll.pipelines.add_notification(ll.pipelines.webhook(url, on=["failed"]),
        ...                               pipeline="digits-training")
    """
    from loopline.pipelines._context import default_client

    client = client if client is not None else default_client()
    record: NotificationRecord = client._backend.attach_pipeline_notification(
        project or client.settings.project, notify, pipeline=pipeline, run=run
    )
    return record
