"""A background loop that calls ``tick()`` now and then every ``interval`` seconds.

The pipeline scheduler, the monitor scheduler and the automation controller each run one in
every server process; they differ only in what a tick does.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

__all__ = ["Ticker"]

log = logging.getLogger("loopline")


class Ticker:
    """Subclasses define ``tick()``; :meth:`start` runs it in a daemon thread until
    :meth:`stop`. A failing tick is logged and the loop goes on. A ticker stopped once (an
    app's earlier lifespan) can start again."""

    def __init__(self, interval: float, *, thread_name: str, what: str) -> None:
        self.interval = interval
        self._thread_name = thread_name
        self._what = what
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> Any:
        raise NotImplementedError

    def start(self) -> None:
        """Tick now, then every ``interval`` seconds, in a daemon thread."""
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while True:
                try:
                    self.tick()
                except Exception:
                    log.warning("The %s's tick failed.", self._what, exc_info=True)
                if self._stop.wait(self.interval):
                    return

        self._thread = threading.Thread(target=loop, name=self._thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
