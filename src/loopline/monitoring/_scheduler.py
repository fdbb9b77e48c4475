"""The monitor scheduler: runs due monitors on their cron schedules, in the server.

Any number of schedulers may run over one database (several server processes): each due
run is claimed by exactly one of them (see :meth:`MonitorService.claim`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from loopline.db import utcnow
from loopline.projects._ticker import Ticker

if TYPE_CHECKING:
    from loopline.monitoring._monitors import MonitorService
    from loopline.monitoring._types import MonitorRunRecord

__all__ = ["MonitorScheduler", "TICK_SECONDS"]

log = logging.getLogger("loopline.monitoring")

TICK_SECONDS = 20.0
"""How often the scheduler looks for due monitors (cron's resolution is a minute)."""


class MonitorScheduler(Ticker):
    """Runs due monitors: ``tick()`` once (tests drive it with their own ``now``), or
    ``start()`` a thread that ticks every ``interval`` seconds until ``stop()``.

    Example:
        >>> scheduler = MonitorScheduler(backend.monitors)
        >>> [r.monitor for r in scheduler.tick()]
        ['churn-drift']
    """

    def __init__(self, monitors: MonitorService, *, interval: float = TICK_SECONDS) -> None:
        super().__init__(interval, thread_name="loopline-monitors", what="monitor scheduler")
        self._monitors = monitors

    def tick(self, now: datetime | None = None) -> list[MonitorRunRecord]:
        """Run what is due at ``now`` (default: now) and this scheduler claims; answer the
        runs it made. One monitor that fails does not keep the others from running."""
        now = now or utcnow()
        made: list[MonitorRunRecord] = []
        for monitor_id, expected in self._monitors.due(now):
            try:
                claimed = self._monitors.claim(monitor_id, expected, now)
                if claimed is None:
                    continue  # another scheduler runs it
                made.append(self._monitors.run(*claimed, now=now, trigger="schedule"))
            except Exception:
                log.warning("Monitor %s could not run.", monitor_id, exc_info=True)
        return made
