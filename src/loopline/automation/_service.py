"""AutomationService and its controller: the closed loop's one entry for backends and servers.

``AutomationController.tick(now)`` does one round of the loop:

1. each working trigger reads its new events (cron due, dataset versions, alerts), claims them
   and launches its template (or coalesces them into the launch still running);
2. each active delivery whose observation window is over is judged on live figures, and
   promoted, moved from shadow to canary, or rolled back;
3. each passed gate with a registered challenger becomes a delivery (a shadow or a canary) to
   the endpoints whose policy serves the model (waiting while one is busy with another).

Servers run a controller in a thread next to the pipeline scheduler; embedded users call
``ll.automation.tick()`` or ``loopline automation run``. Any number of controllers
may run over one database: every step is claimed once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from loopline.automation._delivery import DeliveryService
from loopline.automation._gates import GateService
from loopline.automation._timeline import Timeline
from loopline.automation._triggers import AlertSource, Launcher, TriggerService
from loopline.automation._types import DECISIONS, Firing, LoopEvent, TickReport
from loopline.db import Database, utcnow
from loopline.errors import Conflict
from loopline.projects import ProjectService
from loopline.projects._ticker import Ticker

if TYPE_CHECKING:
    from loopline.config import Settings
    from loopline.datasets import DatasetService
    from loopline.monitoring import EvaluationStore
    from loopline.pipelines import PipelineRunRecord, PipelineService
    from loopline.registry import RegistryService
    from loopline.serving import ServingService

__all__ = ["AutomationService", "AutomationController", "TICK_SECONDS"]

log = logging.getLogger("loopline.automation")

TICK_SECONDS = 10.0
"""How often a server's controller runs a round of the loop."""


class AutomationService:
    """Triggers, gates, delivery policies, deliveries and the timeline, over one database.

    Example:
        >>> svc = backend.automation
        >>> svc.triggers.put("demo", "nightly", kind="cron", template="digits-training",
        ...                  config={"cron": "0 3 * * *"}, actor="ada")
    """

    def __init__(
        self,
        db: Database,
        projects: ProjectService,
        *,
        pipelines: PipelineService,
        datasets: DatasetService,
        serving: ServingService,
        registry: RegistryService,
        evaluations: Callable[[], EvaluationStore],
        alerts: AlertSource | None = None,
    ) -> None:
        self.db = db
        self.projects = projects
        self.pipelines = pipelines
        self.timeline = Timeline(db, projects)
        self.triggers = TriggerService(db, projects, pipelines, datasets, self.timeline)
        self.gates = GateService(db, projects, self.timeline, registry=registry)
        self.deliveries = DeliveryService(
            db, projects, serving, registry, evaluations, self.timeline
        )
        self.alerts = alerts

    def run_status(self, run_id: str) -> str:
        return self.pipelines.get_run(run_id).status

    def revert(self, event_id: int, *, actor: str, now: datetime | None = None) -> LoopEvent:
        """Undo decision ``event_id`` (see :meth:`DeliveryService.revert`).

        Raises:
            Conflict: the event is not a decision, or was reverted already.
        """
        event = self.timeline.get(event_id)
        if event.kind not in DECISIONS:
            raise Conflict(
                f"Event {event_id} is {event.kind!r}, not a decision; the decisions that can be "
                f"reverted are {', '.join(sorted(DECISIONS))}."
            )
        if event.reverted_by is not None:
            raise Conflict(f"Event {event_id} was reverted already, by event {event.reverted_by}.")
        return self.deliveries.revert(event, actor=actor, now=now or utcnow())


class AutomationController(Ticker):
    """Runs the loop: ``tick()`` once (tests pass their own ``now``), or ``start()`` a thread.

    Args:
        launch: how a trigger launches a template (default: as the server does, a driver
            process per run).
        alerts: where alert triggers read alerts from (default: the service's).

    Example:
        >>> controller = AutomationController(backend.automation, backend.settings)
        >>> controller.tick()
        TickReport(firings=1, events=3, errors=0)
    """

    def __init__(
        self,
        service: AutomationService,
        settings: Settings,
        *,
        interval: float = TICK_SECONDS,
        launch: Launcher | None = None,
        alerts: AlertSource | None = None,
    ) -> None:
        super().__init__(interval, thread_name="loopline-automation", what="automation controller")
        self.service = service
        self._settings = settings
        self._launch = launch or self._launch_template
        self._alerts = alerts
        self._lock = threading.Lock()

    def _launch_template(
        self,
        project: str,
        template: str,
        params: Mapping[str, Any],
        version: str,
        tags: Mapping[str, str],
    ) -> PipelineRunRecord:
        from loopline.pipelines._templates import launch_here

        return launch_here(
            self.service.pipelines, self._settings, project, template, params, version, tags=tags
        )

    @property
    def launch(self) -> Launcher:
        return self._launch

    def tick(self, now: datetime | None = None) -> TickReport:
        """One round of the loop at ``now``. A failure in one trigger or delivery is logged
        and recorded in the report; the others go on."""
        now = now or utcnow()
        service = self.service
        alerts = self._alerts or service.alerts
        firings: list[Firing] = []
        errors: list[str] = []
        with self._lock:
            mark = service.timeline.last_id()
            for trigger_id in service.triggers.ids():
                try:
                    firings += service.triggers.poll(
                        trigger_id, now, self._launch, service.run_status, alerts
                    )
                except Exception as exc:
                    log.warning("Trigger %s could not be polled.", trigger_id, exc_info=True)
                    errors.append(f"trigger {trigger_id}: {type(exc).__name__}: {exc}")
            for delivery_id in service.deliveries.active_ids():
                try:
                    service.deliveries.advance(delivery_id, now)
                except Exception as exc:
                    log.warning("Delivery %s could not advance.", delivery_id, exc_info=True)
                    errors.append(f"delivery {delivery_id}: {type(exc).__name__}: {exc}")
            for gate_id in service.deliveries.pending_gates():
                try:
                    service.deliveries.start(gate_id, now)
                except Exception as exc:
                    log.warning("Gate %s could not be delivered.", gate_id, exc_info=True)
                    errors.append(f"gate {gate_id}: {type(exc).__name__}: {exc}")
            events = service.timeline.after(mark)
        return TickReport(tuple(firings), tuple(events), tuple(errors))
