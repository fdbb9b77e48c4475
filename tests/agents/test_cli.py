"""`loopline queues`, `tasks`, `agents`, `agent` and `autoscaler` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loopline.backends import LocalBackend
from loopline.cli import app
from loopline.cli._agents import parse_resources
from loopline.errors import InvalidInput

runner = CliRunner()


def _uri(tmp_path: Path) -> list[str]:
    return ["--uri", f"sqlite:///{tmp_path / 'cli.db'}"]


def test_queues_tasks_and_agents_from_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPLINE_ARTIFACTS", str(tmp_path / "blobs"))
    uri = _uri(tmp_path)
    made = runner.invoke(app, [*uri, "queues", "create", "gpu", "--tag", "gpu", "--priority", "3"])
    assert made.exit_code == 0, made.output
    queues = json.loads(runner.invoke(app, [*uri, "queues", "list", "--json"]).output)
    assert [(q["name"], q["tags"], q["priority"]) for q in queues] == [("gpu", ["gpu"], 3)]
    from loopline.config import Settings

    backend = LocalBackend.open(
        Settings.from_env({"LOOPLINE_URI": uri[1], "LOOPLINE_ARTIFACTS": str(tmp_path / "blobs")})
    )
    try:
        task = backend.enqueue_task("gpu", "step", backend.put_blob(b"x").digest, name="train")
        backend.register_agent("box", "host-a", ["gpu"], resources={"gpu": 1})
    finally:
        backend.close()
    listed = runner.invoke(app, [*uri, "tasks", "list", "--queue", "gpu"])
    assert listed.exit_code == 0
    assert task.id in listed.output
    as_json = json.loads(runner.invoke(app, [*uri, "tasks", "list", "--json"]).output)
    assert [(t["id"], t["status"]) for t in as_json] == [(task.id, "queued")]
    cancelled = runner.invoke(app, [*uri, "tasks", "cancel", task.id, "--json"])
    assert json.loads(cancelled.output)["status"] == "cancelled"
    agents = json.loads(runner.invoke(app, [*uri, "agents", "list", "--json"]).output)
    assert [(a["name"], a["host"], a["resources"]) for a in agents] == [
        ("box", "host-a", {"gpu": 1.0})
    ]
    # The table's width follows the console's (set when the CLI was first imported in this
    # worker), so its cells may be cut: the JSON above checks the content.
    table = runner.invoke(app, [*uri, "agents", "list"])
    assert table.exit_code == 0, table.output


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    uri = _uri(tmp_path)
    unknown = runner.invoke(app, [*uri, "agent", "--queue", "gpuu"])
    assert unknown.exit_code == 1
    assert "No queue is called 'gpuu'" in unknown.output
    bounds = runner.invoke(app, [*uri, "autoscaler", "--min", "3", "--max", "2"])
    assert bounds.exit_code == 1
    assert "min <= max" in bounds.output
    bad = runner.invoke(app, [*uri, "queues", "create", "has space"])
    assert bad.exit_code == 1
    assert "not a queue name" in bad.output
    status = runner.invoke(app, [*uri, "tasks", "list", "--status", "runing"])
    assert "Did you mean 'running'" in status.output


def test_resources_parse() -> None:
    assert parse_resources(["gpu=2", "memory=8e9", "tpu"]) == {
        "gpu": 2.0,
        "memory": 8e9,
        "tpu": 1.0,
    }
    with pytest.raises(InvalidInput, match="NAME=AMOUNT"):
        parse_resources(["gpu=lots"])
    with pytest.raises(InvalidInput, match="NAME=AMOUNT"):
        parse_resources(["=1"])
