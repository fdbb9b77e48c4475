"""What the endpoint pages show, computed from what the backend returns: the route form read
back into routes, the change it makes (old weights -> new weights), and chart series and a
summary from the statistics inference servers report.

Nothing here decides anything about serving: the routes a form describes go to
``update_endpoint``, which validates them (weights adding up to 100, models that exist) and
answers with the message the page shows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from loopline.errors import InvalidInput
from loopline.serving import WINDOW_SECONDS, EndpointSpec, Route, StatsWindow, bucket_quantile

__all__ = [
    "CHART_METRICS",
    "PERIODS",
    "DEFAULT_PERIOD",
    "FormRoute",
    "RouteChange",
    "form_rows",
    "routes_from_form",
    "route_changes",
    "stats_payload",
    "stats_summary",
    "period_of",
    "version_link",
]

CHART_METRICS: dict[str, str] = {
    "rate": "Requests per second",
    "errors": "Error rate (%)",
    "p50": "Latency p50 (ms)",
    "p99": "Latency p99 (ms)",
}
PERIODS = (5, 15, 60, 360)
"""Minutes of history the charts can show."""
DEFAULT_PERIOD = 15
SUMMARY_WINDOWS = 60 // WINDOW_SECONDS
"""The summary table covers the last minute of complete windows."""
MAX_ROUTES = 50
"""More route rows than any real endpoint has; a larger count in a form is refused."""
_FORM_KEYS = ("model", "version", "weight", "shadow", "remove")


@dataclass(frozen=True, slots=True)
class FormRoute:
    """One row of the route form, as the page shows it (values as typed, for re-display)."""

    index: int
    model: str
    version: str
    weight: str
    shadow: bool
    remove: bool = False

    @property
    def label(self) -> str:
        return _label(self.model, self.version)


@dataclass(frozen=True, slots=True)
class RouteChange:
    """A route before and after the change: ``None`` where it does not exist on that side."""

    label: str
    model: str
    old_weight: int | None
    new_weight: int | None
    old_shadow: bool
    new_shadow: bool

    @property
    def kind(self) -> str:
        if self.old_weight is None:
            return "added"
        if self.new_weight is None:
            return "removed"
        if self.old_weight != self.new_weight or self.old_shadow != self.new_shadow:
            return "modified"
        return "unchanged"


def form_rows(spec: EndpointSpec) -> list[FormRoute]:
    """The route form's rows for ``spec`` (what the endpoint serves now)."""
    return [
        FormRoute(
            i,
            r.model,
            "" if r.version is None else str(r.version),
            str(r.weight),
            r.shadow,
        )
        for i, r in enumerate(spec.routes)
    ]


def submitted_rows(form: Mapping[str, str]) -> tuple[list[FormRoute], FormRoute]:
    """The rows of a submitted route form (existing routes, then the "add a route" row)."""
    count = _whole(form.get("routes", "0"), "route count")
    if not 0 <= count <= MAX_ROUTES:
        raise InvalidInput(f"The form has {count} routes; an endpoint has at most {MAX_ROUTES}.")
    rows = []
    for i in range(count):
        rows.append(
            FormRoute(
                i,
                form.get(f"r{i}.model", "").strip(),
                form.get(f"r{i}.version", "").strip(),
                form.get(f"r{i}.weight", "").strip(),
                f"r{i}.shadow" in form,
                f"r{i}.remove" in form,
            )
        )
    added = FormRoute(
        count,
        form.get("new.model", "").strip(),
        "",
        form.get("new.weight", "").strip(),
        "new.shadow" in form,
    )
    return rows, added


def form_fields(rows: Sequence[FormRoute], added: FormRoute, message: str) -> list[tuple[str, str]]:
    """The form again as (name, value) pairs: the hidden fields of the confirmation step."""
    out = [("routes", str(len(rows)))]
    for r in rows:
        out += [(f"r{r.index}.model", r.model), (f"r{r.index}.version", r.version)]
        out.append((f"r{r.index}.weight", r.weight))
        if r.shadow:
            out.append((f"r{r.index}.shadow", "on"))
        if r.remove:
            out.append((f"r{r.index}.remove", "on"))
    if added.model:
        out += [("new.model", added.model), ("new.weight", added.weight)]
        if added.shadow:
            out.append(("new.shadow", "on"))
    out.append(("message", message))
    return out


def routes_from_form(rows: Sequence[FormRoute], added: FormRoute) -> list[Route]:
    """The routes a submitted form describes. Existing routes keep the exact version they
    serve; a new one is a model URI (``models:/`` may be left out: ``digits/3``)."""
    routes = []
    for row in rows:
        if row.remove:
            continue
        if not row.model:
            raise InvalidInput(f"Route {row.index + 1} of the form has no model.")
        version = None
        if row.version:
            version = _whole(row.version, f"the version of {row.model}")
        routes.append(
            Route(
                row.model,
                weight=_weight(row.weight, row.label, row.shadow),
                shadow=row.shadow,
                version=version,
            )
        )
    if added.model:
        scheme = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", added.model)
        uri = added.model if scheme else f"models:/{added.model}"
        routes.append(
            Route(uri, weight=_weight(added.weight, uri, added.shadow), shadow=added.shadow)
        )
    if not routes:
        raise InvalidInput(
            "Every route would be removed; an endpoint needs at least one route that answers. "
            "To stop serving, delete the endpoint (loopline endpoints delete)."
        )
    return routes


def route_changes(old: EndpointSpec, new: EndpointSpec) -> list[RouteChange]:
    """Each route of either spec with its weight before and after, old routes first."""
    before = {_key(r): r for r in old.routes}
    after = {_key(r): r for r in new.routes}
    out = []
    for key, r in before.items():
        n = after.get(key)
        out.append(
            RouteChange(
                r.label,
                r.model,
                r.weight,
                None if n is None else n.weight,
                r.shadow,
                r.shadow if n is None else n.shadow,
            )
        )
    for key, n in after.items():
        if key not in before:
            out.append(RouteChange(n.label, n.model, None, n.weight, n.shadow, n.shadow))
    return out


def _key(route: Route) -> str:
    return route.pinned if route.version is not None else route.model


def period_of(value: str | None) -> int:
    """Minutes of chart history from the query string (anything else: the default)."""
    try:
        minutes = int(value or "")
    except ValueError:
        return DEFAULT_PERIOD
    return minutes if minutes in PERIODS else DEFAULT_PERIOD


def _grid(minutes: int, now: datetime) -> list[int]:
    """Window starts (Unix seconds) of the complete windows in the last ``minutes``."""
    step = WINDOW_SECONDS
    last = int(now.timestamp()) // step * step - step  # the window still filling is left out
    first = last - minutes * 60 + step
    return list(range(first, last + 1, step))


def _epoch(start: datetime) -> int:
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return int(start.timestamp()) // WINDOW_SECONDS * WINDOW_SECONDS


def since_of(minutes: int, now: datetime) -> datetime:
    """Where to start reading statistics for ``minutes`` of charts."""
    return datetime.fromtimestamp(_grid(minutes, now)[0], UTC) - timedelta(seconds=1)


def _value(metric: str, w: StatsWindow | None) -> float | None:
    if metric == "rate":
        return 0.0 if w is None else w.requests / WINDOW_SECONDS
    if w is None or w.requests == 0:
        return None
    if metric == "errors":
        return 100.0 * w.errors / w.requests
    if sum(w.buckets) == 0:
        return None
    return round(bucket_quantile(w.buckets, 0.5 if metric == "p50" else 0.99), 4)


def stats_payload(
    windows: Sequence[StatsWindow], metric: str, minutes: int, now: datetime
) -> dict[str, Any]:
    """Chart JSON (the shape the UI's charts read): one line per model version, x in Unix
    seconds, a point per 10-second window; no traffic is a rate of 0 and a gap elsewhere."""
    if metric not in CHART_METRICS:
        raise InvalidInput(
            f"There is no chart {metric!r}; the charts are {', '.join(CHART_METRICS)}."
        )
    xs = _grid(minutes, now)
    by_model: dict[str, dict[int, StatsWindow]] = {}
    for w in windows:
        by_model.setdefault(w.model, {})[_epoch(w.start)] = w
    series = []
    ys = []
    for model in sorted(by_model, key=_model_order):
        seen = by_model[model]
        values = [_value(metric, seen.get(x)) for x in xs]
        shown = sum(1 for x in xs if x in seen)
        series.append({"run_id": "", "label": model, "points": shown, "shown": shown})
        ys.append(values)
    return {"key": metric, "series": series, "x": xs if series else [], "y": ys}


@dataclass(frozen=True, slots=True)
class ModelFigures:
    """One model version's last minute: what the summary table shows."""

    model: str
    requests: int
    rate: float
    error_rate: float | None
    p50: float | None
    p99: float | None
    mean_batch: float | None


def stats_summary(windows: Sequence[StatsWindow], now: datetime) -> list[ModelFigures]:
    """Each model version's figures over the last minute of complete windows."""
    grid = _grid(1, now)[-SUMMARY_WINDOWS:]
    low, high = grid[0], grid[-1]
    merged: dict[str, list[StatsWindow]] = {}
    for w in windows:
        if low <= _epoch(w.start) <= high:
            merged.setdefault(w.model, []).append(w)
    out = []
    for model in sorted(merged, key=_model_order):
        ws = merged[model]
        requests = sum(w.requests for w in ws)
        errors = sum(w.errors for w in ws)
        buckets = [sum(col) for col in zip(*(w.buckets for w in ws), strict=True)]
        batches = sum(w.batches for w in ws)
        rows = sum(w.batch_rows for w in ws)
        counted = sum(buckets) > 0
        out.append(
            ModelFigures(
                model,
                requests,
                requests / (len(grid) * WINDOW_SECONDS),
                100.0 * errors / requests if requests else None,
                bucket_quantile(buckets, 0.5) if counted else None,
                bucket_quantile(buckets, 0.99) if counted else None,
                rows / batches if batches else None,
            )
        )
    return out


def version_link(label: str) -> tuple[str, str] | None:
    """(model, version) of a stats label like ``digits/4``, for a link; None if not one."""
    name, _, version = label.rpartition("/")
    if not name or not version.isdigit():
        return None
    return name, version


def _model_order(label: str) -> tuple[str, int]:
    name, _, version = label.rpartition("/")
    return (name, int(version)) if version.isdigit() else (label, -1)


def _label(model: str, version: str) -> str:
    name = model.removeprefix("models:/").split("@")[0]
    if version:
        parts = name.split("/")
        if len(parts) > 1 and (parts[-1].isdigit() or parts[-1] == "latest"):
            parts = parts[:-1]
        return f"{'/'.join(parts)}/{version}"
    return name


def _whole(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(
            f"{what[:1].upper()}{what[1:]} must be a whole number, not {text[:20]!r}."
        ) from None


def _weight(text: str, label: str, shadow: bool) -> int:
    if not text:
        if shadow:
            return 0
        raise InvalidInput(f"Give {label} a weight: its percentage of the traffic (0 to 100).")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value != int(value) or not 0 <= value <= 100:
        raise InvalidInput(
            f"The weight of {label} must be a whole percentage from 0 to 100, not {text[:20]!r}."
        )
    return int(value)
