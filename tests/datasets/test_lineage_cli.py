"""Lineage (runs consuming and producing versions) and the `loopline datasets` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import loopline as ll
from loopline import Client
from loopline.cli import app
from loopline.config import Settings


def test_runs_record_what_they_consumed_and_produced(client: Client, files: Path) -> None:
    raw = ll.Dataset.create("raw", client=client)
    raw.add_files(files)
    v_raw = raw.commit()
    with client.start_run(name="clean", capture=False) as run:
        got = ll.Dataset.get("raw", client=client)
        clean = ll.Dataset.create("clean", client=client)
        clean.add_files(files / "a.txt")
        v_clean = clean.commit()
    assert got == v_raw
    assert v_clean.info.run_id == run.id
    with client.start_run(name="train", capture=False) as train:
        ll.Dataset.get("clean", client=client)
        ll.Dataset.get("clean", client=client)  # twice: recorded once
    graph = v_raw.lineage()
    labels = [graph.nodes[k].label for k in graph.downstream]
    assert labels == ["clean", "clean:1", "train"]
    up = ll.Dataset.get("clean", client=client).lineage()
    assert [up.nodes[k].label for k in up.upstream] == ["clean", "raw:1"]
    assert [up.nodes[k].label for k in up.downstream] == ["train"]
    from_run = client._backend.lineage(run_id=train.id)
    assert [from_run.nodes[k].label for k in from_run.upstream] == ["clean:1", "clean", "raw:1"]
    assert len(from_run.edges) == 3


def test_a_run_of_another_store_records_nothing_here(
    settings: Settings, files: Path, tmp_path: Path
) -> None:
    other = Settings.from_env({"LOOPLINE_HOME": str(tmp_path / "elsewhere")})
    with Client(settings=settings) as client, Client(settings=other) as elsewhere:
        ds = ll.Dataset.create("d", client=client)
        ds.add_files(files)
        ds.commit()
        with elsewhere.start_run(capture=False):
            v = ll.Dataset.get("d", client=client)
        assert v.lineage().downstream == []


def invoke(settings: Settings, *args: str) -> tuple[int, str]:
    env = {"LOOPLINE_HOME": str(settings.home), "LOOPLINE_URI": settings.db_url or ""}
    env["LOOPLINE_ARTIFACTS"] = settings.artifacts
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"LOOPLINE_HOME": str(tmp_path / "cli-home")})


def test_the_cli_commits_lists_shows_diffs_and_copies(
    sqlite_settings: Settings, files: Path, tmp_path: Path
) -> None:
    s = sqlite_settings
    code, out = invoke(s, "datasets", "commit", str(files), "--name", "digits", "-m", "first")
    assert code == 0, out
    assert "Committed default/digits:1" in out
    code, out = invoke(s, "datasets", "commit", str(files), "--name", "digits")
    assert code == 1
    assert "Nothing to commit" in out
    (files / "a.txt").write_text("changed\n")
    (files / "sub" / "c.txt").unlink()
    code, out = invoke(s, "datasets", "commit", str(files), "--name", "digits", "--json")
    assert code == 0, out
    v2 = json.loads(out)
    assert (v2["number"], v2["added"], v2["removed"], v2["modified"]) == (2, 0, 1, 1)
    code, out = invoke(s, "datasets", "list")
    assert code == 0
    assert "digits" in out
    code, out = invoke(s, "datasets", "versions", "digits")
    assert code == 0
    assert "first" in out
    code, out = invoke(s, "datasets", "show", "digits:1")
    assert code == 0
    assert "sub/c.txt" in out
    code, out = invoke(s, "datasets", "diff", "digits:1", "2", "--json")
    diff = json.loads(out)
    assert [c["path"] for c in diff["modified"]] == ["a.txt"]
    assert [c["path"] for c in diff["removed"]] == ["sub/c.txt"]
    dest = tmp_path / "copy"
    code, out = invoke(s, "datasets", "get", "digits:1", "--dest", str(dest))
    assert code == 0
    assert (dest / "sub" / "c.txt").read_text() == "gamma\n"
    code, out = invoke(s, "datasets", "alias", "digits:1", "golden")
    assert code == 0
    code, out = invoke(s, "datasets", "show", "digits:golden", "--json")
    assert json.loads(out)["version"]["number"] == 1
    code, out = invoke(s, "datasets", "show", "digit:1")
    assert code == 1
    assert "Did you mean 'digits'" in out


def test_the_cli_walks_lineage_both_ways(sqlite_settings: Settings, files: Path) -> None:
    with Client(settings=sqlite_settings) as client:
        raw = ll.Dataset.create("raw", client=client)
        raw.add_files(files)
        raw.commit()
        with client.start_run(name="prep", capture=False) as run:
            ll.Dataset.get("raw", client=client)
            out = ll.Dataset.create("prepared", client=client)
            out.add_files(files / "a.txt")
            out.commit()
    code, text = invoke(sqlite_settings, "lineage", "raw:1")
    assert code == 0, text
    assert "went into" in text
    assert "prep" in text
    assert "prepared:1" in text
    code, text = invoke(sqlite_settings, "lineage", run.id)
    assert code == 0
    assert "came from" in text
    assert "raw:1" in text
    assert "prepared:1" in text
    code, text = invoke(sqlite_settings, "lineage", "prepared:latest", "--json")
    assert code == 0
    assert json.loads(text)["upstream"]
    code, text = invoke(sqlite_settings, "lineage", "nope:1")
    assert code == 1
    assert "not found" in text


def test_every_command_that_takes_a_version_takes_a_project(
    sqlite_settings: Settings, files: Path
) -> None:
    s = sqlite_settings
    code, out = invoke(s, "datasets", "commit", str(files), "--name", "raw", "-p", "elsewhere")
    assert code == 0, out
    (files / "a.txt").write_text("alpha, edited\n")
    code, out = invoke(s, "datasets", "commit", str(files), "--name", "raw", "-p", "elsewhere")
    assert code == 0, out
    for args in (
        ("datasets", "show", "raw:1"),
        ("datasets", "diff", "raw:1", "2"),
        ("datasets", "alias", "raw:1", "first"),
        ("lineage", "raw:1"),
    ):
        code, out = invoke(s, *args, "--project", "elsewhere")
        assert code == 0, (args, out)
        code, out = invoke(s, *args)  # the default project has no such dataset
        assert code != 0, (args, out)
        assert "not found" in out, (args, out)
