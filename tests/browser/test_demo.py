"""`make demo`'s job: the whole loop on a fresh embedded store, each decision printed, and the
timeline it leaves behind browsable in the web UI (issue 9, item 4)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tests.browser.conftest import screenshot
from tests.fixtures.server import serving

from loopline.backends import LocalBackend
from loopline.config import Settings
from loopline.server import create_app

if TYPE_CHECKING:
    from playwright.sync_api import Page

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def test_the_demo_closes_the_loop_and_leaves_its_timeline(tmp_path: Path, page: Page) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    env["HOME"] = str(tmp_path)
    env["COLUMNS"] = "240"  # the story's table: one line per row
    result = subprocess.run(
        [sys.executable, str(DEMO)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    out = " ".join(result.stdout.split())
    # Each decision of the loop, in order, with its figures.
    assert "digits v1 is the champion" in out
    morning = re.search(r"monitor: (\d+)% of the pixels drifted, live accuracy ([\d.]+)", out)
    assert morning is not None
    assert int(morning.group(1)) < 20  # unchanged images do not drift
    assert float(morning.group(2)) > 0.9
    assert "drift_share = 1 (digits v1), > 0.2" in out
    assert "Launched digits-training" in out
    assert "Gate passed for digits v2 against v1" in out
    assert "started as a 30% canary" in out
    assert "digits v2 promoted on digits-api" in out
    assert "resolved: accuracy < 0.75" in out
    assert "7 of 7 UI pages up" in out
    assert result.stdout.rstrip().endswith("http://127.0.0.1:8766/ui/projects/digits/automation")

    # The timeline, in a browser, over the store the demo left.
    settings = Settings.from_env({"LOOPLINE_HOME": str(tmp_path / ".loopline")})
    backend = LocalBackend.open(settings)
    try:
        with serving(create_app(backend=backend)) as url:
            page.goto(f"{url}/ui/projects/digits/automation")
            body = page.locator("main")
            for text in ("promoted", "canary", "Gate passed", "retrain-on-alert"):
                assert body.get_by_text(text).first.is_visible(), text
            screenshot(page, "demo-timeline")
    finally:
        backend.close()
