"""A task no agent can take waits and says so: in the API, on the agents page and in the CLI."""

from __future__ import annotations

import httpx
from typer.testing import CliRunner

from loopline.backends import Backend, LocalBackend
from loopline.cli import app


def test_the_reason_reaches_both_backends(backend: Backend, payload: str) -> None:
    backend.put_queue("gpu", tags=["gpu"])
    task = backend.enqueue_task("gpu", "step", payload, resources={"gpu": 1})
    backend.register_agent("cpu", "h", ["gpu"])
    why = backend.get_task(task.id).waiting
    assert why is not None
    assert "No agent of queue 'gpu' offers gpu=1" in why


def test_the_agents_page_and_the_cli_say_why_a_task_waits(
    server_url: str, local_backend: LocalBackend
) -> None:
    local_backend.put_queue("tpu")
    payload = local_backend.put_blob(b"x").digest
    task = local_backend.enqueue_task("tpu", "step", payload, name="big", resources={"tpu": 8})
    page = httpx.get(f"{server_url}/ui/agents/live")
    assert "No agent serves queue &#39;tpu&#39;" in page.text

    result = CliRunner().invoke(app, ["--uri", server_url, "tasks", "list"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert f"Task {task.id} waits: No agent serves queue 'tpu'" in said
    assert "loopline agent --queue tpu" in said
