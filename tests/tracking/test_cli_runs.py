"""`loopline runs` on the embedded store, as a user drives it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from loopline import Client
from loopline.cli import app

runner = CliRunner()


@pytest.fixture
def two_runs() -> tuple[str, str]:
    with Client() as client:
        with client.start_run(
            "cli", name="rf", params={"model": "rf", "seed": 1}, capture=False
        ) as a:
            a.log_metric("acc", 0.91)
        with client.start_run(
            "cli", name="xgb", params={"model": "xgb", "seed": 1}, capture=False
        ) as b:
            b.log_metric("acc", 0.94)
            b.log_text("notes", "notes.txt")
    return a.id, b.id


def test_list_filter_and_order(two_runs: tuple[str, str]) -> None:
    result = runner.invoke(
        app,
        [
            "runs",
            "list",
            "-p",
            "cli",
            "-f",
            "metrics.acc > 0.9",
            "-o",
            "metrics.acc desc",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert [r["name"] for r in json.loads(result.output)] == ["xgb", "rf"]
    table = runner.invoke(app, ["runs", "list", "-p", "cli"])
    assert "xgb" in table.output
    assert "0.94" in table.output


def test_a_bad_filter_is_one_line_pointing_at_the_problem(two_runs: tuple[str, str]) -> None:
    result = runner.invoke(app, ["runs", "list", "-p", "cli", "-f", "metrics.acc >"])
    assert result.exit_code == 1
    assert "error:" in result.output
    assert "Traceback" not in result.output


def test_show_and_compare(two_runs: tuple[str, str]) -> None:
    a, b = two_runs
    shown = runner.invoke(app, ["runs", "show", b])
    assert shown.exit_code == 0, shown.output
    assert "notes.txt" in shown.output
    assert "acc" in shown.output
    compared = json.loads(runner.invoke(app, ["runs", "compare", a, b, "--json"]).output)
    assert compared["differing_params"] == ["model"]
    assert compared["params"]["seed"] == ["1", "1"]
    table = runner.invoke(app, ["runs", "compare", a, b])
    assert "Params (differences in bold)" in table.output


def test_delete_then_show_is_not_found(two_runs: tuple[str, str]) -> None:
    a, _ = two_runs
    assert runner.invoke(app, ["runs", "delete", a]).exit_code == 0
    gone = runner.invoke(app, ["runs", "show", a])
    assert gone.exit_code == 1
    assert "not found" in gone.output
