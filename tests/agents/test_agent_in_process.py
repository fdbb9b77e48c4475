"""An agent in a thread of the test, on the embedded store (no server): timeouts and output."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopline import Client
from loopline.agents._agent import Agent
from loopline.config import Settings
from loopline.pipelines import PipelineFailed
from tests.agents import flows


@pytest.fixture
def client_and_agent(settings: Settings, tmp_path: Path) -> Iterator[tuple[Client, Agent]]:
    client = Client(settings=settings)
    lines: list[str] = []
    agent = Agent(client._backend, settings, ["default"], poll_seconds=0.05, log=lines.append)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    try:
        yield client, agent
    finally:
        stop.set()
        thread.join()
        client.close()


def test_a_step_past_its_timeout_fails_on_the_agent(
    client_and_agent: tuple[Client, Agent],
) -> None:
    client, agent = client_and_agent
    with pytest.raises(PipelineFailed, match="timed out after 1 s"):
        flows.hangs.run(executor="queue", client=client, n=2)
    [task] = [t for t in client._backend.list_tasks() if t.name.startswith("sleepy")]
    assert task.status == "failed"
    assert task.agent_id == agent.agent_id
    assert agent.stats.finished[task.id] == "failed"
