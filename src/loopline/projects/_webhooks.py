"""Webhook delivery shared by every domain that tells the outside world something (pipeline
run endings, monitoring alerts): a JSON POST retried with backoff, sent from a thread of its
own so the sender never waits, and a way to wait for deliveries in flight before exiting.

Example:
    >>> in_background(lambda: post_json("http://127.0.0.1:9000/hook", {"event": "x"}), "demo")
    >>> wait_for_deliveries(10.0)
    True
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["post_json", "in_background", "wait_for_deliveries"]

log = logging.getLogger("loopline.webhooks")

_deliveries: set[threading.Thread] = set()
_lock = threading.Lock()


def post_json(
    url: str,
    body: Any,
    *,
    timeout: float = 5.0,
    retries: int = 3,
    backoff: float = 0.5,
    headers: Mapping[str, str] | None = None,
    what: str = "an event",
) -> bool:
    """POST ``body`` as JSON to ``url``; retry connection errors and 429/5xx answers with
    exponential backoff (``backoff``, 2x, ...), each attempt bounded by ``timeout`` seconds.
    Answer whether the receiver took it. Never raises for the receiver's sake: failures are
    logged (``what`` names the event in the log)."""
    import httpx

    problem = ""
    for attempt in range(retries + 1):
        try:
            answer = httpx.post(url, json=body, headers=dict(headers or {}), timeout=timeout)
            if answer.status_code < 400:
                return True
            if answer.status_code != 429 and answer.status_code < 500:
                log.warning("Webhook %s refused %s: %s", url, what, answer)
                return False  # a 4xx other than 429 will not get better by asking again
            problem = f"HTTP {answer.status_code}"
        except httpx.HTTPError as exc:
            problem = repr(exc)
        if attempt < retries:
            time.sleep(backoff * 2**attempt)
    log.warning(
        "Webhook %s not told of %s after %d attempts (%s).", url, what, retries + 1, problem
    )
    return False


def in_background(target: Callable[[], object], name: str) -> threading.Thread:
    """Run ``target`` in a (non-daemon) thread of its own, tracked so that
    :func:`wait_for_deliveries` can wait for it; what it raises is logged and dropped."""

    def run() -> None:
        try:
            target()
        except Exception:
            log.warning("A delivery (%s) failed.", name, exc_info=True)
        finally:
            with _lock:
                _deliveries.discard(threading.current_thread())

    thread = threading.Thread(target=run, name=name)
    with _lock:
        _deliveries.add(thread)
    thread.start()
    return thread


def wait_for_deliveries(timeout: float | None = None) -> bool:
    """Wait for deliveries in flight; answer whether all were done in time."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        with _lock:
            pending = list(_deliveries)
        if not pending:
            return True
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        pending[0].join(left)
