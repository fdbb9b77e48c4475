"""`make demo`'s job runs on a fresh embedded store, and again on the same one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo.py"


def test_the_demo_runs_twice_on_the_embedded_default(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    env["HOME"] = str(tmp_path)
    for attempt in ("created 'demo'", "'demo' exists already"):
        result = subprocess.run(
            [sys.executable, str(DEMO)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert attempt in result.stdout
        assert "read back verified" in result.stdout
        out = " ".join(result.stdout.split())  # Rich wraps the table's cells
        assert "is the champion" in out
        assert "from the cache" in out
        assert "rows profiled" in out
        assert "5 of 5 pages up" in out
        assert result.stdout.rstrip().endswith("http://127.0.0.1:8766/ui/projects/demo/runs")
    assert (tmp_path / ".loopline" / "loopline.db").exists()
