"""Monitors: stored checks of an endpoint, their time series, alert rules and alerts, webhooks,
the scheduler's claim, and the bad input of issue 7 (no data, missing / null / constant
columns, unknown request ids, unseen categories, no reference profile)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from tests.monitoring.helpers import labels, predictions
from tests.pipelines.test_notifications import Hook

import loopline as ll
from loopline import Client
from loopline.backends import Backend, LocalBackend
from loopline.errors import InvalidInput, NotFound
from loopline.monitoring import MonitorScheduler, OperationalWindow, threshold
from loopline.monitoring._evaluation import table_to_parquet
from loopline.monitoring._monitors import MonitorService
from loopline.pipelines._schedules import check_cron
from loopline.pipelines._types import InvalidParameter
from loopline.projects import _cron
from loopline.projects._webhooks import wait_for_deliveries

T = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
N = 200


@pytest.fixture
def hook() -> Iterator[Hook]:
    made = Hook()
    thread = threading.Thread(target=made.server.serve_forever, daemon=True)
    thread.start()
    yield made
    made.server.shutdown()
    made.server.server_close()


def _reference(local_backend: LocalBackend) -> None:
    """Dataset 'train' in project 'demo': the reference the monitors compare with."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(0, 1, 2000),
            "plan": rng.choice(["basic", "pro"], 2000),
            "flat": np.full(2000, 3.0),
        }
    )
    client = Client(settings=local_backend.settings)
    try:
        ds = ll.Dataset.create("train", project="demo", client=client)
        ds.add_frame(frame, "train.parquet")
        ds.commit()
    finally:
        client.close()


def _log(
    backend: Backend,
    start: datetime,
    *,
    shift: float = 0.0,
    prefix: str = "r",
    version: int = 1,
    inputs: dict[str, Any] | None = None,
    n: int = N,
) -> list[str]:
    rng = np.random.default_rng(int(start.timestamp()) + version)
    ids = [f"{prefix}{version}-{start:%H%M}-{i}" for i in range(n)]
    values = inputs or {
        "x": (rng.normal(0, 1, n) + shift).tolist(),
        "plan": rng.choice(["basic", "pro"], n).tolist(),
        "flat": [3.0] * n,
    }
    table = predictions(ids, start=start, step=timedelta(seconds=1), version=version, inputs=values)
    backend.append_predictions("demo", "api", table_to_parquet(table))
    return ids


def test_the_cron_helpers_live_in_projects_and_pipelines_keeps_its_names() -> None:
    assert _cron.next_firings("*/15 * * * *", "UTC", T + timedelta(minutes=7)) == [
        T + timedelta(minutes=15)
    ]
    with pytest.raises(InvalidInput, match="not a cron expression"):
        _cron.check_cron("every minute")
    with pytest.raises(InvalidParameter):  # pipelines still answers with its own type
        check_cron("every minute")


def test_monitors_are_made_changed_paused_and_deleted(backend: Backend) -> None:
    backend.create_project("demo")
    rule = threshold("drift_share > 0.3", for_windows=2)
    made = backend.create_monitor(
        "demo", "watch", "api", schedule="*/15 * * * *", rules=[rule],
        notify=[{"url": "http://127.0.0.1:9/hook"}], quality={"task": "classification"},
    )  # fmt: skip
    assert (made.name, made.endpoint, made.status, made.open_alerts) == ("watch", "api", "never", 0)
    assert made.rules == [rule]
    assert made.quality == {"task": "classification"}
    assert made.next_run_at is not None
    changed = backend.create_monitor("demo", "watch", "api", schedule="@hourly", latency=False)
    assert (changed.id, changed.schedule, changed.latency, changed.rules) == (
        made.id, "@hourly", None, []
    )  # fmt: skip
    assert [m.name for m in backend.list_monitors("demo")] == ["watch"]
    paused = backend.set_monitor_enabled("demo", "watch", False)
    assert (paused.enabled, paused.next_run_at) == (False, None)
    assert backend.set_monitor_enabled("demo", "watch", True).next_run_at is not None
    backend.delete_monitor("demo", "watch")
    with pytest.raises(NotFound, match="Monitor 'watch' not found"):
        backend.get_monitor("demo", "watch")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"schedule": "often"}, "not a cron expression"),
        ({"timezone": "Mars/Olympus"}, "IANA time zone"),
        ({"drift": {"alpah": 0.1}}, "unknown option 'alpah'"),
        ({"drift": {"alpha": 2}}, "alpha"),
        ({"drift": False, "quality": False, "latency": False}, "checks something"),
        ({"rules": ["accuracy << 0.9"]}, "metric > number"),
        ({"rules": ["acuracy < 0.9"]}, "Did you mean 'accuracy'"),
        ({"notify": ["ftp://example"]}, "http"),
    ],
)
def test_bad_monitors_are_refused_with_the_reason(
    backend: Backend, kwargs: dict[str, Any], match: str
) -> None:
    backend.create_project("demo")
    others = {k: v for k, v in kwargs.items() if k != "rules"}

    def make() -> None:
        rules = [threshold(r) for r in kwargs.get("rules", [])]
        backend.create_monitor("demo", "m", "api", rules=rules, **others)

    with pytest.raises(InvalidInput, match=match):
        make()


def test_drift_quality_latency_are_stored_per_version_and_alerts_fire_once_then_resolve(
    local_backend: LocalBackend, hook: Hook
) -> None:
    _reference(local_backend)
    svc = local_backend.monitors
    svc.create(
        "demo", "watch", "api", schedule="*/15 * * * *", drift={"reference": "train"},
        rules=[threshold("drift_share > 0.3", for_windows=2), threshold("accuracy < 0.5")],
        notify=[hook.url],
    )  # fmt: skip
    # Window 1: v1 like the reference, v2 shifted in x; labels all right for v1.
    ids = _log(local_backend, T)
    _log(local_backend, T, version=2, shift=1.0)
    local_backend.append_labels(
        "demo", "api", table_to_parquet(labels(dict.fromkeys(ids, 0) | {"ghost": 1}))
    )  # outputs alternate 0/1: accuracy 0.5; "ghost" is a label for no logged request
    first = svc.run("demo", "watch", now=T + timedelta(minutes=15))
    assert first.status == "ok"
    assert first.errors == {}
    values = {(r.metric, r.version): r.value for r in first.results}
    assert values[("drift_share", 1)] == 0.0
    assert values[("drift_share", 2)] == pytest.approx(1 / 3)  # x of x, plan, flat
    assert values[("labelled", 1)] == N
    assert values[("labelled", 2)] == 0
    assert values[("accuracy", 1)] == 0.5
    assert values[("requests", 1)] == N
    assert values[("error_rate", 1)] == 0.0
    p99, p50 = values[("p99_ms", 1)], values[("p50_ms", 1)]
    assert p99 is not None
    assert p50 is not None
    assert p99 > p50
    assert first.alerts == []  # drift needs 2 windows; accuracy 0.5 is not < 0.5
    # Its drift report is stored, viewable and names the drifted column.
    html = svc.report("demo", "watch", first.id, model="churn", version=2)
    assert "<html" in html.lower()
    assert "x" in html
    # Window 2: still shifted -> the drift alert fires, once.
    _log(local_backend, T + timedelta(minutes=15), version=2, shift=1.0)
    second = svc.run("demo", "watch", now=T + timedelta(minutes=30))
    (fired,) = svc.alerts("demo", state="firing")
    assert second.alerts == [fired.id]
    assert (fired.monitor, fired.rule, fired.metric, fired.threshold) == (
        "watch", "drift_share > 0.3", "drift_share", 0.3
    )  # fmt: skip
    assert fired.value == pytest.approx(1 / 3)
    assert fired.window_start == T + timedelta(minutes=15)
    assert "churn v2" in fired.message
    assert len(fired.figures["windows"]) == 2
    # Window 3 has no data: nothing changes (no flapping), no notification.
    third = svc.run("demo", "watch", now=T + timedelta(minutes=45))
    assert third.status == "no data"
    assert third.alerts == []
    assert [a.state for a in svc.alerts("demo")] == ["firing"]
    assert svc.get("demo", "watch").open_alerts == 1
    # Window 4: back to normal -> resolved.
    _log(local_backend, T + timedelta(minutes=45), version=2)
    fourth = svc.run("demo", "watch", now=T + timedelta(minutes=60))
    (resolved,) = svc.alerts("demo")
    assert (resolved.id, resolved.state) == (fired.id, "resolved")
    assert resolved.resolved_at == T + timedelta(minutes=60)
    assert fourth.alerts == [fired.id]
    wait_for_deliveries(10)
    bodies = hook.wait_for(2)
    assert [b["event"] for b in bodies] == ["alert.firing", "alert.resolved"]
    assert bodies[0]["alert"]["id"] == fired.id
    assert bodies[0]["link"] == "/ui/projects/demo/alerts"
    # The contract automation reads: since is exclusive, ordered by fired_at.
    assert svc.alerts("demo", since=fired.fired_at) == []
    assert svc.alerts("demo", since=fired.fired_at - timedelta(seconds=1), monitor="watch")
    drift = svc.results("demo", "watch", metric="drift_share")
    assert [(r.window_end, r.version, r.status) for r in drift][-2:] == [
        (T + timedelta(minutes=60), 2, "ok"),
        (T + timedelta(minutes=60), None, "no data"),
    ] or [r.status for r in drift].count("no data") >= 1


def test_bad_production_data_gives_verdicts_not_crashes(local_backend: LocalBackend) -> None:
    _reference(local_backend)
    svc = local_backend.monitors
    svc.create("demo", "watch", "api", drift={"reference": "train"}, window=timedelta(minutes=15))
    # "flat" is not logged, "plan" has a category never seen in training, "x" is all null.
    n = N
    _log(
        local_backend,
        T,
        inputs={"x": pa.array([None] * n, pa.float64()), "plan": ["enterprise"] * n},
    )
    run = svc.run("demo", "watch", now=T + timedelta(minutes=15))
    assert run.status == "ok", run.errors
    (share,) = [r for r in run.results if r.metric == "drift_share"]
    assert share.value == 1.0  # plan: every row in a new category
    assert "not logged: flat" in share.message
    html = svc.report("demo", "watch", run.id)
    assert "(new)" in html
    assert "not in the current data" in html


def test_a_failing_check_is_recorded_and_the_others_still_run(local_backend: LocalBackend) -> None:
    local_backend.create_project("demo")
    svc = local_backend.monitors
    svc.create("demo", "watch", "api", rules=["drift_share > 0.1"])  # model 'churn' unregistered
    _log(local_backend, T)
    run = svc.run("demo", "watch", now=T + timedelta(minutes=15))
    assert run.status == "error"
    assert set(run.errors) == {"drift"}
    (drift,) = [r for r in run.results if r.check == "drift"]
    assert (drift.status, drift.value) == ("error", None)
    assert {r.metric for r in run.results if r.status == "ok"} >= {"requests", "p99_ms"}
    assert svc.alerts("demo") == []


def test_latency_comes_from_the_source_the_backend_hands_in(local_backend: LocalBackend) -> None:
    local_backend.create_project("demo")
    seen: list[tuple[str, str, datetime, datetime]] = []

    def serving(project: str, endpoint: str, start: datetime, end: datetime) -> list[Any]:
        seen.append((project, endpoint, start, end))
        return [OperationalWindow("churn", 3, 1000, 20, 1.0, 5.0, 80.0, 2.0)]

    svc = MonitorService(
        local_backend.db, local_backend.projects, local_backend.evaluations, operations=serving
    )
    svc.create("demo", "ops", "api", drift=False, quality=False, rules=["p99_ms > 50"])
    run = svc.run("demo", "ops", now=T)
    assert seen == [("demo", "api", T - timedelta(minutes=15), T)]
    values = {r.metric: r.value for r in run.results}
    assert values["error_rate"] == 0.02
    assert values["p99_ms"] == 80.0
    (alert,) = svc.alerts("demo", state="firing")
    assert (alert.metric, alert.value, alert.figures["values"]) == (
        "p99_ms", 80.0, {"churn v3": 80.0}
    )  # fmt: skip


def test_two_schedulers_run_each_due_monitor_once(local_backend: LocalBackend) -> None:
    local_backend.create_project("demo")
    svc = local_backend.monitors
    svc.create("demo", "ops", "api", drift=False, quality=False, now=T - timedelta(minutes=1))
    _log(local_backend, T - timedelta(minutes=10))
    due = T + timedelta(seconds=5)
    a, b = MonitorScheduler(svc), MonitorScheduler(svc)
    made = a.tick(due) + b.tick(due)
    assert [r.trigger for r in made] == ["schedule"]
    assert made[0].window_end == due
    assert svc.get("demo", "ops").next_run_at == T + timedelta(minutes=15)
    assert a.tick(due) == []


def test_the_one_liners_and_the_remote_backend(
    backend: Backend, local_backend: LocalBackend
) -> None:
    backend.create_project("demo")
    client = Client(settings=local_backend.settings)
    own, client._backend = client._backend, backend  # the same store, local or remote
    own.close()
    record = ll.monitor("api", "*/5 * * * *", rules=["error_rate > 0.5"], drift=False,
                        project="demo", client=client)  # fmt: skip
    assert record.name == "api"
    assert record.rules[0].metric == "error_rate"
    now = datetime.now(UTC)
    ids = [f"e{i}" for i in range(10)]
    table = predictions(ids, start=now - timedelta(minutes=2), step=timedelta(seconds=1),
                        errors=["boom"] * 10)  # fmt: skip
    backend.append_predictions("demo", "api", table_to_parquet(table))
    run = ll.run_monitor("api", project="demo", client=client)
    assert {r.metric: r.value for r in run.results}["error_rate"] == 1.0
    (alert,) = ll.alerts(state="firing", project="demo", client=client)
    assert alert.metric == "error_rate"
    assert alert.monitor == "api"
    assert backend.monitor_runs("demo", "api")[0].id == run.id
    assert backend.monitor_results("demo", "api", metric="error_rate")[0].value == 1.0
    with pytest.raises(NotFound):
        backend.monitor_report("demo", "api", run.id)
