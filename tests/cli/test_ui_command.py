"""`loopline ui`: the UI over the embedded store, on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from tests.fixtures.server import free_port, wait_until_answers
from typer.testing import CliRunner

from loopline.cli import app


def test_ui_serves_the_embedded_store_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")},
        "LOOPLINE_HOME": str(tmp_path / "home"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "loopline", "ui", "--port", str(port), "--no-browser"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_answers(f"{url}/healthz")
        page = httpx.get(f"{url}/ui")
        assert page.status_code == 200
        assert "Projects" in page.text
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/ui".encode() in out


def test_ui_against_a_server_points_at_the_server() -> None:
    result = CliRunner().invoke(app, ["--uri", "http://127.0.0.1:9", "ui", "--no-browser"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:9/ui" in result.output
