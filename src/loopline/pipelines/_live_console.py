"""A step's console output, kept whole for the step's end and shipped to its run as it grows.

Wherever a step runs (a worker process here, an agent's task process, a Ray worker), what it
prints goes to its tracked run's console every :data:`SHIP_INTERVAL` seconds, so the run's
console in the UI follows the step while it runs. At the step's end the whole text is stored as
the run's ``console.log`` (as before), and the live pieces are dropped.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable

from loopline.errors import Conflict, InvalidInput

__all__ = ["LiveConsole", "SHIP_INTERVAL"]

log = logging.getLogger("loopline.pipelines")

SHIP_INTERVAL = 1.0
"""Seconds between shipments: how far behind the step a live view of its console is."""
_PIECE = 512 * 1024  # the most bytes in one shipment (a server takes pieces up to 1 MiB)
_JOIN_TIMEOUT = 5.0

Ship = Callable[[int, bytes], None]
"""Takes new output and its byte offset in the log; raises to have it offered again later."""


class LiveConsole(io.StringIO):
    """A text buffer (what ``redirect_stdout`` writes into) that ships what it gained.

    Args:
        ship: called from a thread of its own with new output and its byte offset; when it
            raises, the same output is offered again next time, and after a ``Conflict`` or an
            ``InvalidInput`` (the run ended, the log is full) never again. None: keep only.

    Example:
        >>> console = LiveConsole(lambda offset, data: backend.append_console(run_id, offset, data))
        >>> with console, contextlib.redirect_stdout(console):
        ...     train()
        >>> console.getvalue()
    """

    def __init__(self, ship: Ship | None = None, *, interval: float = SHIP_INTERVAL) -> None:
        super().__init__()
        self._ship = ship
        self._interval = interval
        self._lock = threading.Lock()
        self._sent_chars = 0  # characters of the text shipped so far
        self._sent_bytes = 0  # their UTF-8 length: the offset of the next piece
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def write(self, text: str) -> int:
        with self._lock:
            return super().write(text)

    def text(self) -> str:
        with self._lock:
            return self.getvalue()

    def __enter__(self) -> LiveConsole:
        if self._ship is not None:
            self._thread = threading.Thread(
                target=self._loop, name="loopline-step-console", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            # A shipment under way finishes (it is short); the whole text is stored at the end.
            self._thread.join(timeout=_JOIN_TIMEOUT)
        self._thread = None

    def _loop(self) -> None:
        while not self._done.wait(self._interval):
            self.ship_new_output()

    def ship_new_output(self) -> None:
        """Hand what the text gained since the last shipment to ``ship``."""
        ship = self._ship
        if ship is None:
            return
        text = self.text()
        new = text[self._sent_chars :]
        while new:
            piece = new[: _PIECE // 4]  # at most 4 bytes a character: under _PIECE bytes
            data = piece.encode("utf-8", "backslashreplace")
            try:
                ship(self._sent_bytes, data)
            except (Conflict, InvalidInput) as exc:
                log.debug("step console no longer shipped: %s", exc)
                self._ship = None
                return
            except Exception as exc:  # noqa: BLE001 - the store is away: offered again later
                log.debug("step console not shipped this time: %s", exc)
                return
            self._sent_chars += len(piece)
            self._sent_bytes += len(data)
            new = new[len(piece) :]
