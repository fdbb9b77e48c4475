"""What the closed loop stores, as plain immutable values: triggers, their firings, gate records,
delivery policies, deliveries and the events of the loop's timeline.

Also the two small languages users write: parameter mappings (``"{event.version}"``) and
margins (``">= -0.01"``). Both are parsed here, once, with clear errors; neither ever evaluates
code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from loopline.errors import InvalidInput, LooplineError

__all__ = [
    "TriggerKind",
    "TRIGGER_KINDS",
    "EVENT_FIELDS",
    "Trigger",
    "TriggerVersion",
    "Firing",
    "FiringStatus",
    "GateFigure",
    "GateRecord",
    "GateFailed",
    "DeliveryPolicy",
    "Delivery",
    "DeliveryState",
    "LoopEvent",
    "TickReport",
    "EventKind",
    "DECISIONS",
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "Clause",
    "parse_rule",
    "parse_duration",
    "map_params",
    "check_mapping",
]

TriggerKind = Literal["cron", "dataset", "alert", "manual"]
TRIGGER_KINDS: tuple[TriggerKind, ...] = ("cron", "dataset", "alert", "manual")

EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "cron": ("fire_at", "missed"),
    "dataset": ("dataset", "version", "version_id", "alias", "digest", "message"),
    "alert": (
        "id",
        "monitor",
        "rule",
        "endpoint",
        "metric",
        "value",
        "threshold",
        "fired_at",
        "message",
    ),
    "manual": (),  # whatever the caller passes
}
"""The fields a parameter mapping may read as ``{event.<field>}``, by trigger kind (any field
of the payload for ``manual``); ``{trigger.name}`` and ``{trigger.version}`` always work."""

FiringStatus = Literal["launched", "coalesced", "failed"]
DeliveryState = Literal["shadow", "canary", "promoted", "rolled_back", "reverted", "failed"]
EventKind = Literal[
    "trigger_fired",
    "trigger_coalesced",
    "trigger_failed",
    "trigger_broken",
    "run_launched",
    "gate_passed",
    "gate_failed",
    "delivery_skipped",
    "shadow_started",
    "canary_started",
    "observation",
    "promoted",
    "rolled_back",
    "reverted",
]
DECISIONS: frozenset[str] = frozenset(
    {"shadow_started", "canary_started", "promoted", "rolled_back"}
)
"""The events ``revert`` can undo."""

HIGHER_IS_BETTER = frozenset(
    {"accuracy", "precision", "recall", "f1", "auc", "r2", "balanced_accuracy"}
)
LOWER_IS_BETTER = frozenset(
    {"log_loss", "rmse", "mae", "mse", "error_rate", "p50_ms", "p95_ms", "p99_ms", "brier"}
)


class GateFailed(LooplineError):
    """Raised by ``gate(..., raise_on_fail=True)`` when a gate fails (the record is kept)."""


# -- triggers -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trigger:
    """A named rule that launches a published pipeline template when its event happens.

    Attributes:
        kind: ``cron``, ``dataset``, ``alert`` or ``manual``.
        config: what the kind watches: ``cron``/``timezone``; ``dataset``/``alias``;
            ``monitor``/``rule``/``endpoint`` (all optional for alerts).
        params: the template's parameters; strings may read the event (``"{event.version}"``).
        debounce: seconds after a launch during which new events are coalesced into it (they
            are coalesced anyway while that launch is still running).
        state: ``ok``, or ``broken`` (with ``problem``) when its template is gone: it stops
            firing until it is edited (a new version) or resumed.
    """

    id: str
    project: str
    name: str
    version: int
    kind: TriggerKind
    template: str
    template_version: str
    params: dict[str, Any]
    config: dict[str, Any]
    debounce: float
    enabled: bool
    state: str
    problem: str
    created_at: datetime
    updated_at: datetime
    created_by: str
    description: str = ""
    next_fire_at: datetime | None = None
    last_fired_at: datetime | None = None
    last_run_id: str | None = None


@dataclass(frozen=True, slots=True)
class TriggerVersion:
    """One version of a trigger's definition (editing a trigger makes the next one)."""

    trigger: str
    version: int
    definition: dict[str, Any]
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class Firing:
    """One event a trigger saw: launched a run, was coalesced into one, or failed."""

    id: str
    project: str
    trigger: str
    trigger_version: int
    event_key: str
    event: dict[str, Any]
    status: FiringStatus
    fired_at: datetime
    run_id: str | None = None
    error: str = ""
    coalesced_into: str | None = None
    coalesced: int = 0
    params: dict[str, Any] = field(default_factory=dict)


# -- gates --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GateFigure:
    """One metric of a gate: both models' values, the difference, the rule and its verdict."""

    metric: str
    rule: str
    challenger: float | None
    champion: float | None
    delta: float | None
    passed: bool
    note: str = ""
    data: str = "holdout"


@dataclass(frozen=True, slots=True)
class GateRecord:
    """The recorded outcome of a gate: pass or fail, with every figure.

    Attributes:
        model: the registered model the challenger is (or would be) a version of.
        challenger_version: the version registered for the challenger (None if not registered).
        champion_version: the version it was compared with (None when there was no champion).
        delivery: ``pending`` (passed, registered: the controller will deliver it), ``started``,
            ``none`` (nothing to deliver: failed, not registered, or no endpoint serves it).
    """

    id: str
    project: str
    model: str
    passed: bool
    figures: tuple[GateFigure, ...]
    message: str
    created_at: datetime
    challenger_version: int | None = None
    champion_version: int | None = None
    run_id: str | None = None
    pipeline_run_id: str | None = None
    delivery: str = "none"

    def __bool__(self) -> bool:
        return self.passed


# -- delivery -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How an endpoint takes a new champion: canary share, shadow first, how long to watch,
    and how much worse than the champion the challenger may be.

    Attributes:
        margins: metric → how much worse the challenger may be (``accuracy: 0.01`` allows one
            point less; ``error_rate: 0.005``, ``p99_ms: 10`` allow that much more).
        min_requests: the challenger must answer at least this many requests in the window.
        min_labels: quality margins wait for this many labelled predictions of each model.
        alias: the registry alias that marks the champion (moved on promotion).
    """

    project: str
    endpoint: str
    canary_percent: int
    shadow_first: bool
    observe_seconds: float
    min_requests: int
    margins: dict[str, float]
    updated_at: datetime
    updated_by: str
    min_labels: int = 1
    alias: str = "champion"
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Delivery:
    """A challenger on its way into an endpoint: the state machine the controller advances."""

    id: str
    project: str
    endpoint: str
    model: str
    challenger_version: int
    champion_version: int | None
    state: DeliveryState
    gate_id: str | None
    base_revision: int
    revision: int
    phase_started_at: datetime
    created_at: datetime
    updated_at: datetime
    policy: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True, slots=True)
class LoopEvent:
    """One entry of the loop's timeline (also written to the audit log).

    ``id`` is what ``loopline automation revert`` takes for a decision (``shadow_started``,
    ``canary_started``, ``promoted``, ``rolled_back``).
    """

    id: int
    project: str
    kind: EventKind
    at: datetime
    message: str
    figures: dict[str, Any] = field(default_factory=dict)
    actor: str = "automation"
    trigger: str | None = None
    firing_id: str | None = None
    run_id: str | None = None
    gate_id: str | None = None
    delivery_id: str | None = None
    endpoint: str | None = None
    model: str | None = None
    version: int | None = None
    revision: int | None = None
    alert_id: str | None = None
    reverted_by: int | None = None

    @property
    def revertible(self) -> bool:
        return self.kind in DECISIONS and self.reverted_by is None


@dataclass(frozen=True, slots=True)
class TickReport:
    """What one round of the loop did: the firings it made, the events it recorded (in every
    project), and the failures it logged and went past."""

    firings: tuple[Firing, ...] = ()
    events: tuple[LoopEvent, ...] = ()
    errors: tuple[str, ...] = ()


# -- margins ------------------------------------------------------------------------------------

_CLAUSE = re.compile(
    r"^\s*(?P<abs>abs\s+)?(?P<op>>=|<=|>|<)\s*(?P<num>[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)"
    r"\s*(?P<pct>%)?\s*$"
)


@dataclass(frozen=True, slots=True)
class Clause:
    """One comparison of a gate rule: ``delta >= -0.01`` (relative to the champion), or
    ``abs >= 0.9`` (the challenger's own value); ``percent`` reads the number as a percentage
    of the champion's value."""

    op: str
    number: float
    absolute: bool = False
    percent: bool = False

    def holds(self, challenger: float, champion: float | None) -> bool | None:
        """Whether it holds; None when it is relative and there is no champion."""
        if self.absolute:
            return _compare(challenger, self.op, self.number)
        if champion is None:
            return None
        bound = self.number * abs(champion) / 100 if self.percent else self.number
        return _compare(challenger - champion, self.op, bound)

    def __str__(self) -> str:
        number = f"{self.number:g}{'%' if self.percent else ''}"
        return f"{'abs ' if self.absolute else ''}{self.op} {number}"


def _compare(value: float, op: str, bound: float) -> bool:
    if math.isnan(value):
        return False
    # A difference that meets its bound exactly (0.89 - 0.90 against -0.01) must not fail on
    # the last bit of a float: inclusive bounds get a tolerance of a few ulps.
    slack = 1e-9 * max(1.0, abs(bound))
    return {
        ">=": value >= bound - slack,
        "<=": value <= bound + slack,
        ">": value > bound,
        "<": value < bound,
    }[op]


def parse_rule(metric: str, rule: object) -> tuple[Clause, ...]:
    """The clauses of a gate rule.

    A rule is a string of clauses joined by ``and`` (or commas): ``">= -0.01"`` compares the
    challenger minus the champion; ``"abs >= 0.9"`` the challenger's own value (what decides
    when there is no champion yet); a ``%`` makes the number a percentage of the champion's
    value (``">= -1%"``). A bare number is the tolerated worsening for a metric whose direction
    is known: ``{"accuracy": 0.01}`` is ``">= -0.01"``, ``{"log_loss": 0.02}`` is ``"<= 0.02"``.

    Raises:
        InvalidInput: a clause that is not of this form (``details["field"]`` names the metric).
    """
    if isinstance(rule, bool):
        raise _rule_error(metric, rule)
    if isinstance(rule, int | float):
        if metric in HIGHER_IS_BETTER:
            return (Clause(">=", -abs(float(rule))),)
        if metric in LOWER_IS_BETTER:
            return (Clause("<=", abs(float(rule))),)
        raise InvalidInput(
            f"metrics[{metric!r}]: a bare number needs a metric whose direction is known "
            f"({', '.join(sorted(HIGHER_IS_BETTER | LOWER_IS_BETTER))}); write the rule, "
            f"e.g. '>= -0.01' (challenger minus champion) or 'abs >= 0.9'.",
            details={"field": f"metrics.{metric}"},
        )
    if not isinstance(rule, str) or not rule.strip() or len(rule) > 200:
        raise _rule_error(metric, rule)
    parts = [p for p in re.split(r"\s+and\s+|,", rule.strip()) if p.strip()]
    clauses = []
    for part in parts:
        found = _CLAUSE.match(part)
        if found is None:
            raise _rule_error(metric, rule)
        number = float(found["num"])
        if not math.isfinite(number):
            raise _rule_error(metric, rule)
        clauses.append(
            Clause(found["op"], number, absolute=bool(found["abs"]), percent=bool(found["pct"]))
        )
    if any(c.absolute and c.percent for c in clauses):
        raise InvalidInput(
            f"metrics[{metric!r}]: 'abs' compares the challenger's own value; a percentage "
            f"only makes sense relative to the champion.",
            details={"field": f"metrics.{metric}"},
        )
    return tuple(clauses)


def _rule_error(metric: str, rule: object) -> InvalidInput:
    return InvalidInput(
        f"metrics[{metric!r}] = {rule!r} is not a gate rule. Write clauses like '>= -0.01' "
        f"(challenger minus champion at least -0.01), '<= 0.02', '>= -1%' (of the champion's "
        f"value) or 'abs >= 0.9' (the challenger's own value), joined by 'and'.",
        details={"field": f"metrics.{metric}"},
    )


_DURATION = re.compile(r"^\s*(\d+(\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object, what: str) -> float:
    """Seconds from a ``timedelta``, a number of seconds, or ``"90s"``, ``"10m"``, ``"2h"``."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (found := _DURATION.match(value)) is not None:
        seconds = float(found[1]) * _UNITS[found[3]]
    else:
        raise InvalidInput(
            f"{what}: {value!r} is not a duration; give seconds, a timedelta, or text like "
            f"'90s', '10m', '2h', '1d'.",
            details={"field": what},
        )
    if not math.isfinite(seconds) or seconds < 0 or seconds > 366 * 86400:
        raise InvalidInput(
            f"{what}: {value!r} is out of range (0 to 366 days).", details={"field": what}
        )
    return seconds


# -- parameter mappings -------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_PATH = re.compile(r"^(event|trigger)(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def _placeholders(text: str, where: str) -> list[tuple[str, str]]:
    """(whole match, path) of each ``{path}`` in ``text`` (``{{`` and ``}}`` are literal)."""
    found = []
    for match in _PLACEHOLDER.finditer(text):
        if match[0] in ("{{", "}}"):
            continue
        path = match[1].strip()
        if not _PATH.match(path):
            raise InvalidInput(
                f"{where}: {{{match[1]}}} is not a placeholder; write {{event.<field>}} or "
                f"{{trigger.name}} (and {{{{ or }}}} for a literal brace).",
                details={"field": where},
            )
        found.append((match[0], path))
    rest = _PLACEHOLDER.sub("", text)
    if "{" in rest or "}" in rest:
        raise InvalidInput(
            f"{where}: an unmatched brace in {text!r}; write {{{{ or }}}} for a literal one.",
            details={"field": where},
        )
    return found


def check_mapping(kind: str, params: Mapping[str, Any]) -> None:
    """Check the placeholders of ``params`` against what events of ``kind`` carry.

    Raises:
        InvalidInput: a malformed placeholder, or a field the kind's events do not have.
    """
    known = EVENT_FIELDS.get(kind, ())
    for name, value in params.items():
        if not isinstance(value, str):
            continue
        for _, path in _placeholders(value, f"params.{name}"):
            head, _, rest = path.partition(".")
            top = rest.split(".")[0]
            if head == "trigger" and rest not in ("name", "version", "id"):
                raise InvalidInput(
                    f"params.{name}: {{{path}}}: a trigger offers name, version and id.",
                    details={"field": f"params.{name}"},
                )
            if head == "event" and kind != "manual" and top not in known:
                raise InvalidInput(
                    f"params.{name}: {{{path}}}: a {kind} event has "
                    f"{', '.join(known) or 'no fields'}.",
                    details={"field": f"params.{name}"},
                )


def map_params(
    params: Mapping[str, Any], event: Mapping[str, Any], trigger: Mapping[str, Any]
) -> dict[str, Any]:
    """``params`` with their placeholders filled from the event and the trigger.

    A string that is exactly one placeholder takes the value with its type (``"{event.version}"``
    → ``3``); placeholders inside longer text are written as text. Nothing is evaluated.

    Raises:
        InvalidInput: the event has no such field (the message names the ones it has).
    """
    scope = {"event": dict(event), "trigger": dict(trigger)}
    out: dict[str, Any] = {}
    for name, value in params.items():
        if not isinstance(value, str):
            out[name] = value
            continue
        found = _placeholders(value, f"params.{name}")
        if len(found) == 1 and found[0][0] == value.strip() and value == value.strip():
            out[name] = _lookup(scope, found[0][1], name)
            continue

        def fill(match: re.Match[str], name: str = name) -> str:
            if match[0] == "{{":
                return "{"
            if match[0] == "}}":
                return "}"
            return str(_lookup(scope, match[1].strip(), name))

        out[name] = _PLACEHOLDER.sub(fill, value)
    return out


def _lookup(scope: Mapping[str, Any], path: str, name: str) -> Any:
    value: Any = scope
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            have = sorted(value) if isinstance(value, Mapping) else []
            raise InvalidInput(
                f"params.{name}: {{{path}}}: the event has no {part!r} "
                f"(it has {', '.join(map(str, have)) or 'nothing'}).",
                details={"field": f"params.{name}"},
            )
        value = value[part]
    return value
