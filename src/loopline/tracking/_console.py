"""ConsoleCapture: tee this process's stdout and stderr into a log file while a run is going.

Everything printed still reaches the terminal unchanged; a copy of the text goes, as raw UTF-8 and
with stdout and stderr interleaved in the order they were written, into one file that a live view
can follow (it is flushed every half second, and on stop).

What is captured, and what is not:

- Writes through ``sys.stdout`` and ``sys.stderr`` (``print``, tracebacks, warnings, progress
  bars), text or bytes (``sys.stdout.buffer``), from any thread; and ``logging`` handlers that
  were writing to them when the capture started (they are pointed at the tee, and back at stop).
  Other objects that kept a reference to the original streams before the capture started (a
  ``tqdm`` bar made earlier, say) write past it.
- Not output written straight to file descriptors 1 and 2: a subprocess that inherits them, C or
  Fortran code calling ``printf``, ``faulthandler``. Capturing those needs ``os.dup2`` onto a pipe
  and a reader thread, which loses output if the process dies before the thread drains the pipe,
  and blocks every writer when the pipe fills; Loopline does not do that. Pass
  ``stdout=subprocess.PIPE`` and print what a subprocess says to have it captured.
- Not the output of a forked child (``multiprocessing`` with ``fork``): the child inherits the
  tee, which keeps writing to the terminal but records nothing (it has no flushing thread).

Order: the file has the writes in the order they were made, which is what the terminal shows
when both streams go to it unbuffered. Writes racing from two threads may reach the terminal and
the file in different orders (they are recorded, then forwarded, without a lock between); and a
block-buffered stdout (a pipe) shows its text later than stderr's, while the file keeps call order.
A process killed with SIGKILL loses at most the last half second of the file.

Two captures at once: each records into its own file. Started one inside the other, the inner one
wraps the outer one's streams, so the outer file also gets what was printed during the inner
capture, which is what a parent run's log should hold. Stopped out of order, the one stopped first
stops recording at once and turns into a pass-through that the other one unwraps when it stops, so
neither loses or duplicates text and the original streams come back in the end. Two captures must
not share one file: each buffers on its own, so their lines would mix.

Example::

    with ConsoleCapture(Path("run/console.log")) as console:
        print("epoch 1: loss 0.3")
    console.bytes_written  # 18
"""

from __future__ import annotations

import atexit
import contextlib
import io
import logging
import os
import sys
import threading
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, TextIO

from loopline.errors import Conflict, InvalidInput
from loopline.tracking._types import utf8_boundary

__all__ = ["ConsoleCapture", "FLUSH_INTERVAL", "SHIP_INTERVAL", "Ship"]

FLUSH_INTERVAL = 0.5
"""Seconds between flushes of the log file: how far behind the terminal a live view can be."""

SHIP_INTERVAL = 2.0
"""Seconds between shipments of new output to ``ship``: how far behind a remote live view is."""

Ship = Callable[[int, bytes], None]
"""Takes new output and its byte offset in the log; raises to have it offered again later."""

_SHIP_PIECE = 1024 * 1024  # the most bytes shipped in one call
SHIP_JOIN_TIMEOUT = 5.0
"""Seconds stop() waits for a shipment under way before leaving it behind."""
_QUEUE_LIMIT = 4_096  # pieces held before a write flushes without waiting for the timer
_ENCODING = "utf-8"
_ERRORS = "backslashreplace"  # lone surrogates from odd file names must not make a print fail

# Swapping sys.stdout/sys.stderr is a check-then-set: captures started from two threads at once
# must not both read the same original. Re-entrant, because a SIGTERM handler that ends the run
# (and stops its capture) may interrupt a start() or stop() in the same thread.
_swap_lock = threading.RLock()


class ConsoleCapture:
    """Tee ``sys.stdout`` and ``sys.stderr`` into the file at ``path`` (appended to).

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. The file gets the raw
    text, stdout and stderr interleaved in the order they were written; at most ``max_bytes`` of
    it, then one line saying the log was truncated (the terminal keeps getting everything). When
    the ``with`` block ends with an exception, its traceback (as Python is about to print it) is
    added to the file, since the interpreter prints it only after the capture has ended.

    Args:
        path: the log file; created with its parent folders, appended to if it exists.
        max_bytes: the most output (UTF-8 bytes) written to the file.
        ship: called from the flushing thread every :data:`SHIP_INTERVAL` seconds with the
            bytes added to the file since the last call and their offset (a run sends them to
            its store, so a live view can follow the run from elsewhere). When it raises, the
            same bytes are offered again next time, and after a ``Conflict`` never again.

    Attributes:
        path: the log file.
        max_bytes: the cap.

    Example::

        capture = ConsoleCapture(Path("console.log"), max_bytes=1_000_000).start()
        try:
            train()
        finally:
            capture.stop()
    """

    def __init__(
        self, path: Path | str, *, max_bytes: int = 10_000_000, ship: Ship | None = None
    ) -> None:
        if max_bytes < 0:
            raise InvalidInput(f"max_bytes must be 0 or more, not {max_bytes}.")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._ship = ship
        self._shipped = 0  # bytes of the file handed to ``ship`` so far
        self._sink: _Sink | None = None
        self._tees: dict[str, _Tee] = {}
        self._handlers: list[tuple[logging.StreamHandler[Any], _Tee]] = []
        # Where the last start/stop cycle left off: the cap covers the file, not one cycle.
        self._bytes_before = 0
        self._truncated_before = False
        self._stop_flushing = threading.Event()
        self._flusher: threading.Thread | None = None
        # Shipping is a network call when the store is a server: it has a thread of its own, so
        # a slow server never holds up the file's flushes (or the run's end, see stop()).
        self._shipper: threading.Thread | None = None
        self._ship_lock = threading.Lock()

    @property
    def bytes_written(self) -> int:
        """Bytes of output written (or about to be written) to the file, the notice excluded."""
        sink = self._sink
        return sink.bytes_written if sink is not None else self._bytes_before

    @property
    def truncated(self) -> bool:
        """Whether output was left out of the file because of ``max_bytes``."""
        sink = self._sink
        return sink.truncated if sink is not None else self._truncated_before

    @property
    def active(self) -> bool:
        """Between :meth:`start` and :meth:`stop`."""
        return self._sink is not None

    def start(self) -> ConsoleCapture:
        """Begin teeing; returns ``self``. Starting again after :meth:`stop` appends to the file.

        Raises:
            Conflict: this capture is running already.
        """
        with _swap_lock:
            if self._sink is not None:
                raise Conflict(f"The console capture into {self.path} is running already.")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            sink = _Sink(self.path, self.max_bytes, self._bytes_before, self._truncated_before)
            self._tees = {name: _Tee(getattr(sys, name), sink) for name in ("stdout", "stderr")}
            for name, tee in self._tees.items():
                setattr(sys, name, tee)
            self._handlers = _retarget_log_handlers(self._tees.values())
            self._sink = sink
        self._stop_flushing.clear()
        self._flusher = threading.Thread(
            target=self._flush_periodically, name="loopline-console", daemon=True
        )
        self._flusher.start()
        if self._ship is not None:
            self._shipper = threading.Thread(
                target=self._ship_periodically, name="loopline-console-ship", daemon=True
            )
            self._shipper.start()
        # A script that never calls stop() still gets its last lines written.
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        """Stop teeing, put the original streams back and flush the file. Safe to call twice.

        The original streams come back even if something replaced ``sys.stdout`` or
        ``sys.stderr`` meanwhile without restoring them, except when that something is another
        running capture (started after this one): it puts them back when it stops.
        """
        with _swap_lock:
            sink = self._sink
            if sink is None:
                return
            for name, tee in self._tees.items():
                tee.recording = False  # from now on a pass-through, wherever it is still referenced
                current = getattr(sys, name)
                if current is tee or not (isinstance(current, _Tee) and current.recording):
                    setattr(sys, name, _unwrap(tee.original))
            for handler, tee in self._handlers:
                if handler.stream is tee:
                    handler.setStream(_unwrap(tee))
            self._sink = None
            self._tees = {}
            self._handlers = []
        atexit.unregister(self.stop)
        self._stop_flushing.set()
        if self._flusher is not None and self._flusher is not threading.current_thread():
            self._flusher.join()
        self._flusher = None
        if self._shipper is not None and self._shipper is not threading.current_thread():
            # The whole log is stored when the run ends; a shipment stuck on an unreachable
            # server is not worth waiting for.
            self._shipper.join(timeout=SHIP_JOIN_TIMEOUT)
        self._shipper = None
        sink.close()
        self._bytes_before = sink.bytes_written
        self._truncated_before = sink.truncated

    def __enter__(self) -> ConsoleCapture:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        sink = self._sink
        if sink is not None and exc is not None and not isinstance(exc, SystemExit):
            # The terminal shows this traceback after we have stopped; the log should have it too.
            sink.queue.append("".join(traceback.format_exception(exc)))
        self.stop()

    def _flush_periodically(self) -> None:
        while not self._stop_flushing.wait(FLUSH_INTERVAL):
            sink = self._sink
            if sink is not None:
                sink.flush()

    def _ship_periodically(self) -> None:
        while not self._stop_flushing.wait(SHIP_INTERVAL):
            self.ship_new_output()

    def ship_new_output(self) -> None:
        """Hand what the file gained since the last shipment to ``ship`` (see the class)."""
        ship = self._ship
        if ship is None or not self._ship_lock.acquire(blocking=False):
            return  # nothing to ship to, or a shipment is under way already
        try:
            self._ship_pieces(ship)
        finally:
            self._ship_lock.release()

    def _ship_pieces(self, ship: Ship) -> None:
        try:
            with self.path.open("rb") as log:
                log.seek(self._shipped)
                while piece := log.read(_SHIP_PIECE):
                    ship(self._shipped, piece)
                    self._shipped += len(piece)
        except Conflict:
            self._ship = None  # the store will not take this log's pieces: stop offering them
        except Exception:  # noqa: BLE001 - a store that is away must never break the program's prints
            return

    def __repr__(self) -> str:
        state = "active" if self.active else "stopped"
        return f"<ConsoleCapture {str(self.path)!r} {state}, {self.bytes_written} bytes>"


def _retarget_log_handlers(tees: Iterable[_Tee]) -> list[tuple[logging.StreamHandler[Any], _Tee]]:
    """Point logging handlers that write to the original streams at the tees instead.

    ``logging.basicConfig()`` and ``StreamHandler()`` keep the ``sys.stderr`` of the moment they
    ran, usually before a run starts; without this their records would bypass the capture.
    """
    by_stream = {id(tee.original): tee for tee in tees if tee.original is not None}
    loggers = [logging.getLogger(), *list(logging.Logger.manager.loggerDict.values())]
    moved = []
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):  # placeholders have none
            if isinstance(handler, logging.StreamHandler):
                tee = by_stream.get(id(handler.stream))
                if tee is not None and handler.stream is tee.original:
                    handler.setStream(tee)
                    moved.append((handler, tee))
    return moved


def _unwrap(stream: Any) -> Any:
    """``stream`` without the stopped captures wrapped around it."""
    while isinstance(stream, _Tee) and not stream.recording:
        stream = stream.original
    return stream


# Forked children inherit the tees but not the flushing thread; they stop recording (module doc).
_sinks: weakref.WeakSet[_Sink] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for sink in list(_sinks):
        sink.forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _Sink:
    """The log file, fed by both tees of a capture through one queue, so their order is kept.

    Writers only append to a deque (atomic, no lock: a print costs little more than without a
    capture); the flushing thread, or a writer when many pieces are waiting, drains it, encodes,
    applies the cap and writes in one system call.
    """

    def __init__(self, path: Path, max_bytes: int, bytes_written: int, truncated: bool) -> None:
        self.queue: deque[str | bytes] = deque()
        # Re-entrant: a signal handler may flush while the interrupted code is flushing.
        self.lock = threading.RLock()
        self.bytes_written = bytes_written  # by earlier start/stop cycles of the same capture
        self.truncated = truncated
        self._max_bytes = max_bytes
        self._ends_with_newline = True
        self._file: io.FileIO | None = io.FileIO(path, "a")
        _sinks.add(self)

    def flush(self) -> None:
        with self.lock:
            data = self._drain()
            if data and self._file is not None:
                try:
                    view = memoryview(data)
                    while view:
                        view = view[self._file.write(view) or 0 :]
                except OSError:
                    # A full disk or a vanished folder must not break the program's prints: give
                    # up the log and keep teeing to the terminal.
                    self._file = None

    def close(self) -> None:
        with self.lock:
            self.flush()
            if self._file is not None:
                self._file.close()
                self._file = None

    def forget_after_fork(self) -> None:
        self.lock = threading.RLock()  # another thread may have held it at the fork
        self.queue.clear()  # the parent writes these
        self._file = None  # and the child writes nothing: flushes only empty the queue

    def _drain(self) -> bytes:
        queue = self.queue
        pieces = [queue.popleft() for _ in range(len(queue))]
        if not pieces or self._file is None or self.truncated:
            return b""
        room = self._max_bytes - self.bytes_written
        texts = [p for p in pieces if isinstance(p, str)]
        if len(texts) == len(pieces):  # the usual case: no one wrote to sys.stdout.buffer
            # A character is at least one byte, so room + 1 characters are enough to overflow.
            data = "".join(texts)[: room + 1].encode(_ENCODING, _ERRORS)
        else:
            data = b"".join(
                p.encode(_ENCODING, _ERRORS) if isinstance(p, str) else p for p in pieces
            )
        if len(data) > room:
            data = data[: utf8_boundary(data, room)]
            self.truncated = True
        self.bytes_written += len(data)
        if data:
            self._ends_with_newline = data.endswith(b"\n")
        if self.truncated:
            notice = (
                f"[loopline] The console log was truncated at {self._max_bytes:,} bytes; "
                "later output went to the terminal only.\n"
            ).encode(_ENCODING)
            data += notice if self._ends_with_newline else b"\n" + notice
        return data


class _Tee(io.TextIOBase):
    """Stands in for ``sys.stdout`` or ``sys.stderr``: forwards to the original, records a copy.

    The original may be ``None`` (``pythonw``, some services): then it records only. Anything
    else a program asks of the stream (``encoding``, ``isatty()``, ``fileno()``, ``reconfigure``)
    is the original's answer.
    """

    def __init__(self, original: TextIO | None, sink: _Sink) -> None:
        super().__init__()
        self.original = original
        self.recording = True
        self._sink = sink
        self._queue = sink.queue
        self._buffer: _BinaryTee | None = None

    def write(self, s: str) -> int:
        if self.recording:
            if type(s) is not str and not isinstance(s, str):
                raise TypeError(f"write() argument must be str, not {type(s).__name__}")
            queue = self._queue
            queue.append(s)
            if len(queue) > _QUEUE_LIMIT:
                self._sink.flush()
        if self.original is not None:
            return self.original.write(s)
        return len(s)

    def flush(self) -> None:
        if self.original is not None:
            self.original.flush()

    def close(self) -> None:
        # Closing sys.stdout through us must not close the terminal under the next capture, and
        # this also runs when a stopped tee is garbage-collected, maybe after the terminal closed.
        with contextlib.suppress(OSError, ValueError):
            self.flush()

    @property
    def closed(self) -> bool:
        return False

    def fileno(self) -> int:
        if self.original is None:
            raise io.UnsupportedOperation("fileno")
        return self.original.fileno()

    def isatty(self) -> bool:
        return self.original is not None and self.original.isatty()

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    # TextIOBase declares these as attributes; they are read-only descriptors at run time.
    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", None) or _ENCODING

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.original, "errors", None)

    @property
    def buffer(self) -> BinaryIO:
        # Bytes written here reach the terminal through the original's buffer, and the log.
        if self._buffer is None:
            self._buffer = _BinaryTee(self.original.buffer, self)  # type: ignore[union-attr]
        return self._buffer  # type: ignore[return-value]

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes TextIOBase lacks (line_buffering, reconfigure, mode, ...).
        if name.startswith("__") or self.__dict__.get("original") is None:
            raise AttributeError(name)
        return getattr(self.original, name)


class _BinaryTee:
    """``sys.stdout.buffer`` under a capture: bytes go to the original buffer and to the log."""

    def __init__(self, original: BinaryIO, tee: _Tee) -> None:
        self.original = original
        self._tee = tee

    def write(self, data: bytes | bytearray | memoryview) -> int:
        tee = self._tee
        if tee.recording:
            tee._queue.append(bytes(data))
            if len(tee._queue) > _QUEUE_LIMIT:
                tee._sink.flush()
        return self.original.write(data)

    def flush(self) -> None:
        self.original.flush()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.original, name)
