"""Faults of the loop on real components: controllers racing on one PostgreSQL database (each
event launches once, each passed gate is delivered once), and a real `loopline server` process
killed with SIGKILL mid-canary, restarted, continuing from the recorded state to promotion."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

import loopline as ll
from loopline import Client
from loopline._endpoints import Endpoints
from loopline.automation import AutomationController, TickReport
from loopline.backends import LocalBackend
from loopline.config import Settings
from loopline.serving import LATENCY_BUCKETS_MS, WINDOW_SECONDS, StatsWindow
from tests.automation.conftest import Launches, publish_flow
from tests.fixtures.automation_ui_data import ENDPOINT, MODEL, register_version
from tests.fixtures.server import free_port, wait_until_answers


def race(controllers: list[AutomationController]) -> list[TickReport]:
    """One tick of every controller, started together in threads."""
    barrier = threading.Barrier(len(controllers))
    reports: list[TickReport] = []

    def run(c: AutomationController) -> None:
        barrier.wait()
        reports.append(c.tick())

    threads = [threading.Thread(target=run, args=(c,)) for c in controllers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(reports) == len(controllers)
    return reports


def test_controllers_racing_on_postgresql_launch_and_deliver_each_once(
    postgres_url: str, tmp_path: Path
) -> None:
    settings = Settings.from_env(
        {
            "LOOPLINE_HOME": str(tmp_path / "home"),
            "LOOPLINE_URI": postgres_url,
            "LOOPLINE_ARTIFACTS": str(tmp_path / "blobs"),
            "LOOPLINE_AUTO_UPGRADE": "1",
            "LOOPLINE_USER": "ada",
            "LOOPLINE_PROJECT": "loop",
        }
    )
    client = Client(settings=settings)
    backends = [LocalBackend.open(settings) for _ in range(3)]  # three processes' worth
    try:
        client.create_project("loop")
        publish_flow(client, tmp_path)
        draft = ll.Dataset.create("images", project="loop", client=client)
        draft.add_frame(pd.DataFrame({"a": [0]}), "data.parquet")
        draft.commit()
        ll.automation.trigger(
            "on-data", on="dataset", dataset="images", template="retrain", debounce=0,
            params={"dataset_version": "{event.version}"}, client=client,
        )  # fmt: skip
        register_version(client, "loop", 0)
        register_version(client, "loop", 1)
        backends[0].registry.set_alias("loop", MODEL, "champion", 1, actor="ada")
        Endpoints(client).deploy(ENDPOINT, f"models:/{MODEL}@champion", project="loop")
        ll.delivery_policy(ENDPOINT, canary_percent=10, client=client)
        launches = Launches(backends[0])
        controllers = [
            AutomationController(b.automation, b.settings, launch=launches) for b in backends
        ]
        launched = []
        for n in (2, 3):  # two events, each raced for by three controllers
            draft = ll.Dataset.create("images", project="loop", parent="latest", client=client)
            draft.add_frame(pd.DataFrame({"a": [n]}), "data.parquet")
            draft.commit()
            reports = race(controllers)
            assert [e for r in reports for e in r.errors] == []
            launched += [f for r in reports for f in r.firings if f.status == "launched"]
            launches.finish()
        assert len(launched) == 2 == len(launches.made)  # one launch per event
        assert sorted(r.params["dataset_version"] for r in launches.made) == [2, 3]

        backends[0].record_gate("loop", MODEL, passed=True, figures=[], challenger_version=2,
                                champion_version=1)  # fmt: skip
        reports = race(controllers)
        started = [e for r in reports for e in r.events if e.kind == "canary_started"]
        assert len(started) == 1  # the gate is delivered once
        (delivery,) = backends[1].list_deliveries("loop", active=True)
        assert (delivery.state, delivery.challenger_version) == ("canary", 2)
        revisions = backends[2].endpoint_revisions("loop", ENDPOINT)
        assert len(revisions) == 2  # one canary revision, not three
    finally:
        for b in backends:
            b.close()
        client.close()


def _window(model: str, requests: int) -> StatsWindow:
    now = time.time()
    start = datetime.fromtimestamp(now // WINDOW_SECONDS * WINDOW_SECONDS, tz=UTC)
    buckets = [0] * len(LATENCY_BUCKETS_MS)
    buckets[3] = requests
    return StatsWindow(start, model, requests, 0, 2.0 * requests, tuple(buckets))


def _until(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_a_server_killed_mid_canary_resumes_from_the_recorded_state(tmp_path: Path) -> None:
    env = {
        "LOOPLINE_HOME": str(tmp_path / "home"),
        "LOOPLINE_URI": f"sqlite:///{tmp_path / 'store.db'}",
        "LOOPLINE_USER": "ada",
        "LOOPLINE_PROJECT": "shop",
    }
    client = Client(settings=Settings.from_env(env))
    try:
        client.create_project("shop")
        register_version(client, "shop", 0)
        register_version(client, "shop", 1)
        backend = client._backend
        assert isinstance(backend, LocalBackend)
        backend.registry.set_alias("shop", MODEL, "champion", 1, actor="ada")
        Endpoints(client).deploy(ENDPOINT, f"models:/{MODEL}@champion", project="shop")
        ll.delivery_policy(ENDPOINT, canary_percent=25, observe_for="1s", min_requests=5,
                           margins={"error_rate": 0.01}, client=client)  # fmt: skip
        client._backend.record_gate("shop", MODEL, passed=True, figures=[],
                                    challenger_version=2, champion_version=1)  # fmt: skip
    finally:
        client.close()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}

    def start() -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "loopline", "server", "--port", str(port),
             "--log-level", "warning"],
            env={**base_env, **env}, cwd=tmp_path,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        wait_until_answers(f"{url}/healthz", timeout=30)
        return proc, url

    api = "/api/v1/projects/shop/automation"
    first, url = start()
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            assert http.post("/api/v1/automation/tick", json={}).status_code == 200
            (delivery,) = _until(
                lambda: http.get(f"{api}/deliveries", params={"active": True}).json(),
                "the canary",
            )
            assert (delivery["state"], delivery["challenger_version"]) == ("canary", 2)
    finally:
        first.kill()  # SIGKILL: no shutdown, no cleanup
        first.wait(10)
    second, url = start()
    try:
        remote = Client(settings=Settings.from_env({**env, "LOOPLINE_URI": url}))
        try:
            # An inference server reports to the restarted server: the canary loaded, and
            # both versions answered requests.
            remote._backend.mark_endpoint_revision("shop", ENDPOINT, delivery["revision"], "live")
            remote._backend.record_endpoint_stats(
                "shop", ENDPOINT, "worker-1",
                [_window(f"{MODEL}/2", 20), _window(f"{MODEL}/1", 60)],
            )  # fmt: skip
        finally:
            remote.close()
        with httpx.Client(base_url=url, timeout=30) as http:
            later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
            assert http.post("/api/v1/automation/tick", json={"now": later}).status_code == 200
            events = http.get(f"{api}/timeline").json()
            kinds = [e["kind"] for e in reversed(events)]
            assert kinds == ["gate_passed", "canary_started", "observation", "promoted"]
            (done,) = http.get(f"{api}/deliveries").json()
            assert done["state"] == "promoted"
            assert (
                http.get("/api/v1/projects/shop/models/digits/versions/champion").json()["number"]
                == 2
            )
    finally:
        second.terminate()
        second.wait(20)
