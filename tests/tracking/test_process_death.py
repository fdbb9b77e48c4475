"""What a run keeps when its process dies: SIGTERM loses nothing, SIGKILL at most a flush."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from loopline import Client
from loopline.config import Settings

SCRIPT = textwrap.dedent(
    """
    import sys, time
    import loopline as ll

    run = ll.start_run("deaths", name=sys.argv[1], capture=False)
    print(run.id, flush=True)
    step = 0
    while True:
        ll.log_metric("loss", 1.0 / (step + 1), step=step)
        step += 1
        if step == 5_000:
            ll.flush()
            print("flushed", step, flush=True)
        if step == 6_000:
            print("unflushed", step, flush=True)  # logged, still in memory (interval is 1 s)
        if step > 6_000:
            time.sleep(0.0005)
    """
)


def run_until_flushed(tmp_path: Path, name: str) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    env["LOOPLINE_HOME"] = str(tmp_path / "home")
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, name], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    assert proc.stdout.readline().startswith("flushed 5000")
    assert proc.stdout.readline().startswith("unflushed 6000")
    return proc, run_id


def stored(tmp_path: Path, run_id: str) -> tuple[str, int]:
    with Client(settings=Settings.from_env({"LOOPLINE_HOME": str(tmp_path / "home")})) as c:
        return c.get_run(run_id).status, len(c.get_metric_history(run_id, "loss"))


def test_sigterm_stores_every_metric_and_marks_the_run_killed(tmp_path: Path) -> None:
    proc, run_id = run_until_flushed(tmp_path, "term")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM, "the process still dies of SIGTERM"
    status, points = stored(tmp_path, run_id)
    assert status == "killed"
    assert points >= 6_000, "points logged after the last flush were stored on SIGTERM"


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGKILL on Windows")
def test_sigkill_loses_at_most_the_last_flush_interval(tmp_path: Path) -> None:
    proc, run_id = run_until_flushed(tmp_path, "kill")
    proc.kill()
    proc.communicate(timeout=60)
    status, points = stored(tmp_path, run_id)
    assert status == "running", "nobody could record the end: the run stays as it was"
    assert points >= 5_000, "everything flushed before the kill is there"
