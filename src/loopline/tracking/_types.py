"""Tracking's value objects and input rules: light (no database imports), shared by every layer."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from loopline.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "RunStatus",
    "RUN_STATUSES",
    "Run",
    "MetricPoint",
    "MetricSummary",
    "MetricSeries",
    "Artifact",
    "ConsoleText",
    "MAX_CONSOLE_PIECE",
    "RunTable",
    "utf8_boundary",
    "validate_key",
    "validate_status",
    "validate_run_id",
    "param_text",
    "tag_text",
    "metric_value",
    "encode_float",
    "decode_float",
    "MAX_KEY",
    "MAX_VALUE",
    "MAX_NAME",
]

RunStatus = Literal["running", "finished", "failed", "killed"]
RUN_STATUSES: tuple[RunStatus, ...] = ("running", "finished", "failed", "killed")

MAX_KEY = 250
MAX_VALUE = 8_000
MAX_NAME = 200
# Letters (any script), digits, and the separators people put in metric names.
_KEY = re.compile(r"[\w][\w .\-/:@]*")


@dataclass(frozen=True, slots=True)
class Run:
    """A run as it is stored: identity, state, and the latest value of every metric."""

    id: str
    project: str
    name: str
    status: RunStatus
    start_time: datetime
    end_time: datetime | None = None
    parent_id: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    environment_digest: str | None = None
    cloned_from: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status == "running"


class MetricPoint(NamedTuple):
    """One logged value: ``timestamp_ms`` is milliseconds since the epoch, UTC.

    A NamedTuple, not a dataclass: ``log_metric`` makes one per call, and a tuple is built
    twenty times faster and goes to the database driver as it is.
    """

    key: str
    value: float
    step: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """One metric's whole history as arrays, by step then time: for charts and DataFrames.

    A history of 100,000 points is three arrays here, where :class:`MetricPoint` objects would
    be 100,000 tuples built one by one.

    Example:
        >>> series = backend.metric_series(run_id, "loss")
        >>> series.values[-1], len(series)
        (0.031, 100000)
    """

    key: str
    steps: npt.NDArray[np.int64]
    timestamps_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.steps)

    @classmethod
    def of(cls, key: str, points: list[MetricPoint]) -> MetricSeries:
        """The series of ``points`` (put in step-then-time order)."""
        import numpy as np

        return cls.ordered(
            key,
            np.fromiter((p.step for p in points), np.int64, len(points)),
            np.fromiter((p.timestamp_ms for p in points), np.int64, len(points)),
            np.fromiter((p.value for p in points), np.float64, len(points)),
        )

    @classmethod
    def ordered(
        cls,
        key: str,
        steps: npt.NDArray[np.int64],
        timestamps_ms: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
    ) -> MetricSeries:
        """The series of these columns, in logging order, put in step-then-time order."""
        import numpy as np

        order = np.lexsort((timestamps_ms, steps))  # stable: equal step and time keep their order
        return cls(key, steps[order], timestamps_ms[order], values[order])

    def points(self) -> list[MetricPoint]:
        """The series as :class:`MetricPoint` values, in the same order."""
        key = self.key
        return [
            MetricPoint(key, value, step, stamp)
            for step, stamp, value in zip(
                self.steps.tolist(), self.timestamps_ms.tolist(), self.values.tolist(), strict=True
            )
        ]


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """Latest value (highest step, then latest time), extremes and count of one metric."""

    key: str
    latest: float
    latest_step: int
    min: float | None
    max: float | None
    count: int


@dataclass(frozen=True, slots=True)
class RunTable:
    """Runs as columns, in search order: what a search answers when a table is wanted.

    A DataFrame or a page of the UI reads columns; building a :class:`Run` per row first was
    most of a large search's time. Each list has one entry per run; ``params``, ``metrics`` and
    ``tags`` map a key to its column (``None`` where a run has no value for that key).

    Example:
        >>> table = backend.search_table("churn", "metrics.acc > 0.9")
        >>> table.metrics["acc"][:3]
        [0.97, 0.95, 0.93]
    """

    project: str
    ids: list[str]
    names: list[str]
    statuses: list[RunStatus]
    start_times: list[datetime]
    end_times: list[datetime | None]
    parent_ids: list[str | None]
    environment_digests: list[str | None]
    cloned_from: list[str | None]
    params: dict[str, list[str | None]] = field(default_factory=dict)
    metrics: dict[str, list[float | None]] = field(default_factory=dict)
    tags: dict[str, list[str | None]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def runs(self) -> list[Run]:
        """The rows as :class:`Run` objects (keys sorted, as :meth:`get_run` gives them)."""
        params, metrics, tags = (
            _rows_of(c, len(self.ids)) for c in (self.params, self.metrics, self.tags)
        )
        return [
            Run(
                id=self.ids[i],
                project=self.project,
                name=self.names[i],
                status=self.statuses[i],
                start_time=self.start_times[i],
                end_time=self.end_times[i],
                parent_id=self.parent_ids[i],
                params=params[i],
                tags=tags[i],
                metrics=metrics[i],
                environment_digest=self.environment_digests[i],
                cloned_from=self.cloned_from[i],
            )
            for i in range(len(self.ids))
        ]


def _rows_of(columns: dict[str, list[Any]], count: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [{} for _ in range(count)]
    for key in sorted(columns):
        for row, value in zip(rows, columns[key], strict=True):
            if value is not None:
                row[key] = value
    return rows


MAX_CONSOLE_PIECE = 4 * 1024 * 1024
"""The most bytes of console output one call stores (the SDK ships 1 MiB at a time)."""


@dataclass(frozen=True, slots=True)
class ConsoleText:
    """A slice of a run's console log, for a view that follows it.

    Attributes:
        text: the slice, decoded as UTF-8 (a character cut by the slice's end is left for the
            next read).
        next_offset: the byte offset to ask for next time.
        complete: the run has ended and ``next_offset`` is the end of its log: nothing more
            will come.
    """

    text: str
    next_offset: int
    complete: bool


@dataclass(frozen=True, slots=True)
class Artifact:
    """A file a run logged: where it sits in the run, and the blob holding its bytes."""

    path: str
    digest: str
    size: int


def validate_key(key: object, kind: str = "metric") -> str:
    """Return ``key`` if it is a usable metric, param or tag key; else raise InvalidInput."""
    if not isinstance(key, str):
        raise InvalidInput(f"A {kind} key must be a string, not {type(key).__name__} ({key!r}).")
    if not key or len(key) > MAX_KEY or not _KEY.fullmatch(key):
        shown = key if len(key) <= 60 else key[:57] + "..."
        raise InvalidInput(
            f"Invalid {kind} key {shown!r}: use 1 to {MAX_KEY} letters, digits, spaces and "
            f"'_ . - / : @', starting with a letter, digit or '_' (for example 'val/loss')."
        )
    return key


_RUN_ID = re.compile(r"[0-9a-f]{32}")


def validate_run_id(run_id: object) -> str:
    """Return ``run_id`` if it has the form of a run id (32 lowercase hex characters)."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise InvalidInput(f"{run_id!r} is not a run id (32 hexadecimal characters).")
    return run_id


def validate_status(status: object) -> RunStatus:
    for known in RUN_STATUSES:
        if status == known:
            return known
    raise InvalidInput(f"Invalid run status {status!r}: expected one of {', '.join(RUN_STATUSES)}.")


def _value_text(key: str, value: object, kind: str) -> str:
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, bool | int | float):
        text = str(value)
    else:
        text = str(value)  # numpy scalars, paths, enums...: their text, as MLflow does
    if len(text) > MAX_VALUE:
        raise InvalidInput(
            f"The value of {kind} {key!r} is {len(text):,} characters; the limit is {MAX_VALUE:,}. "
            f"Log large values as an artifact (ll.log_text or ll.log_dict) instead."
        )
    return text


def param_text(key: str, value: object) -> str:
    """A param value as stored: its text, at most MAX_VALUE characters."""
    return _value_text(key, value, "param")


def tag_text(key: str, value: object) -> str:
    return _value_text(key, value, "tag")


def metric_value(key: str, value: object) -> float:
    """A metric value as a float; NaN and infinities are kept (they are real outcomes)."""
    if type(value) is float:
        return value
    if isinstance(value, bool | str | bytes) or value is None:
        raise InvalidInput(
            f"Metric {key!r}: value must be a number, not {type(value).__name__} ({value!r})."
        )
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"Metric {key!r}: value must be a number, not {type(value).__name__} ({value!r})."
        ) from exc


def encode_float(value: float) -> float | str:
    """JSON has no NaN or infinity: they travel as the strings "NaN", "Infinity", "-Infinity"."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def decode_float(value: Any) -> float:
    if isinstance(value, str):
        if value in ("NaN", "Infinity", "-Infinity"):
            return float(value.replace("Infinity", "inf"))
        raise InvalidInput(f"Expected a number or NaN/Infinity/-Infinity, not {value!r}.")
    return float(value)


def utf8_boundary(data: bytes, limit: int) -> int:
    """The largest cut at or before ``limit`` that does not split a UTF-8 character."""
    if limit >= len(data):
        return len(data)
    cut = max(limit, 0)
    while cut > 0 and data[cut] & 0xC0 == 0x80:  # a continuation byte: the character began before
        cut -= 1
    return cut
