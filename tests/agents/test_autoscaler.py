"""The autoscaler: decisions by queue depth and idleness, with a provider at the seam and with
real local agent processes."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from loopline import Client
from loopline.agents._autoscaler import Autoscaler, LocalProcessProvider, Policy
from loopline.backends import LocalBackend
from loopline.config import Settings
from loopline.errors import InvalidInput
from tests.agents import flows
from tests.agents.processes import Processes, eventually


class RegisteringProvider:
    """A provider whose 'agents' register at once and never run anything: the autoscaler's
    view of the world without processes (the seam's fake, as the protocol describes)."""

    def __init__(self, backend: LocalBackend) -> None:
        self.backend = backend
        self.ids: dict[str, str] = {}

    def start(self, name: str, queues: Sequence[str]) -> None:
        self.ids[name] = self.backend.register_agent(name, "fake", list(queues)).id

    def stop(self, name: str) -> None:
        self.backend.stop_agent(self.ids.pop(name))

    def running(self) -> list[str]:
        return sorted(self.ids)


def test_scales_up_with_depth_up_to_max_then_down_when_idle(local_backend: LocalBackend) -> None:
    provider = RegisteringProvider(local_backend)
    scaler = Autoscaler(
        local_backend, provider, ["default"], Policy(min_agents=1, max_agents=3, idle_timeout=0)
    )
    first = scaler.tick()
    assert [d.action for d in first] == ["start"]
    assert "fewer than the minimum 1" in first[0].reason
    payload = local_backend.put_blob(b"p").digest
    for _ in range(5):
        local_backend.enqueue_task("default", "step", payload)
    grown = scaler.tick()
    # One agent is registered and idle (free for 1 task): 4 more wait, 2 more agents at most.
    assert [d.action for d in grown] == ["start", "start"]
    assert "5 tasks wait, agents are free for 1" in grown[0].reason
    assert len(provider.running()) == 3
    held = scaler.tick()
    assert [d.action for d in held] == ["hold"]
    assert "the maximum" in held[0].reason
    assert scaler.tick() == []  # the same hold is recorded once
    for task in local_backend.list_tasks(status="queued"):
        local_backend.cancel_task(task.id)
    stops = [d for _ in range(3) for d in scaler.tick() if d.action == "stop"]
    assert len(stops) == 2
    assert all("idle for" in d.reason for d in stops)
    recorded = [d for d in local_backend.list_decisions(queue="default") if d.action == "stop"]
    assert [d.id for d in recorded] == sorted((d.id for d in stops), reverse=True)
    assert len(provider.running()) == 1  # the minimum stays


def test_bad_bounds_are_explained() -> None:
    with pytest.raises(InvalidInput, match="min <= max"):
        Policy(min_agents=3, max_agents=2)


def test_local_agents_come_for_work_and_go_when_idle(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    (gate / "release").touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    env.update({"LOOPLINE_HOME": str(tmp_path / "home"), flows.GATE: str(gate)})
    procs = Processes(tmp_path, env)
    procs.start_server()
    settings = Settings.from_env(
        {"LOOPLINE_URI": procs.url, "LOOPLINE_HOME": str(tmp_path / "scaler-home")}
    )
    client = Client(settings=settings)
    provider = LocalProcessProvider(settings, lease_seconds=5, poll_seconds=0.1)
    scaler = Autoscaler(
        client._backend,
        provider,
        ["default"],
        Policy(min_agents=0, max_agents=2, idle_timeout=1),
        log=lambda _text: None,
    )
    stop = threading.Event()
    thread = threading.Thread(target=scaler.run, args=(stop,), kwargs={"interval": 0.2})
    os.environ[flows.GATE] = str(gate)
    try:
        thread.start()
        result = flows.quick.run(executor="queue", client=client, n=4)
        assert result.output("total") == 6
        eventually(lambda: not provider.running(), "the idle agents to be stopped", timeout=90)
        actions = [d.action for d in client._backend.list_decisions(queue="default")]
        assert "start" in actions
        assert "stop" in actions
    finally:
        stop.set()
        thread.join()
        provider.close()
        client.close()
        procs.close()
        os.environ.pop(flows.GATE, None)
