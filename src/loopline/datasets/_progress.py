"""Progress bars for long transfers: shown only when they help.

A bar appears once an operation has taken more than :data:`SHOW_AFTER` seconds, and only when
stderr is a terminal and progress is not switched off (``LOOPLINE_QUIET``); it is transient
(gone when the operation ends), so logs and pipes never see it.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import Any

__all__ = ["SHOW_AFTER", "ByteProgress"]

SHOW_AFTER = 1.0
"""Seconds an operation runs before its progress bar appears."""


class ByteProgress:
    """Counts bytes (and files) done out of a total; thread-safe; a context manager.

    Example:
        >>> with ByteProgress("Hashing", total_bytes=10, files=1, enabled=False) as bar:
        ...     bar.advance(10, files=1)
        >>> bar.done_bytes
        10
    """

    def __init__(
        self, label: str, *, total_bytes: int, files: int, enabled: bool | None = None
    ) -> None:
        self.label = label
        self.total_bytes = total_bytes
        self.files = files
        self.done_bytes = 0
        self.done_files = 0
        self._enabled = _stderr_is_terminal() if enabled is None else enabled
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._bar: Any = None
        self._task: Any = None

    def advance(self, nbytes: int, files: int = 0) -> None:
        with self._lock:
            self.done_bytes += nbytes
            self.done_files += files
            if not self._enabled:
                return
            if self._bar is None:
                if time.monotonic() - self._started < SHOW_AFTER:
                    return
                self._start()
            self._bar.update(
                self._task,
                completed=self.done_bytes,
                description=f"{self.label} {self.done_files:,}/{self.files:,} files",
            )

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task(self.label, total=max(self.total_bytes, 1))

    def __enter__(self) -> ByteProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.stop()
                self._bar = None


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
