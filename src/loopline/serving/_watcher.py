"""The inference server's control thread: follows the endpoint's revisions, ships logs and
statistics.

Every ``poll_seconds`` it asks which revision to serve. A new one is built off the event loop:
models that the current revision already has are reused (a change of weights loads nothing),
new ones are loaded and warmed up on their input example, and only then is the new route table
swapped in. A model that fails to load marks the revision ``failed`` with the reason, and the
current table keeps serving; the watcher does not retry that revision. If Loopline cannot be
reached, the server keeps answering from what it has and tries again with backoff.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING

from loopline.errors import NotFound
from loopline.serving._routes import Handle, MicroBatcher, RouteTable
from loopline.serving._runner import ModelRunner
from loopline.serving._types import Revision

if TYPE_CHECKING:
    import pyarrow as pa

    from loopline.serving._server import InferenceServer

__all__ = ["Watcher"]

log = logging.getLogger("loopline.serving")
_MAX_BACKOFF = 30.0
_MAX_UNSENT = 20
_CONVERT_SECONDS = 0.25
"""How often waiting log entries become Arrow tables between two shipments: short bursts of
work beside the event loop (a few ms each) instead of one long one, and few Python objects
left waiting for the garbage collector to walk."""


class Watcher:
    """Runs beside the event loop of one :class:`InferenceServer`."""

    def __init__(self, server: InferenceServer) -> None:
        self._server = server
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failed: str | None = None
        self._failed_number: int | None = None
        self.worker = server.options.worker or f"{socket.gethostname()}:{os.getpid()}"
        self.loaded = threading.Event()
        self._unsent: list[pa.Table] = []
        self._converted: list[pa.Table] = []
        self._shipping = threading.Lock()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, name=f"loopline-serve-{self._server.endpoint}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()

    # -- the loop -------------------------------------------------------------------------------

    def _run(self) -> None:
        options = self._server.options
        next_poll = next_log = next_stats = next_convert = 0.0
        backoff = options.poll_seconds
        warmed = False
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_poll:
                try:
                    self.poll()
                    if not warmed and self._server.table is not None:
                        # What logging a batch needs, imported once the models serve rather
                        # than in the first flush: a long import holds the GIL, and the first
                        # flush happens under traffic.
                        import pyarrow.parquet  # noqa: F401

                        if options.freeze_heap:
                            gc.freeze()  # pyarrow too is there for good
                        warmed = True
                    backoff = options.poll_seconds
                except Exception as exc:  # noqa: BLE001 - keep serving; try again later
                    log.warning(
                        "cannot reach Loopline for endpoint %s: %s", self._server.endpoint, exc
                    )
                    backoff = min(backoff * 2, _MAX_BACKOFF)
                next_poll = time.monotonic() + backoff
            if now >= next_log or self._server.telemetry.pending_predictions() > 20_000:
                self._ship_predictions()
                next_log = time.monotonic() + options.log_seconds
            elif now >= next_convert:
                self._convert_predictions()
            if now >= next_convert:
                next_convert = time.monotonic() + _CONVERT_SECONDS
            if now >= next_stats:
                self._ship_stats()
                next_stats = time.monotonic() + options.stats_seconds
            wait = min(next_poll, next_log, next_stats, next_convert) - time.monotonic()
            self._stop.wait(max(0.01, min(wait, 0.5)))

    def flush(self) -> None:
        """Ship whatever logs and statistics are waiting (at shutdown, and in tests)."""
        while self._server.telemetry.pending_predictions() or self._converted:
            if not self._ship_predictions():
                break
        self._ship_stats()

    def poll(self) -> None:
        """Move to the endpoint's target revision if it is not the one served."""
        server = self._server
        try:
            endpoint = server.control.endpoint(server.project, server.endpoint)
        except NotFound:
            if server.table is not None:
                log.warning("endpoint %s was deleted; no longer answering", server.endpoint)
            server.table = None
            self.failed = f"endpoint {server.endpoint!r} does not exist (deleted?)"
            return
        target = endpoint.target
        current = server.table
        if current is not None and current.revision.number == target.number:
            return
        if target.number == self._failed_number:
            return
        try:
            table = self.build(target, current)
        except Exception as exc:  # noqa: BLE001 - any load failure fails the revision, not the server
            reason = f"{type(exc).__name__}: {exc}"
            log.error(
                "revision %s of %s failed to load: %s", target.number, server.endpoint, reason
            )
            self.failed = f"revision {target.number} failed to load: {reason}"
            self._failed_number = target.number
            server.control.mark(server.project, server.endpoint, target.number, "failed", reason)
            return
        if server.options.freeze_heap:
            # The new models (and what loading them imported) are long-lived: out of the
            # collector's way before they serve (see ServeOptions.freeze_heap).
            gc.freeze()
        server.install(table)
        self.failed = None
        self.loaded.set()
        log.info("endpoint %s now serves revision %s", server.endpoint, target.number)
        server.control.mark(server.project, server.endpoint, target.number, "live")

    def build(self, revision: Revision, current: RouteTable | None) -> RouteTable:
        """The route table of ``revision``, reusing the models ``current`` has loaded."""
        server = self._server
        spec = revision.spec
        reusable = {} if current is None else current.models()
        handles = []
        for route in spec.routes:
            assert route.version is not None, "revisions pin their versions"
            key = f"{route.name}/{route.version}"
            old = reusable.get(key)
            if old is not None:
                runner = old.rebatched(spec.batching)
            else:
                model = server.control.load_model(route.pinned_in(server.project))
                runner = ModelRunner(model, route.name, route.version, spec.batching)
                runner.warm_up()
            handle = Handle(runner=runner, weight=route.weight, shadow=route.shadow)
            if runner.batchable:
                handle.batcher = MicroBatcher(handle, self._on_batch)
            handles.append(handle)
        return RouteTable(revision, handles)

    def _on_batch(self, handle: Handle, rows: int) -> None:
        runner = handle.runner
        self._server.telemetry.observe_batch(runner.label, runner.name, str(runner.version), rows)

    # -- shipping -------------------------------------------------------------------------------

    def _ship_predictions(self) -> bool:
        with self._shipping:
            return self._ship_predictions_locked()

    def _convert_predictions(self) -> None:
        with self._shipping:
            table = self._server.telemetry.drain_predictions()
            if table is not None:
                self._converted.append(table)

    def _ship_predictions_locked(self) -> bool:
        server = self._server
        table = server.telemetry.drain_predictions()
        if table is not None:
            self._converted.append(table)
        if self._converted:
            self._unsent.extend(_joined(self._converted))
            self._converted = []
        while self._unsent:
            try:
                server.control.log_predictions(server.project, server.endpoint, self._unsent[0])
            except Exception as exc:  # noqa: BLE001 - logs must never stop serving
                log.warning("could not log %d predictions: %s", self._unsent[0].num_rows, exc)
                del self._unsent[:-_MAX_UNSENT]  # keep the newest few batches for a retry
                return False
            self._unsent.pop(0)
        return True

    def _ship_stats(self) -> None:
        with self._shipping:
            self._ship_stats_locked()

    def _ship_stats_locked(self) -> None:
        server = self._server
        windows = server.telemetry.drain_windows()
        if not windows:
            return
        try:
            server.control.report_stats(server.project, server.endpoint, self.worker, windows)
        except Exception as exc:  # noqa: BLE001 - keep them for the next report
            log.warning("could not report statistics: %s", exc)
            server.telemetry.restore_windows(windows)


def _joined(tables: list[pa.Table]) -> list[pa.Table]:
    """``tables`` as one table (one file in the evaluation store), or as they are when their
    columns do not agree (a model whose answers changed type, say)."""
    if len(tables) == 1:
        return tables
    import pyarrow as pa

    try:
        return [pa.concat_tables(tables, promote_options="default")]
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return tables
