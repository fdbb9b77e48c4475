"""`loopline monitor ...`: list monitors, run them once now (one or --all), alerts, pause."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.monitoring.helpers import predictions
from typer.testing import CliRunner

import loopline as ll
from loopline import Client
from loopline.cli._app import app
from loopline.monitoring._evaluation import table_to_parquet

runner = CliRunner()


def test_run_list_alerts_and_pause_from_the_shell() -> None:
    client = Client()
    try:
        ll.monitor("api", rules=["error_rate > 0.5"], drift=False, project="demo", client=client)
        now = datetime.now(UTC)
        table = predictions([f"e{i}" for i in range(5)], start=now - timedelta(minutes=1),
                            step=timedelta(seconds=1), errors=["boom"] * 5)  # fmt: skip
        client._backend.append_predictions("demo", "api", table_to_parquet(table))
    finally:
        client.close()
    ran = runner.invoke(app, ["monitor", "run", "--all", "-p", "demo"])
    assert ran.exit_code == 0, ran.output
    assert "error_rate" in ran.output
    listed = json.loads(runner.invoke(app, ["monitor", "list", "-p", "demo", "--json"]).output)
    assert [(m["name"], m["status"], m["open_alerts"]) for m in listed] == [("api", "ok", 1)]
    alerts = runner.invoke(app, ["monitor", "alerts", "-p", "demo", "--state", "firing", "--json"])
    assert [a["rule"] for a in json.loads(alerts.output)] == ["error_rate > 0.5"]
    assert runner.invoke(app, ["monitor", "pause", "api", "-p", "demo"]).exit_code == 0
    both = runner.invoke(app, ["monitor", "run", "api", "--all", "-p", "demo"])
    assert both.exit_code == 1
    assert "not both" in both.output
