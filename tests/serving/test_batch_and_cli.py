"""Batch scoring (resumable) and the CLI: `loopline predict`, `endpoints`, `serve`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from loopline import Client
from loopline._endpoints import batch_predict
from loopline._models import ModelRegistry
from loopline.cli import app
from loopline.errors import Conflict, InvalidInput
from tests.fixtures.server import free_port
from tests.serving.conftest import register_echo, register_sklearn, wait_for


def _rows(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 4)), columns=list("abcd"))
    frame.insert(0, "id", np.arange(n))
    return frame


def test_batch_scoring_keeps_other_columns_and_matches_predict(
    embedded: Client, tmp_path: Path
) -> None:
    register_sklearn(embedded)
    rows = _rows(2500)
    rows.to_parquet(tmp_path / "in.parquet")
    result = batch_predict(
        "models:/iris/1",
        tmp_path / "in.parquet",
        tmp_path / "out.parquet",
        chunk_rows=1000,
        progress=False,
        client=embedded,
    )
    assert (result.rows, result.chunks, result.resumed_chunks) == (2500, 3, 0)
    out = pd.read_parquet(tmp_path / "out.parquet")
    expected = ModelRegistry(embedded).load("models:/iris/1").predict(rows[list("abcd")])
    assert out.id.tolist() == list(range(2500))
    assert out.prediction.tolist() == expected.tolist()
    assert not (tmp_path / "out.parquet.parts").exists()

    rows.to_csv(tmp_path / "in.csv", index=False)
    batch_predict(
        "models:/iris/1", tmp_path / "in.csv", tmp_path / "out.csv", chunk_rows=700,
        progress=False, client=embedded,
    )  # fmt: skip
    assert pd.read_csv(tmp_path / "out.csv").prediction.tolist() == expected.tolist()


def test_an_interrupted_job_resumes_from_its_parts(embedded: Client, tmp_path: Path) -> None:
    register_sklearn(embedded)
    register_sklearn(embedded, seed=1)
    _rows(3000).to_parquet(tmp_path / "in.parquet")
    stop_after = {"chunks": 2}

    def interrupt(done: int, total: int | None) -> None:
        stop_after["chunks"] -= 1
        if stop_after["chunks"] == 0:
            raise KeyboardInterrupt

    from loopline.serving._batch import score_file

    model = ModelRegistry(embedded).load("models:/iris/1")
    with pytest.raises(KeyboardInterrupt):
        score_file(model, "iris/1", tmp_path / "in.parquet", tmp_path / "out.parquet",
                   chunk_rows=1000, progress=interrupt)  # fmt: skip
    parts = sorted(p.name for p in (tmp_path / "out.parquet.parts").glob("part-*"))
    assert parts == ["part-000000.parquet", "part-000001.parquet"]
    result = score_file(model, "iris/1", tmp_path / "in.parquet", tmp_path / "out.parquet",
                        chunk_rows=1000)  # fmt: skip
    assert (result.chunks, result.resumed_chunks, result.rows) == (3, 2, 3000)

    stop_after["chunks"] = 1
    with pytest.raises(KeyboardInterrupt):
        score_file(model, "iris/1", tmp_path / "in.parquet", tmp_path / "again.parquet",
                   chunk_rows=1000, progress=interrupt)  # fmt: skip
    other = ModelRegistry(embedded).load("models:/iris/2")
    with pytest.raises(Conflict, match="another job"):
        score_file(other, "iris/2", tmp_path / "in.parquet", tmp_path / "again.parquet")
    done = score_file(other, "iris/2", tmp_path / "in.parquet", tmp_path / "again.parquet",
                      restart=True)  # fmt: skip
    assert done.resumed_chunks == 0


def test_rows_that_do_not_fit_the_model_are_named(embedded: Client, tmp_path: Path) -> None:
    register_sklearn(embedded)
    _rows(10).drop(columns=["c"]).to_parquet(tmp_path / "in.parquet")
    with pytest.raises(InvalidInput, match=r"Rows 0-9 .* missing column 'c'"):
        batch_predict("models:/iris/1", tmp_path / "in.parquet", tmp_path / "o.parquet",
                      progress=False, client=embedded)  # fmt: skip
    with pytest.raises(InvalidInput, match=r"\.parquet or \.csv"):
        batch_predict("models:/iris/1", tmp_path / "in.parquet", tmp_path / "o.json",
                      progress=False, client=embedded)  # fmt: skip


def _cli(tmp_path: Path) -> list[str]:
    return ["--uri", f"sqlite:///{tmp_path / 'store.db'}"]


def test_endpoint_commands(embedded: Client, tmp_path: Path) -> None:
    register_echo(embedded, "echo", 1.0)
    register_echo(embedded, "echo", 2.0)
    runner = CliRunner()
    env = {"LOOPLINE_HOME": str(tmp_path / "home"), "LOOPLINE_PROJECT": "shop"}
    base = _cli(tmp_path)
    made = runner.invoke(
        app, [*base, "endpoints", "deploy", "scorer", "-r", "models:/echo/1"], env=env
    )
    assert made.exit_code == 0, made.output
    canary = runner.invoke(
        app,
        [*base, "endpoints", "deploy", "scorer", "-r", "models:/echo/1=90",
         "-r", "models:/echo/2=10", "-m", "canary"],
        env=env,
    )  # fmt: skip
    assert canary.exit_code == 0, canary.output
    listed = runner.invoke(app, [*base, "endpoints", "list"], env=env)
    assert "echo/1 90%" in listed.output
    assert "echo/2 10%" in listed.output
    revisions = runner.invoke(app, [*base, "endpoints", "revisions", "scorer"], env=env)
    assert "canary" in revisions.output
    embedded._backend.mark_endpoint_revision("shop", "scorer", 1, "live")
    embedded._backend.mark_endpoint_revision("shop", "scorer", 2, "live")
    back = runner.invoke(app, [*base, "endpoints", "rollback", "scorer"], env=env)
    assert back.exit_code == 0
    assert "revision 3" in back.output
    wrong = runner.invoke(
        app, [*base, "endpoints", "deploy", "scorer", "-r", "models:/echo/1=80"], env=env
    )
    assert wrong.exit_code != 0
    assert "add up to 80" in wrong.output
    spec = tmp_path / "scorer.yaml"
    spec.write_text("name: scorer\nroutes: ['models:/echo/2']\n")
    applied = runner.invoke(app, [*base, "endpoints", "apply", str(spec), "--json"], env=env)
    assert applied.exit_code == 0
    assert '"number": 4' in applied.output


def test_serve_starts_a_server_that_answers_and_stops(embedded: Client, tmp_path: Path) -> None:
    register_sklearn(embedded)
    port = free_port()
    env = {
        **os.environ,
        "LOOPLINE_HOME": str(tmp_path / "home"),
        "LOOPLINE_URI": f"sqlite:///{tmp_path / 'store.db'}",
        "LOOPLINE_PROJECT": "shop",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "loopline", "serve", "--model", "models:/iris/1",
         "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/readyz").status_code == 200
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                return False

        wait_for(ready, timeout=180, what="loopline serve")
        rows = _rows(3)[list("abcd")]
        answer = httpx.post(f"{url}/invocations", json={"inputs": rows.to_dict("list")})
        expected = ModelRegistry(embedded).load("models:/iris/1").predict(rows).tolist()
        assert answer.json() == {"predictions": expected}
        assert answer.headers["x-loopline-model"] == "iris/1"
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()
    # uvicorn shuts down cleanly, then re-raises the signal it caught (so the exit says why).
    assert server.returncode in (0, -signal.SIGTERM)
