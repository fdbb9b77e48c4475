"""The loop in small: a gate passes, the controller canaries the challenger on an endpoint served
in-process, live figures from real traffic decide, and every decision is recorded and
reversible; a canary that fails to load is rolled back; a restarted controller resumes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import loopline as ll
from loopline import Client
from loopline._endpoints import Endpoints
from loopline.backends import LocalBackend
from loopline.config import Settings
from loopline.db import utcnow
from loopline.errors import Conflict, InvalidInput
from tests.serving.conftest import inference_server, register_echo, register_sklearn, wait_for
from tests.serving.models import Broken


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Client]:
    c = Client(
        settings=Settings.from_env(
            {
                "LOOPLINE_HOME": str(tmp_path / "home"),
                "LOOPLINE_URI": f"sqlite:///{tmp_path / 'store.db'}",
                "LOOPLINE_USER": "ada",
                "LOOPLINE_PROJECT": "shop",
            }
        )
    )
    yield c
    c.close()


def holdout(seed: int, n: int = 200) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(n, 4)), columns=["a", "b", "c", "d"])
    return x, (x.a + x.b > 0).astype(int)


def kinds(backend: LocalBackend) -> list[str]:
    return [e.kind for e in reversed(backend.automation_timeline("shop"))]


def test_a_passed_gate_is_canaried_judged_on_live_traffic_promoted_and_reverted(
    shop: Client,
) -> None:
    backend = shop._backend
    assert isinstance(backend, LocalBackend)
    register_sklearn(shop, "iris", seed=0)
    register_sklearn(shop, "iris", seed=1)
    backend.registry.set_alias("shop", "iris", "champion", 1, actor="ada")
    Endpoints(shop).deploy("iris-api", "models:/iris@champion")
    policy = ll.delivery_policy(
        "iris-api",
        canary_percent=50,
        observe_for="1s",
        min_requests=10,
        margins={"accuracy": 0.2, "error_rate": 0.01, "p99_ms": 1000},
        client=shop,
    )
    assert policy.observe_seconds == 1.0
    x, y = holdout(7)
    with shop.start_run(project="shop") as run:
        result = ll.gate(
            "models:/iris/2",
            "champion",
            (x, y),
            metrics={"accuracy": ">= -0.05", "f1": "abs >= 0.5"},
            client=shop,
        )
    assert result.passed
    assert (result.challenger_version, result.champion_version) == (2, 1)
    assert {f.metric for f in result.figures} == {"accuracy", "f1"}
    assert shop.get_run(run.id).tags["loopline.gate"] == "passed"

    start = ll.automation.tick(client=shop)
    assert [e.kind for e in start.events] == ["canary_started"]
    canary = backend.get_endpoint("shop", "iris-api").revision
    assert sorted((r.version, r.weight) for r in canary.spec.primaries) == [(1, 50), (2, 50)]

    with inference_server(shop, "iris-api") as (http, app):
        wait_for(
            lambda: backend.serving.revision("shop", "iris-api", canary.number).status == "live",
            what="the canary revision live",
        )
        rows, truth = holdout(11, 80)
        for i, row in enumerate(rows.to_dict("records")):
            answer = http.post(
                "/invocations", json={"dataframe_records": [row]}, headers={"x-request-id": f"r{i}"}
            )
            assert answer.status_code == 200
        labels = [{"request_id": f"r{i}", "label": int(v)} for i, v in enumerate(truth)]
        assert http.post("/labels", json={"labels": labels}).json() == {"accepted": 80}
        app.watcher.flush()

        def served() -> int:
            return sum(
                w.requests for w in backend.serving.stats("shop", "iris-api") if w.model == "iris/2"
            )

        wait_for(lambda: served() >= 10, what="the canary's statistics")
        logged = backend.evaluations.predictions
        wait_for(
            lambda: logged("shop", "iris-api").label.notna().sum() == 80,
            what="the labelled prediction log",
        )
        decided = ll.automation.tick(utcnow() + timedelta(seconds=2), client=shop)
    assert [e.kind for e in decided.events] == ["observation", "promoted"]
    observation = decided.events[0].figures
    assert observation["challenger"]["requests"] >= 10
    assert observation["challenger"]["labelled"] > 0
    assert set(observation["margins"]) == {"accuracy", "error_rate", "p99_ms"}
    assert backend.registry.version("shop", "iris", "champion").number == 2
    promoted = backend.get_endpoint("shop", "iris-api").revision
    assert [(r.version, r.weight) for r in promoted.spec.primaries] == [(2, 100)]

    undone = ll.automation.revert(decided.events[1].id, client=shop)
    assert undone.kind == "reverted"
    assert backend.registry.version("shop", "iris", "champion").number == 1
    back = backend.get_endpoint("shop", "iris-api").revision
    assert [r.version for r in back.spec.primaries] == [1]
    with pytest.raises(Conflict, match="reverted already"):
        ll.automation.revert(decided.events[1].id, client=shop)
    assert kinds(backend) == [
        "gate_passed",
        "canary_started",
        "observation",
        "promoted",
        "reverted",
    ]


def test_a_failed_gate_records_its_figures_and_delivers_nothing(shop: Client) -> None:
    backend = shop._backend
    assert isinstance(backend, LocalBackend)
    register_sklearn(shop, "iris", seed=0)
    backend.registry.set_alias("shop", "iris", "champion", 1, actor="ada")
    Endpoints(shop).deploy("iris-api", "models:/iris@champion")
    ll.delivery_policy("iris-api", client=shop)
    x, y = holdout(3)
    worse = y.copy()
    from sklearn.dummy import DummyClassifier

    dummy = DummyClassifier(strategy="constant", constant=0).fit(x, worse)
    with shop.start_run(project="shop"):
        result = ll.gate(
            dummy, "champion", (x, y), model="iris", metrics={"accuracy": ">= -0.01"}, client=shop
        )
        missing = ll.gate(
            dummy,
            "champion",
            (x, y),
            model="iris",
            metrics={"mape": "<= 0.1"},
            register=False,
            client=shop,
        )
    assert not result.passed
    assert result.challenger_version is None
    assert result.delivery == "none"
    assert "accuracy" in result.message
    assert not missing.passed
    assert "'mape'" in missing.message
    assert "accuracy" in missing.message  # the metrics it did produce
    assert ll.automation.tick(client=shop).events == ()
    assert [v.number for v in backend.registry.versions("shop", "iris")] == [1]
    with pytest.raises(InvalidInput):
        ll.gate(
            dummy, "champion", (x, y), model="iris", metrics={"accuracy": "better"}, client=shop
        )


def test_a_canary_that_fails_to_load_is_rolled_back_and_a_restart_resumes(
    shop: Client,
) -> None:
    backend = shop._backend
    assert isinstance(backend, LocalBackend)
    register_echo(shop, "echo", 1.0)
    register_echo(shop, "echo", 2.0, cls=Broken)
    register_echo(shop, "echo", 3.0)
    Endpoints(shop).deploy("scorer", "models:/echo/1")
    ll.delivery_policy("scorer", canary_percent=10, observe_for="1h", min_requests=1, client=shop)
    backend.record_gate("shop", "echo", passed=True, figures=[], challenger_version=2)
    backend.record_gate("shop", "echo", passed=True, figures=[], challenger_version=3)
    assert [e.kind for e in ll.automation.tick(client=shop).events] == ["canary_started"]
    with inference_server(shop, "scorer"):
        broken = backend.get_endpoint("shop", "scorer").revision
        wait_for(
            lambda: backend.serving.revision("shop", "scorer", broken.number).status == "failed",
            what="the broken canary marked failed",
        )
    events = ll.automation.tick(client=shop).events
    assert [e.kind for e in events] == ["rolled_back", "canary_started"]  # then the next gate
    assert "failed to load" in events[0].message
    # A server restarted mid-canary: a new backend and controller over the same database pick
    # the delivery up where it is.
    again = LocalBackend.open(backend.settings)
    try:
        (delivery,) = again.list_deliveries("shop", active=True)
        assert (delivery.state, delivery.challenger_version) == ("canary", 3)
        with inference_server(shop, "scorer") as (http, app):
            wait_for(
                lambda: (
                    again.serving.revision("shop", "scorer", delivery.revision).status == "live"
                ),
                what="the canary live",
            )
            for _ in range(40):
                http.post("/invocations", json={"inputs": {"x": [1.0]}})
            app.watcher.flush()
            wait_for(
                lambda: any(w.model == "echo/3" for w in again.serving.stats("shop", "scorer")),
                what="the canary's statistics",
            )
            later = again.automation_tick(utcnow() + timedelta(hours=1, minutes=1))
    finally:
        again.close()
    assert [e.kind for e in later.events] == ["observation", "promoted"]
    assert [r.version for r in backend.get_endpoint("shop", "scorer").revision.spec.primaries] == [
        3
    ]
