"""Tracking's value objects and input rules: light (no database imports), shared by every layer."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

from loopline.errors import InvalidInput

__all__ = [
    "RunStatus",
    "RUN_STATUSES",
    "Run",
    "MetricPoint",
    "MetricSummary",
    "Artifact",
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
class MetricSummary:
    """Latest value (highest step, then latest time), extremes and count of one metric."""

    key: str
    latest: float
    latest_step: int
    min: float | None
    max: float | None
    count: int


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
