"""Published templates: publish, launch without the source tree, schema checks (422 over HTTP),
export/import, and the `loopline pipelines` commands; over both databases and backends."""

from __future__ import annotations

import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import loopline as ll
from loopline.cli._app import app
from loopline.config import Settings
from loopline.errors import InvalidInput

HELPER = """
def scale(values, factor):
    return [v * factor for v in values]
"""

FLOW = """
import loopline as ll
from {helper} import scale


@ll.step
def make(n: int) -> list[float]:
    return [float(i) for i in range(n)]


@ll.step
def total(values: list[float], lr: float) -> float:
    ll.log_metric("total", sum(scale(values, lr)))
    return sum(scale(values, lr))


@ll.pipeline(name="digits-training")
def training(n: int = 4, lr: float = 0.5):
    total(make(n), lr)
"""


@pytest.fixture
def published(client: ll.Client, tmp_path: Path) -> tuple[str, Any]:
    """A pipeline in a source folder of its own, published, then the folder removed."""
    tag = uuid.uuid4().hex[:8]
    source = tmp_path / "src"
    source.mkdir()
    (source / f"tplhelp_{tag}.py").write_text(HELPER)
    (source / f"tplflow_{tag}.py").write_text(FLOW.format(helper=f"tplhelp_{tag}"))
    sys.path.insert(0, str(source))
    try:
        module = __import__(f"tplflow_{tag}")
        record = module.training.publish(description="first", client=client, project="p")
    finally:
        sys.path.remove(str(source))
        for name in (f"tplflow_{tag}", f"tplhelp_{tag}"):
            sys.modules.pop(name, None)
    shutil.rmtree(source)  # launching must not need the author's files
    return tag, record


def test_publish_freezes_a_version_and_launch_runs_it_without_the_source(
    client: ll.Client, published: tuple[str, Any]
) -> None:
    _, record = published
    assert (record.name, record.version, record.description) == ("digits-training", 1, "first")
    assert [(p["name"], p["type"], p["default"]) for p in record.params] == [
        ("n", "int", 4),
        ("lr", "float", 0.5),
    ]
    run = ll.launch("digits-training", params={"lr": "0.25"}, client=client, project="p")
    assert run.status == "succeeded", run
    assert run.params == {"n": 4, "lr": 0.25}
    assert client._backend.pipeline_run_metrics(run.id) == {"total.total": 1.5}
    assert [t.name for t in client._backend.list_pipeline_templates("p")] == ["digits-training"]


def test_launch_checks_parameters_against_the_schema(
    client: ll.Client, published: tuple[str, Any]
) -> None:
    with pytest.raises(InvalidInput, match="'n' must be int") as info:
        ll.launch("digits-training", params={"n": "many"}, client=client, project="p")
    assert info.value.details == {"field": "n"}
    with pytest.raises(InvalidInput, match="Did you mean 'lr'"):
        ll.launch("digits-training", params={"lrr": 1}, client=client, project="p")


def test_the_launch_route_answers_422_naming_the_field(
    server_url: str, published: tuple[str, Any]
) -> None:
    answer = httpx.post(
        f"{server_url}/api/v1/projects/p/pipeline-templates/digits-training/launch",
        json={"params": {"lr": "fast"}},
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["details"] == {"field": "lr"}


def test_retry_and_copy_of_a_template_run_go_through_the_template(
    client: ll.Client, published: tuple[str, Any]
) -> None:
    from loopline.pipelines._templates import copy_run

    first = ll.launch("digits-training", client=client, project="p")
    copied = copy_run(first.id, {"n": "2"}, client=client)
    assert copied.status == "succeeded"
    assert copied.params == {"n": 2, "lr": 0.5}


def test_cli_launch_export_import(
    client: ll.Client,
    published: tuple[str, Any],
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if client.settings.mode == "remote":
        monkeypatch.setenv("LOOPLINE_URI", str(client.settings.server_url))
    else:
        monkeypatch.setenv("LOOPLINE_URI", str(settings.db_url))
        monkeypatch.setenv("LOOPLINE_ARTIFACTS", settings.artifacts)
    monkeypatch.setenv("LOOPLINE_PROJECT", "p")
    cli = CliRunner()
    launched = cli.invoke(app, ["pipelines", "launch", "digits-training", "-p", "lr=0.1"])
    assert launched.exit_code == 0, launched.output
    assert "succeeded" in launched.output
    bad = cli.invoke(app, ["pipelines", "launch", "digits-training", "-p", "n=x"])
    assert bad.exit_code == 1
    assert "'n' must be int" in bad.output

    runs = cli.invoke(app, ["pipelines", "runs", "--status", "succeeded", "-p", "lr=0.1", "--json"])
    assert runs.exit_code == 0, runs.output
    assert '"pipeline": "digits-training"' in runs.output

    exported = tmp_path / "template.json"
    done = cli.invoke(app, ["pipelines", "export", "digits-training", "-o", str(exported)])
    assert done.exit_code == 0, done.output
    imported = cli.invoke(app, ["pipelines", "import", str(exported), "--name", "copy"])
    assert imported.exit_code == 0, imported.output
    assert "copy as version 1" in imported.output
    versions = cli.invoke(app, ["pipelines", "versions", "digits-training"])
    assert versions.exit_code == 0, versions.output
    listed = cli.invoke(app, ["pipelines", "list"])
    assert "copy" in listed.output
    again = ll.launch("copy", params={"n": 3}, client=client, project="p")
    assert again.status == "succeeded"
