"""The `loopline` command, driven as a user drives it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
from tests.fixtures.server import free_port, wait_until_answers
from typer.testing import CliRunner

from loopline import __version__
from loopline.cli import app
from loopline.db import HEAD_REVISION

runner = CliRunner()


def test_help_lists_the_command_groups() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in ("server", "db", "projects", "version", "config"):
        assert group in result.output


def test_version_for_people_and_for_scripts() -> None:
    assert __version__ in runner.invoke(app, ["version"]).output
    assert json.loads(runner.invoke(app, ["version", "--json"]).output)["loopline"] == __version__


def test_projects_create_and_list_on_the_embedded_default(clean_environ: Path) -> None:
    created = runner.invoke(app, ["projects", "create", "demo", "-d", "first"])
    assert created.exit_code == 0, created.output
    assert "Created project demo" in created.output
    listed = json.loads(runner.invoke(app, ["projects", "list", "--json"]).output)
    assert [(p["name"], p["description"]) for p in listed] == [("demo", "first")]
    assert (clean_environ / ".loopline" / "loopline.db").exists()
    table = runner.invoke(app, ["projects", "list"])
    assert "demo" in table.output
    assert "first" in table.output


def test_errors_are_one_red_line_and_exit_status_1() -> None:
    runner.invoke(app, ["projects", "create", "dup"])
    result = runner.invoke(app, ["projects", "create", "dup"])
    assert result.exit_code == 1
    assert "error: Project 'dup' already exists" in result.output
    assert "Traceback" not in result.output


def test_a_malformed_uri_is_named(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--uri", "mysql://nope/x", "projects", "list"])
    assert result.exit_code == 1
    assert "LOOPLINE_URI='mysql://nope/x'" in result.output


def test_db_upgrade_and_current(postgres_url: str) -> None:
    before = runner.invoke(app, ["db", "current", "--db", postgres_url, "--json"])
    assert json.loads(before.output)["current"] is None
    listing = runner.invoke(app, ["--uri", postgres_url, "projects", "list"])
    assert listing.exit_code == 1
    assert "loopline db upgrade" in listing.output
    upgraded = runner.invoke(app, ["db", "upgrade", "--db", postgres_url])
    assert upgraded.exit_code == 0
    assert f"to revision {HEAD_REVISION}" in upgraded.output
    again = runner.invoke(app, ["db", "upgrade", "--db", postgres_url])
    assert f"already at revision {HEAD_REVISION}" in again.output
    assert runner.invoke(app, ["--uri", postgres_url, "projects", "list"]).exit_code == 0


def test_config_shows_settings_without_secrets() -> None:
    env = {"LOOPLINE_TOKEN": "s3cr3t", "LOOPLINE_URI": "postgresql://bob:hunter2@db/ll"}
    result = runner.invoke(app, ["config", "--json"], env=env)
    data = json.loads(result.output)
    assert data["settings"]["token"] == "set"
    assert data["settings"]["database"] == "postgresql+psycopg://bob:***@db/ll"
    assert "s3cr3t" not in result.output
    assert "hunter2" not in result.output
    assert "LOOPLINE_URI" in data["variables"]


def test_server_starts_answers_healthz_and_serves_the_cli(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "LOOPLINE_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loopline",
            "server",
            "--port",
            str(port),
            "--db",
            f"sqlite:///{tmp_path / 'srv.db'}",
            "--artifacts",
            str(tmp_path / "blobs"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_answers(f"{url}/healthz")
        assert httpx.get(f"{url}/healthz").json()["status"] == "ok"
        created = runner.invoke(app, ["--uri", url, "projects", "create", "remote-one"])
        assert created.exit_code == 0, created.output
        listed = json.loads(runner.invoke(app, ["--uri", url, "projects", "list", "--json"]).output)
        assert [p["name"] for p in listed] == ["remote-one"]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert b"Loopline server on" in out


def test_an_unreachable_server_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(
        app, ["--uri", url, "projects", "list"], env={"LOOPLINE_HTTP_RETRIES": "1"}
    )
    assert result.exit_code == 1
    assert "Cannot reach the Loopline server" in result.output
