"""`loopline models ...` and the HTTP API's answers to bad input (4xx, never 500)."""

from __future__ import annotations

import json

import httpx
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from loopline import Client, ModelRegistry
from loopline.cli import app
from loopline.config import Settings

Frame = tuple[pd.DataFrame, pd.Series]


def invoke(settings: Settings, *args: str) -> tuple[int, str]:
    env = {
        "LOOPLINE_HOME": str(settings.home),
        "LOOPLINE_URI": settings.db_url or "",
        "LOOPLINE_ARTIFACTS": settings.artifacts,
        "LOOPLINE_PROJECT": "vision",
        "LOOPLINE_USER": "grace",
    }
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


@pytest.fixture
def registered(settings: Settings, frame: Frame) -> Settings:
    """Two versions of 'digits' in project 'vision', logged with an input example."""
    x, y = frame
    with Client(settings=settings) as client:
        registry = ModelRegistry(client)
        for acc in (0.8, 0.9):
            with client.start_run("vision", capture=False) as run:
                run.log_metric("acc", acc)
                model = LogisticRegression().fit(x, y)
                logged = registry.log_model(model, input_example=x.head(3), run=run)
            registry.register(logged, "digits")
    return settings


def test_the_models_commands(registered: Settings) -> None:
    code, out = invoke(registered, "models", "list")
    assert code == 0
    assert "digits" in out
    code, out = invoke(registered, "models", "alias", "digits", "champion", "2", "-r", "best acc")
    assert code == 0
    assert "digits@champion -> version 2" in out
    code, out = invoke(registered, "models", "versions", "digits", "--json")
    assert code == 0
    assert [(v["number"], v["aliases"]) for v in json.loads(out)] == [(2, ["champion"]), (1, [])]
    code, out = invoke(registered, "models", "show", "digits@champion", "--json")
    assert code == 0
    assert json.loads(out)["metrics"] == {"acc": 0.9}
    code, out = invoke(registered, "models", "status", "digits", "1", "archived", "-r", "old")
    assert code == 0
    assert "vision/digits:1 is archived" in out
    code, out = invoke(registered, "models", "history", "digits", "--json")
    events = json.loads(out)
    assert [e["kind"] for e in events[:2]] == ["status_changed", "alias_set"]
    assert {e["actor"] for e in events[:2]} == {"grace"}
    assert events[1]["reason"] == "best acc"
    code, out = invoke(registered, "models", "card", "digits@champion", "--raw")
    assert code == 0
    assert out.startswith("# digits, version 2")
    code, out = invoke(registered, "models", "load-test", "digits@champion", "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["flavor"] == "sklearn"
    assert result["output_shape"] == [3]


def test_the_commands_report_errors_in_one_line(registered: Settings) -> None:
    code, out = invoke(registered, "models", "alias", "digits", "champion", "7")
    assert code == 1
    assert "no version 7; it has versions 1 to 2" in out
    code, out = invoke(registered, "models", "show", "digit")
    assert code == 1
    assert "Did you mean 'digits'" in out
    code, out = invoke(registered, "models", "status", "digits", "1", "retired")
    assert code == 1
    assert "registered, approved, archived" in out


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/v1/projects/vision/models/digits/versions/0", None, 400),
        ("GET", "/api/v1/projects/vision/models/digits/versions/nope", None, 404),
        ("GET", "/api/v1/projects/vision/models/no.such", None, 404),
        (
            "PUT",
            "/api/v1/projects/vision/models/digits/aliases/123",
            {"version": 1, "actor": "x"},
            400,
        ),
        (
            "PUT",
            "/api/v1/projects/vision/models/digits/aliases/champion",
            {"version": 9, "actor": "x"},
            404,
        ),
        ("PUT", "/api/v1/projects/vision/models/digits/aliases/champion", {"version": 1}, 422),
        (
            "PUT",
            "/api/v1/projects/vision/models/digits/versions/1/status",
            {"status": "gone", "actor": "x"},
            422,
        ),
        (
            "POST",
            "/api/v1/projects/vision/models/digits/versions",
            {"run_id": "abc", "actor": "x"},
            400,
        ),
        (
            "POST",
            "/api/v1/projects/vision/models/digits/versions",
            {"run_id": "0" * 32, "actor": "x"},
            404,
        ),
        (
            "POST",
            "/api/v1/projects/vision/models/digits/aliases/champion/remove",
            {"actor": "x"},
            404,
        ),
        ("GET", "/api/v1/projects/vision/models/digits/events?limit=0", None, 422),
    ],
)
def test_bad_input_is_answered_4xx(
    registered: Settings, server_url: str, method: str, path: str, body: object, status: int
) -> None:
    response = httpx.request(method, server_url + path, json=body, timeout=30)
    assert response.status_code == status, response.text
    assert response.json()["error"]["message"]
