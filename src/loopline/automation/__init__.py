"""Automation: triggers, evaluation gates and the continuous-training / delivery controller."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopline.automation._types import (
    DECISIONS,
    EVENT_FIELDS,
    TRIGGER_KINDS,
    Delivery,
    DeliveryPolicy,
    Firing,
    GateFailed,
    GateFigure,
    GateRecord,
    LoopEvent,
    TickReport,
    Trigger,
    TriggerVersion,
    map_params,
    parse_rule,
)

if TYPE_CHECKING:
    from loopline._automation import (
        deliveries,
        delivery_policy,
        fire,
        gate,
        pause,
        resume,
        revert,
        tick,
        timeline,
        trigger,
        triggers,
    )
    from loopline.automation._service import AutomationController, AutomationService

__all__ = [
    # the one-liners, over the default client: ll.automation.trigger(...), ll.automation.tick()
    "trigger",
    "triggers",
    "trigger_history",
    "firings",
    "delete_trigger",
    "pause",
    "resume",
    "fire",
    "tick",
    "timeline",
    "revert",
    "deliveries",
    "gate",
    "delivery_policy",
    # values
    "Trigger",
    "TriggerVersion",
    "Firing",
    "GateRecord",
    "GateFigure",
    "GateFailed",
    "DeliveryPolicy",
    "Delivery",
    "LoopEvent",
    "TickReport",
    "TRIGGER_KINDS",
    "EVENT_FIELDS",
    "DECISIONS",
    "map_params",
    "parse_rule",
    # the service side
    "AutomationService",
    "AutomationController",
]

_FACADE = (
    "trigger",
    "triggers",
    "trigger_history",
    "firings",
    "delete_trigger",
    "pause",
    "resume",
    "fire",
    "tick",
    "timeline",
    "revert",
    "deliveries",
    "gate",
    "delivery_policy",
)
_LAZY = {
    "AutomationService": "loopline.automation._service",
    "AutomationController": "loopline.automation._service",
}


def __getattr__(name: str) -> Any:
    # The one-liners live above the backends (they pick local or remote); they are reached
    # through this package's name, loaded on first use, as ll.features' are.
    from importlib import import_module

    if name in _FACADE:
        value = getattr(import_module("loopline._automation"), name)
    elif name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'loopline.automation' has no attribute {name!r}")
    globals()[name] = value
    return value
