"""Sign-in rate limits: a few failures, then a pause (in memory, per server process)."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from loopline.errors import QuotaExceeded

__all__ = ["LoginLimiter"]


class LoginLimiter:
    """At most ``attempts`` failed sign-ins per ``window`` seconds from one address and for one
    user name: enough for a typo or two, far too few to guess a password."""

    def __init__(self, attempts: int = 5, window: float = 60.0) -> None:
        self.attempts = attempts
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                recent = self._recent(key, now)
                if len(recent) >= self.attempts:
                    wait = int(self.window - (now - recent[0])) + 1
                    raise QuotaExceeded(
                        f"Too many failed sign-ins; try again in {wait} seconds.",
                        details={"retry_after": wait},
                    )

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def _recent(self, key: str, now: float) -> deque[float]:
        recent = self._failures.setdefault(key, deque())
        while recent and now - recent[0] > self.window:
            recent.popleft()
        return recent

    @classmethod
    def of(cls, state: Any) -> LoginLimiter:
        """The limiter kept on an app's ``state`` (the API and the UI share it)."""
        limiter = getattr(state, "login_limiter", None)
        if not isinstance(limiter, LoginLimiter):
            limiter = state.login_limiter = cls()
        return limiter
