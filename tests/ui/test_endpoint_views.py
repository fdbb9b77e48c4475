"""The endpoint pages' form reading and statistics, without a server: any typed text is a route
or a clear InvalidInput, a form round-trips, and chart series put each window in its place."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from loopline.errors import InvalidInput
from loopline.serving import LATENCY_BUCKETS_MS, EndpointSpec, Route, StatsWindow
from loopline.ui._endpoint_views import (
    FormRoute,
    form_fields,
    form_rows,
    route_changes,
    routes_from_form,
    stats_payload,
    stats_summary,
    submitted_rows,
)

NOW = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)


@given(
    weight=st.text(max_size=12),
    model=st.text(max_size=30),
    shadow=st.booleans(),
    count=st.text(max_size=4),
)
def test_any_typed_form_is_routes_or_a_clear_refusal(
    weight: str, model: str, shadow: bool, count: str
) -> None:
    form = {"routes": count, "r0.model": "models:/m/1", "r0.weight": weight, "new.model": model}
    if shadow:
        form["r0.shadow"] = "on"
    try:
        rows, added = submitted_rows(form)
        routes = routes_from_form(rows, added)
    except InvalidInput as exc:
        message = exc.message
        assert message
        return
    assert all(0 <= r.weight <= 100 for r in routes)


@given(
    weights=st.lists(st.integers(0, 100), min_size=1, max_size=5),
    shadows=st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_a_form_round_trips_to_the_same_routes(weights: list[int], shadows: list[bool]) -> None:
    routes = [
        Route(f"models:/m/{i + 1}", w, shadow=shadows[i] and i > 0, version=i + 1)
        for i, w in enumerate(weights)
    ]
    rows = [
        FormRoute(i, r.model, str(r.version), str(r.weight), r.shadow) for i, r in enumerate(routes)
    ]
    fields = dict(form_fields(rows, FormRoute(len(rows), "", "", "", False), "why"))
    again, added = submitted_rows(fields)
    assert routes_from_form(again, added) == routes
    assert fields["message"] == "why"


def test_changes_pair_routes_by_version() -> None:
    old = EndpointSpec(
        routes=(Route("models:/m/1", 90, version=1), Route("models:/m/2", 10, version=2))
    )
    new = old.with_routes(
        [
            Route("models:/m/1", 100, version=1),
            Route("models:/m/2", 0, shadow=True, version=2),
            Route("models:/m@best", 0, shadow=True, version=3),
        ]
    )
    kinds = [(c.label, c.kind, c.old_weight, c.new_weight) for c in route_changes(old, new)]
    assert kinds == [
        ("m/1", "modified", 90, 100),
        ("m/2", "modified", 10, 0),
        ("m/3", "added", None, 0),
    ]
    assert form_rows(old)[1] == FormRoute(1, "models:/m/2", "2", "10", False)


def _window(seconds_ago: int, model: str, requests: int, errors: int = 0) -> StatsWindow:
    start = datetime.fromtimestamp(int(NOW.timestamp()) // 10 * 10 - seconds_ago, UTC)
    buckets = [0] * len(LATENCY_BUCKETS_MS)
    buckets[4] = requests  # 5 to 10 ms
    return StatsWindow(start, model, requests, errors, 7.0 * requests, tuple(buckets))


def test_series_put_each_window_in_its_place_and_leave_the_filling_one_out() -> None:
    windows = [_window(10, "m/1", 20, 2), _window(30, "m/1", 10), _window(0, "m/1", 99)]
    rate = stats_payload(windows, "rate", 5, NOW)
    assert len(rate["x"]) == 30
    assert rate["x"][-1] == int(NOW.timestamp()) // 10 * 10 - 10
    assert rate["y"][0][-3:] == [1.0, 0.0, 2.0]  # the window still filling (99) is not drawn
    errors = stats_payload(windows, "errors", 5, NOW)
    assert errors["y"][0][-3:] == [0.0, None, 10.0]
    p50 = stats_payload(windows, "p50", 5, NOW)
    assert p50["y"][0][-1] == 7.5
    [figures] = stats_summary(windows, NOW)
    assert (figures.model, figures.requests, figures.rate) == ("m/1", 30, 0.5)
    assert figures.error_rate is not None
    assert round(figures.error_rate, 4) == round(200 / 30, 4)
