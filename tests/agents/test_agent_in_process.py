"""An agent in a thread of the test, on the embedded store (no server): timeouts and output."""

from __future__ import annotations

import threading
import time
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


def test_a_steps_output_reaches_its_run_while_the_step_runs(
    client_and_agent: tuple[Client, Agent], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _agent = client_and_agent
    monkeypatch.setenv(flows.GATE, str(tmp_path))  # the agent's task processes inherit it
    backend = client._backend
    done: list[object] = []
    runner = threading.Thread(
        target=lambda: done.append(flows.talks.run(executor="queue", client=client, n=3))
    )
    runner.start()
    try:
        deadline = time.monotonic() + 60
        seen = ""
        while "working on 3 values" not in seen and time.monotonic() < deadline:
            time.sleep(0.2)
            steps = [r for r in backend.search_runs("default", limit=100) if r.name == "chatty"]
            if steps:
                seen = backend.read_console(steps[0].id).text
        assert "working on 3 values" in seen
        assert "done" not in seen
        [step] = [r for r in backend.search_runs("default", limit=100) if r.name == "chatty"]
        assert step.status == "running"  # the step has not ended: its output came live
    finally:
        (tmp_path / "release").touch()
        runner.join(timeout=60)
    assert done, "the pipeline did not finish"
    [step] = [r for r in backend.search_runs("default", limit=100) if r.name == "chatty"]
    final = backend.read_console(step.id).text
    assert "working on 3 values" in final
    assert "done" in final
