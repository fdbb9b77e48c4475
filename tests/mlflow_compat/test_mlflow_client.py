"""The real `mlflow` client against a real Loopline server, read back with Loopline's SDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal, overload

import pytest
from tests.server._secured import secured_server

from loopline import Client
from loopline.config import Settings

SCRIPT = Path(__file__).with_name("_mlflow_script.py")


def run_mlflow_script(url: str, home: Path, token: str | None = None) -> dict[str, Any]:
    """Run the mlflow client script against ``url`` in its own process; its JSON answer."""
    done = run_mlflow_code(SCRIPT.read_text(), url, home, token, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


@overload
def run_mlflow_code(
    code: str, url: str, home: Path, token: str | None, *, check: Literal[False]
) -> subprocess.CompletedProcess[str]: ...


@overload
def run_mlflow_code(
    code: str, url: str, home: Path, token: str | None, *, check: Literal[True] = True
) -> dict[str, Any]: ...


def run_mlflow_code(
    code: str, url: str, home: Path, token: str | None, *, check: bool = True
) -> dict[str, Any] | subprocess.CompletedProcess[str]:
    """Run ``code`` with the mlflow client pointed at ``url`` (and signed in with ``token``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LOOPLINE_"))}
    env.update(
        {
            "MLFLOW_TRACKING_URI": url,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "HOME": str(home),
            "PYTHONWARNINGS": "ignore",
        }
    )
    if token is not None:
        env["MLFLOW_TRACKING_TOKEN"] = token
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    if not check:
        return done
    assert done.returncode == 0, done.stderr[-4000:]
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def check_mlflow_answer(
    out: dict[str, Any], url: str, home: Path, token: str | None = None
) -> None:
    """What the script read back through mlflow, and the same runs through Loopline's SDK."""
    run_ids = out["run_ids"]
    best = run_ids[-1]
    assert out["experiment_name"] == "iris-mlflow"
    assert out["experiment_tags"] == {"team": "vision"}
    # acc = 0.5 + C/40: C=1.0 and C=10.0 pass "acc > 0.51", best first.
    assert out["search_ids"] == [run_ids[2], run_ids[1]]
    assert out["search_names"] == ["logreg-c10.0", "logreg-c1.0"]
    assert out["by_name"] == [run_ids[1]]
    assert out["page_sizes"] == [2, 1]
    assert out["history"] == [[s, 1.0 / (s + 1) / 10.0] for s in range(5)]
    assert out["batch_history"] == [[i, float(i), 1_700_000_000_000 + i] for i in range(3)]
    assert out["params"] == {"C": "10.0", "solver": "lbfgs", "penalty": "l2", "batch_p": "yes"}
    assert out["tags_stage"] == "dev"
    assert out["tags_resumed"] == "yes"
    assert out["status"] == "FINISHED"
    assert out["metrics"]["acc"] == pytest.approx(0.75)
    assert {"notes.txt", "docs", "config", "model"} <= set(out["artifacts"])
    assert out["artifacts_docs"] == ["docs/more/notes.txt"]
    assert out["notes"] == "hello from mlflow\n"
    assert out["params_json"] == {"a": 1}
    assert out["sklearn_predict"] == [0, 0, 1, 1]
    assert out["pyfunc_predict"] == [0, 0, 1, 1]
    assert out["logged_model_status"] == "READY"  # finalized by the client
    assert out["missing_error"] == "RESOURCE_DOES_NOT_EXIST"

    # The same runs, through Loopline's own SDK over HTTP: like any other run.
    env = {"LOOPLINE_URI": url, "LOOPLINE_HOME": str(home), "LOOPLINE_TOKEN": token or ""}
    with Client(settings=Settings.from_env(env)) as ll:
        runs = ll.list_runs("iris-mlflow", "metrics.acc > 0.51", ["metrics.acc desc"])
        assert [r.id for r in runs] == [run_ids[2], run_ids[1]]
        run = ll.get_run(best)
        assert run.name == "logreg-c10.0"
        assert run.status == "finished"
        assert run.params["solver"] == "lbfgs"
        history = ll.get_metric_history(best, "loss")
        assert list(history["step"]) == [0, 1, 2, 3, 4]
        paths = {a.path for a in ll.list_artifacts(best)}
        assert {"notes.txt", "docs/more/notes.txt", "config/params.json"} <= paths
        assert "model/MLmodel" in paths  # the logged model's files show in its run


def test_mlflow_client_logs_searches_and_reads_back(server_url: str, tmp_path: Path) -> None:
    out = run_mlflow_script(server_url, tmp_path)
    check_mlflow_answer(out, server_url, tmp_path)


VIEWER_SCRIPT = """
import json, sys, mlflow
from mlflow import MlflowClient
exp = MlflowClient().get_experiment_by_name("iris-mlflow")
runs = mlflow.search_runs([exp.experiment_id])
try:
    with mlflow.start_run(experiment_id=exp.experiment_id):
        pass
    outcome = "logged"
except mlflow.exceptions.MlflowException as exc:
    outcome = str(exc)
json.dump({"runs": len(runs), "start_run": outcome}, sys.stdout)
"""


# Tokens and roles do not depend on the database (the client test above runs on both).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_mlflow_client_with_tokens_when_auth_is_on(settings: Settings, tmp_path: Path) -> None:
    """MLFLOW_TRACKING_TOKEN is how the mlflow client signs in; roles apply as to any client."""
    with secured_server(settings) as server:
        root = server.tokens["root"]
        out = run_mlflow_script(server.url, tmp_path, token=root)
        check_mlflow_answer(out, server.url, tmp_path, token=root)
        server.accounts.set_role("iris-mlflow", "viewer", "viewer")
        seen = run_mlflow_code(VIEWER_SCRIPT, server.url, tmp_path, server.tokens["viewer"])
        assert seen["runs"] == 3
        assert seen["start_run"].startswith("PERMISSION_DENIED")
        assert "needs the editor role in project 'iris-mlflow'" in seen["start_run"]
        nobody = run_mlflow_code(
            VIEWER_SCRIPT, server.url, tmp_path, "llt_not-a-token", check=False
        )
        assert nobody.returncode != 0
        assert "Unknown API token" in nobody.stderr
