"""`loopline automation ...` over an embedded store holding a small loop: triggers and one
trigger's page, the timeline with compact figures, revert, deliveries, policies, fire, tick and
the run loop; bad input is one red line and exit status 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.fixtures.automation_ui_data import ENDPOINT, TRIGGER, SeededLoop, seed_loop
from typer.testing import CliRunner

from loopline.backends import LocalBackend
from loopline.cli._app import app
from loopline.cli._output import console
from loopline.config import Settings

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, str], SeededLoop]:
    # Rich tables at full width, so no cell is wrapped (the console is made at import time,
    # before any COLUMNS a test could set).
    monkeypatch.setattr(console, "_width", 400)
    env = {
        "LOOPLINE_HOME": str(tmp_path / "home"),
        "LOOPLINE_URI": f"sqlite:///{tmp_path / 'store.db'}",
        "LOOPLINE_USER": "ada",
        "LOOPLINE_PROJECT": "loop",
    }
    backend = LocalBackend.open(Settings.from_env(env))
    try:
        seeded = seed_loop(backend, "loop", tmp_path)
    finally:
        backend.close()
    return env, seeded


def cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["automation", *args], env=env)
    return result.exit_code, result.output


def test_the_loop_from_the_shell(store: tuple[dict[str, str], SeededLoop]) -> None:
    env, seeded = store
    code, out = cli(env, "triggers")
    assert code == 0, out
    assert TRIGGER in out
    assert "manual" in out
    code, out = cli(env, "trigger", "show", TRIGGER)
    assert code == 0, out
    assert "Versions" in out
    assert "Firings" in out
    assert "launched" in out
    code, out = cli(env, "timeline", "--limit", "20")
    assert code == 0, out
    assert "accuracy 0.9412 vs 0.9301 (>= -0.01) ok" in out  # the gate's figures, compact
    assert "promoted" in out
    assert "p99_ms" in out
    code, out = cli(env, "timeline", "--kind", "gate_failed", "--json")
    assert code == 0, out
    assert [e["kind"] for e in json.loads(out)] == ["gate_failed"]
    code, out = cli(env, "deliveries")
    assert code == 0
    assert "No deliveries in progress" in out
    code, out = cli(env, "deliveries", "--all", "--json")
    assert [(d["state"], d["challenger_version"]) for d in json.loads(out)] == [("promoted", 2)]

    code, out = cli(env, "revert", str(seeded.promoted_event))
    assert code == 0, out
    assert "reverted" in out
    code, out = cli(env, "revert", str(seeded.promoted_event))
    assert code == 1
    assert "reverted already" in out
    code, out = cli(env, "timeline", "--limit", "2", "--json")
    newest = json.loads(out)
    assert newest[0]["kind"] == "reverted"
    assert newest[1]["reverted_by"] == newest[0]["id"]


def test_policies_triggers_and_the_controller(store: tuple[dict[str, str], SeededLoop]) -> None:
    env, _ = store
    code, out = cli(
        env, "policy", "set", ENDPOINT, "--canary", "5", "--observe", "10m",
        "--margin", "accuracy=0.01", "--margin", "p99_ms=10", "--json",
    )  # fmt: skip
    assert code == 0, out
    made = json.loads(out)
    assert (made["canary_percent"], made["observe_seconds"]) == (5, 600.0)
    assert made["margins"] == {"accuracy": 0.01, "p99_ms": 10}
    assert made["min_requests"] == 10  # kept from the policy before
    code, out = cli(env, "policy", "show", ENDPOINT)
    assert code == 0
    assert "5% canary" in out
    assert "accuracy" in out
    code, out = cli(env, "policy", "set", ENDPOINT, "--canary", "150")
    assert code == 1
    assert "canary_percent" in out
    code, out = cli(env, "policy", "set", ENDPOINT, "--margin", "accuracy=lots")
    assert code == 1
    assert "a margin is a number" in out
    code, out = cli(env, "policy", "show", "nowhere")
    assert code == 1

    assert cli(env, "pause", TRIGGER)[0] == 0
    code, out = cli(env, "triggers", "--json")
    assert json.loads(out)[0]["enabled"] is False
    assert cli(env, "resume", TRIGGER)[0] == 0
    code, out = cli(env, "fire", TRIGGER, "-p", "reason=drift", "-p", "extra=3", "--json")
    assert code == 0, out
    fired = json.loads(out)
    assert fired["event"] == {"reason": "drift", "extra": 3, "actor": "ada"}
    assert fired["status"] == "coalesced"  # within the trigger's debounce of its last launch
    code, out = cli(env, "fire", TRIGGER, "-p", "novalue")
    assert code == 1
    assert "key=value" in out
    code, out = cli(env, "timeline", "--kind", "nonsense")
    assert code == 1
    assert "not an event kind" in out

    code, out = cli(env, "tick", "--json")
    assert code == 0, out
    assert json.loads(out)["errors"] == []
    code, out = cli(env, "run", "--interval", "0.1", "--rounds", "2")
    assert code == 0, out
    assert "2 rounds of the loop" in out
    assert cli(env, "delete", TRIGGER)[0] == 0
    code, out = cli(env, "triggers")
    assert "No triggers yet" in out
    code, out = cli(env, "trigger", "show", TRIGGER)
    assert code == 1
