"""Value objects of monitors: alert rules, monitors, their runs and results, and alerts."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from loopline.errors import InvalidInput

__all__ = [
    "AlertRule",
    "AlertRecord",
    "AlertState",
    "MonitorRecord",
    "MonitorRunRecord",
    "MonitorResult",
    "OperationalWindow",
    "threshold",
    "METRICS",
    "ResultStatus",
]

AlertState = Literal["firing", "resolved"]
ResultStatus = Literal["ok", "no data", "error"]

METRICS: dict[str, str] = {
    # drift (per model version; the inputs, and the prediction when asked)
    "drift_share": "share of the judged input columns that drift",
    "drifted_columns": "number of drifted columns",
    "drift": "1 when the window drifts as a whole (share >= the drift_share option), else 0",
    # live quality (per model version, on labelled predictions)
    "accuracy": "share of labelled predictions that were right",
    "precision": "precision (binary: of the positive class; else macro average)",
    "recall": "recall (binary: of the positive class; else macro average)",
    "f1": "F1 score",
    "auc": "ROC AUC (binary classifiers that log proba)",
    "rmse": "root mean square error (regression)",
    "mae": "mean absolute error (regression)",
    "bias": "mean of prediction minus label (regression)",
    "labelled": "number of predictions with a label",
    # latency and errors (per model version)
    "requests": "number of requests answered",
    "error_rate": "share of requests that failed",
    "p50_ms": "median latency, ms",
    "p95_ms": "95th percentile latency, ms",
    "p99_ms": "99th percentile latency, ms",
    "mean_ms": "mean latency, ms",
}
"""Every metric a monitor records, with what it means; alert rules name one of them."""

_OPERATORS = (">=", "<=", ">", "<")
_EXPRESSION = re.compile(r"^\s*([a-z_0-9]+)\s*(>=|<=|>|<)\s*([-+]?[0-9.]+(?:e[-+]?[0-9]+)?)\s*$")


@dataclass(frozen=True, slots=True)
class AlertRule:
    """A threshold on one metric of a monitor: ``metric op value`` held for ``for_windows``
    consecutive windows (with data) fires an alert; the first window where it stops holding
    resolves it. With several model versions in a window, the worst one counts.

    Build one with :func:`threshold`.
    """

    name: str
    metric: str
    op: str
    value: float
    for_windows: int = 1

    def holds(self, value: float) -> bool:
        """Whether ``value`` meets the condition (NaN never does)."""
        if math.isnan(value):
            return False
        return {
            ">": value > self.value,
            ">=": value >= self.value,
            "<": value < self.value,
            "<=": value <= self.value,
        }[self.op]

    def worst(self, values: list[float]) -> float:
        """Of several versions' values, the one most against the rule."""
        finite = [v for v in values if not math.isnan(v)]
        if not finite:
            return math.nan
        return max(finite) if self.op in (">", ">=") else min(finite)

    @property
    def expression(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metric": self.metric,
            "op": self.op,
            "value": self.value,
            "for_windows": self.for_windows,
        }

    @classmethod
    def from_dict(cls, data: Any) -> AlertRule:
        if isinstance(data, AlertRule):
            return data
        if isinstance(data, str):
            return threshold(data)
        if not isinstance(data, dict):
            raise InvalidInput(f"An alert rule is threshold('metric > value'), not {data!r}.")
        expression = f"{data.get('metric')} {data.get('op')} {data.get('value')}"
        return threshold(
            expression, for_windows=data.get("for_windows", 1), name=data.get("name") or None
        )


def threshold(expression: str, *, for_windows: int = 1, name: str | None = None) -> AlertRule:
    """An alert rule: ``"drift_share > 0.3"``, ``"accuracy < 0.9"``, ``"p99_ms > 50"``,
    ``"error_rate > 0.01"`` (``>``, ``>=``, ``<``, ``<=``), firing once it holds for
    ``for_windows`` consecutive monitor windows that have data.

    Raises:
        InvalidInput: an unknown metric (see :data:`METRICS`) or a malformed expression.

    Example:
        >>> ll.threshold("drift_share > 0.3", for_windows=2)
        AlertRule(name='drift_share > 0.3', metric='drift_share', op='>', value=0.3, for_windows=2)
    """
    match = _EXPRESSION.match(expression) if isinstance(expression, str) else None
    if match is None:
        raise InvalidInput(
            f"An alert rule reads 'metric > number' (or >=, <, <=), e.g. 'drift_share > 0.3', "
            f"not {expression!r}.",
            details={"field": "rules"},
        )
    metric, op, text = match.groups()
    if metric not in METRICS:
        from loopline.errors import did_you_mean

        raise InvalidInput(
            f"An alert rule names metric {metric!r}, which monitors do not record."
            f"{did_you_mean(metric, METRICS)} The metrics: {', '.join(METRICS)}.",
            details={"field": "rules"},
        )
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a number.", details={"field": "rules"}) from None
    if not isinstance(for_windows, int) or isinstance(for_windows, bool) or for_windows < 1:
        raise InvalidInput(
            f"for_windows={for_windows!r}: a whole number of windows, at least 1.",
            details={"field": "for_windows"},
        )
    label = name if name is not None else f"{metric} {op} {value:g}"
    if not label or len(label) > 200:
        raise InvalidInput("An alert rule's name has 1 to 200 characters.")
    return AlertRule(label, metric, op, value, for_windows)


@dataclass(frozen=True, slots=True)
class MonitorRecord:
    """A stored monitor: what it watches, when, and the rules that raise its alerts.

    Attributes:
        schedule: cron expression (five fields, read in ``timezone``).
        window_seconds: each run looks at this many seconds before it; ``None``: the time
            since the previous run (the first run: one schedule period).
        drift, quality, latency: each check's options (``None``: the check is off).
        notify: webhooks told when an alert fires or resolves (``url`` and options).
        status: of the last run: ``ok``, ``no data``, ``error`` (a check failed), or
            ``never`` before the first run.
        open_alerts: alerts firing now.
    """

    id: str
    project: str
    name: str
    endpoint: str
    schedule: str
    timezone: str
    window_seconds: int | None
    drift: dict[str, Any] | None
    quality: dict[str, Any] | None
    latency: dict[str, Any] | None
    rules: list[AlertRule]
    notify: list[dict[str, Any]]
    enabled: bool
    next_run_at: datetime | None
    last_run_at: datetime | None
    status: str
    open_alerts: int
    created_at: datetime
    created_by: str = ""

    def without_secrets(self) -> MonitorRecord:
        """This record as a server shows it: webhook header values (tokens) hidden."""
        from dataclasses import replace

        shown = [
            {**hook, "headers": dict.fromkeys(hook["headers"], "(hidden)")}
            if isinstance(hook.get("headers"), dict) and hook["headers"]
            else hook
            for hook in self.notify
        ]
        return replace(self, notify=shown)


@dataclass(frozen=True, slots=True)
class MonitorResult:
    """One figure of one monitor run: a metric of one check, for one model version."""

    run_id: str
    check: str
    metric: str
    model: str | None
    version: int | None
    window_start: datetime
    window_end: datetime
    value: float | None
    status: ResultStatus
    message: str = ""
    report: str | None = None
    """The blob digest of the window's drift report (HTML), for ``drift_share``."""


@dataclass(frozen=True, slots=True)
class MonitorRunRecord:
    """One run of a monitor over one window: when, what it found, and what failed.

    ``status`` is ``ok``, ``no data`` (the window held no prediction), or ``error`` (at
    least one check failed: ``errors`` names each, the other checks still ran).
    """

    id: str
    project: str
    monitor: str
    endpoint: str
    window_start: datetime
    window_end: datetime
    started_at: datetime
    finished_at: datetime | None
    status: str
    trigger: str
    errors: dict[str, str] = field(default_factory=dict)
    results: list[MonitorResult] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    """Ids of the alerts this run fired or resolved."""


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert raised by a monitor's rule: firing until the condition stops holding.

    ``figures`` holds what fired it: the value per model version of the window, the values of
    the windows that made up ``for_windows``, and the rule.
    """

    id: str
    project: str
    monitor: str
    rule: str
    endpoint: str
    state: AlertState
    metric: str
    value: float
    threshold: float
    fired_at: datetime
    resolved_at: datetime | None
    window_start: datetime
    window_end: datetime
    message: str
    figures: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OperationalWindow:
    """Requests, errors and latency of one model version over a monitor's window, as the
    serving side counted them (see :class:`~loopline.monitoring.OperationsSource`)."""

    model: str
    version: int | None
    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
