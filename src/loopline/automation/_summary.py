"""What a loop event's figures say, for people: one short line (the CLI's timeline) and rows of
a table (the UI's), read from the figures each kind of event records.

The shapes read here are the ones the loop writes: a gate's ``figures`` list (one entry per
metric and data set); an observation's ``challenger``/``champion``/``margins``; a delivery's
``policy``; a trigger's ``event`` payload and a launch's ``params``; a revert's
``reverted_event``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loopline.automation._types import LoopEvent

__all__ = ["FigureRow", "figure_rows", "summary", "number"]


@dataclass(frozen=True, slots=True)
class FigureRow:
    """One compared figure: the challenger's and the champion's values, the difference, the
    rule or margin it was judged by, and the verdict (None when nothing was judged)."""

    metric: str
    challenger: float | None
    champion: float | None
    delta: float | None
    rule: str
    passed: bool | None
    note: str = ""
    data: str = ""


def number(value: Any) -> str:
    """A figure in four significant digits; ``n/a`` for a missing one."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def figure_rows(event: LoopEvent) -> list[FigureRow]:
    """The compared figures of a gate or a judged delivery (empty for other events)."""
    figures = event.figures
    rows: list[FigureRow] = []
    gate = figures.get("figures")
    if isinstance(gate, list):
        for f in gate:
            if not isinstance(f, Mapping):
                continue
            rows.append(
                FigureRow(
                    metric=str(f.get("metric", "?")),
                    challenger=_float(f.get("challenger")),
                    champion=_float(f.get("champion")),
                    delta=_float(f.get("delta")),
                    rule=str(f.get("rule", "")),
                    passed=bool(f.get("passed")),
                    note=str(f.get("note") or ""),
                    data=str(f.get("data") or "holdout"),
                )
            )
        return rows
    margins = figures.get("margins")
    if isinstance(margins, Mapping):
        for metric, f in margins.items():
            if not isinstance(f, Mapping):
                continue
            challenger, champion = _float(f.get("challenger")), _float(f.get("champion"))
            delta = _float(f.get("delta"))
            if delta is None and challenger is not None and champion is not None:
                delta = challenger - champion
            margin = _float(f.get("margin"))
            rows.append(
                FigureRow(
                    metric=str(metric),
                    challenger=challenger,
                    champion=champion,
                    delta=delta,
                    rule="" if margin is None else f"margin {margin:g}",
                    passed=bool(f.get("passed")),
                    note=str(f.get("note") or ""),
                    data="live",
                )
            )
    return rows


def _verdict(passed: bool | None) -> str:
    return "" if passed is None else (" ok" if passed else " FAIL")


def _pairs(values: Any, limit: int = 4) -> str:
    if not isinstance(values, Mapping) or not values:
        return ""
    shown = [f"{k}={number(v) if not isinstance(v, str) else v[:30]}" for k, v in values.items()]
    more = f" +{len(shown) - limit}" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more


def _duration(seconds: Any) -> str:
    value = _float(seconds)
    if value is None:
        return "?"
    if value >= 3600 and value % 3600 == 0:
        return f"{value / 3600:g} h"
    if value >= 60 and value % 60 == 0:
        return f"{value / 60:g} min"
    return f"{value:g} s"


def summary(event: LoopEvent) -> str:
    """The event's figures in one short line (empty when it has none worth showing)."""
    figures = event.figures
    rows = figure_rows(event)
    if rows:
        parts = []
        for r in rows:
            where = f"{r.data}: " if r.data not in ("holdout", "live", "") else ""
            rule = f" ({r.rule})" if r.rule else ""
            parts.append(
                f"{where}{r.metric} {number(r.challenger)} vs {number(r.champion)}{rule}"
                f"{_verdict(r.passed)}"
            )
        sides = [figures.get(s) for s in ("challenger", "champion")]
        if all(isinstance(s, Mapping) for s in sides):
            mine, theirs = sides
            assert isinstance(mine, Mapping)
            assert isinstance(theirs, Mapping)
            parts.append(
                f"{number(mine.get('requests'))} vs {number(theirs.get('requests'))} requests"
            )
        return "; ".join(parts)
    policy = figures.get("policy")
    if isinstance(policy, Mapping):
        phase = "shadow" if event.kind == "shadow_started" else f"{policy.get('canary_percent')}%"
        return (
            f"{phase}, observe {_duration(policy.get('observe_seconds'))}, "
            f"min {number(policy.get('min_requests'))} requests"
        )
    if "reverted_event" in figures:
        return f"undid #{figures['reverted_event']} ({figures.get('reverted_kind', '?')})"
    if "params" in figures:
        return _pairs(figures["params"])
    if "event" in figures:
        return _pairs(figures["event"])
    return ""
