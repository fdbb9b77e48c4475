"""The examples under examples/ run on a fresh embedded store and say what they promise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_tool_wear_trains_and_serves_the_same_features(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    env["HOME"] = str(tmp_path)
    env["COLUMNS"] = "200"  # one table row per line
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "tool_wear.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "view machine_sensors v1 created" in out
    assert "registered models:/tool-wear/tool-wear/1 as champion" in out
    assert "online values equal the point-in-time values" in out
    agreed = re.search(r"agrees with the model on (\d+) of (\d+)", out)
    assert agreed is not None, out
    assert agreed.group(1) == agreed.group(2) == "30"
    auc = re.search(r"validated on [\d,]+ after: accuracy ([\d.]+), AUC ([\d.]+)", out)
    assert auc is not None, out
    assert (
        float(auc.group(2)) > 0.85
    )  # the sensors carry the signal; the point-in-time join keeps it
    assert (tmp_path / ".loopline" / "loopline.db").exists()
