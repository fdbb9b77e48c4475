"""Launching a template with ``executor="queue"``: the run is put on a queue for an agent (no
agent here), through the SDK on both backends and the HTTP route; bad choices name their field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import loopline as ll
from loopline import Client
from loopline.backends import LocalBackend
from loopline.config import Settings
from loopline.errors import InvalidInput
from tests.agents import flows


@pytest.fixture(params=["local", "remote"])
def client(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Client]:
    """A client of the store ``settings`` describe, direct or through a server over it."""
    if request.param == "local":
        made = Client(settings=settings)
    else:
        url: str = request.getfixturevalue("server_url")
        made = Client(
            settings=Settings.from_env(
                {"LOOPLINE_URI": url, "LOOPLINE_HOME": str(settings.home / "remote-client")}
            )
        )
    flows.quick.publish("quick-template", client=made)
    made._backend.put_queue("gpu", tags=["gpu"])
    yield made
    made.close()


def test_a_queued_launch_waits_on_its_queue_for_an_agent(client: Client) -> None:
    store = client._backend
    run = ll.launch(
        "quick-template", {"n": 4}, executor="queue", queue="gpu", client=client, wait=False
    )
    assert run.status == "running"
    tags = client.get_run(run.id).tags
    task = store.get_task(str(tags["loopline.task"]))
    assert (task.kind, task.queue, task.status, task.max_attempts) == (
        "pipeline",
        "gpu",
        "queued",
        1,
    )
    job = json.loads(store.get_blob(task.payload))
    assert job == {"run": run.id, "only": None, "reuse": None, "executor": "queue"}

    # ll.agents.launch is the same path; its steps stay on the driving agent by default.
    from loopline import agents

    other = agents.launch("quick-template", {"n": 2}, client=client, priority=3, env={"A": "1"})
    assert (other.queue, other.priority, other.env) == ("default", 3, {"A": "1"})
    assert json.loads(store.get_blob(other.payload))["executor"] == "local"
    assert len(store.list_pipeline_runs("default", "quick-template")) == 2


BAD_CHOICES: list[tuple[dict[str, Any], str, str]] = [
    ({"executor": "rayy"}, "executor", "executor is one of 'local', 'queue', not 'rayy'"),
    ({"executor": "queue", "queue": "gpuu"}, "queue", "No queue is called 'gpuu'. Did you"),
    ({"queue": "gpu"}, "queue", "queue 'gpu' is for executor='queue'"),
]


def test_a_bad_executor_or_queue_is_refused_naming_the_field(client: Client) -> None:
    for choice, field, says in BAD_CHOICES:
        with pytest.raises(InvalidInput, match=says) as bad:
            ll.launch("quick-template", {"n": 4}, client=client, wait=False, **choice)
        assert bad.value.details["field"] == field
    assert client._backend.list_pipeline_runs("default", "quick-template") == []


def test_the_http_route_enqueues_and_answers_400_naming_the_field(
    local_backend: LocalBackend, server_url: str, settings: Settings
) -> None:
    with Client(settings=settings) as sdk:
        flows.quick.publish("quick-template", client=sdk)
    route = f"{server_url}/api/v1/projects/default/pipeline-templates/quick-template/launch"
    answer = httpx.post(route, json={"params": {"n": 3}, "executor": "queue"})
    assert answer.status_code == 201, answer.text
    [task] = local_backend.list_tasks(queue="default")
    assert task.name == f"quick-template (run {answer.json()['id']})"
    for body, field in [
        ({"executor": "later"}, "executor"),
        ({"executor": "queue", "queue": "nowhere"}, "queue"),
        ({"executor": "queue", "steps": "remote"}, "steps"),
    ]:
        wrong = httpx.post(route, json={"params": {"n": 3}, **body})
        assert wrong.status_code == 400, wrong.text  # InvalidInput
        assert wrong.json()["error"]["details"]["field"] == field
    assert len(local_backend.list_pipeline_runs("default", "quick-template")) == 1


def test_the_cli_launches_on_a_queue(
    local_backend: LocalBackend, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from loopline.cli import app

    with Client(settings=settings) as sdk:
        flows.quick.publish("quick-template", client=sdk)
    local_backend.put_queue("gpu", tags=["gpu"])
    monkeypatch.setenv("LOOPLINE_URI", str(settings.db_url))
    monkeypatch.setenv("LOOPLINE_ARTIFACTS", settings.artifacts)
    monkeypatch.setenv("LOOPLINE_HOME", str(settings.home))
    args = ["pipelines", "launch", "quick-template", "-p", "n=2", "--no-wait", "--json"]
    done = CliRunner().invoke(app, [*args, "--executor", "queue", "--queue", "gpu"])
    assert done.exit_code == 0, done.output
    run_id = json.loads(done.output)["id"]
    [task] = local_backend.list_tasks(queue="gpu")
    assert task.name == f"quick-template (run {run_id})"
    wrong = CliRunner().invoke(app, [*args, "--executor", "queue", "--queue", "gpux"])
    assert wrong.exit_code != 0
    assert "No queue is called 'gpux'" in wrong.output
