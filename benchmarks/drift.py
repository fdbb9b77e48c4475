"""Data drift over 1M rows x 50 columns: Loopline against Evidently (latest, own venv).

    .venv/bin/python benchmarks/drift.py                   # 1,000,000 rows a side
    .venv/bin/python benchmarks/drift.py --rows 100000     # smaller
    .venv/bin/python benchmarks/drift.py --skip-peer       # Loopline only

Both sides get the same reference and current data (Parquet files, read into pandas before the
clock starts), each in a fresh process of its own, and report a verdict per column:

- Loopline: ``ll.drift_report(reference_df, current_df)`` with its defaults (the reference is
  profiled inside the timed call: building the profile is part of the work).
- Evidently: ``Report([DataDriftPreset()]).run(current, reference)`` with its defaults (above
  1,000 rows: Wasserstein distance (normed) for numeric columns, Jensen-Shannon distance for
  categorical ones, threshold 0.1); a column drifts when its score reaches the threshold (or
  its p-value falls under it, for the p-value tests Evidently picks on small data).

Measured: seconds for the call, the process's peak RSS (VmHWM) and its growth during the call,
and the verdicts against the truth the data was made with: 7 columns really drift (0.2 SD and
0.5 SD shifts, a wider lognormal, a Poisson mean +20 %, 10-point category shifts, a new
category at 8 %), 3 change trivially (0.02 SD, a 1 % wider uniform, a 1-point category shift:
not drift), and 40 do not change.

Evidently is installed (once, reused) into benchmarks/.peers/evidently with ``python3 -m venv``
and pip; its pandas is pinned below 3, which it does not support yet.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from _machine import load, machine

HERE = Path(__file__).resolve().parent
PEER_VENV = HERE / ".peers" / "evidently"
SEED = 20261123
console = Console(width=None if sys.stdout.isatty() else 160)

DRIFTED = ["n00", "n10", "n15", "n25", "c00", "c05", "c15"]
TRIVIAL = ["n01", "n20", "c01"]


# --- data -----------------------------------------------------------------------------------


def make_data(work: Path, rows: int) -> list[str]:
    """Write reference.parquet and current.parquet; return the column names."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)

    def categories(k: int, shares: Any, n: int, prefix: str) -> Any:
        names = np.array([f"{prefix}{i}" for i in range(len(shares))])
        return names[rng.choice(len(shares), size=n, p=shares)]

    def side(current: bool) -> pd.DataFrame:
        n = rows
        cols: dict[str, Any] = {}
        for i in range(10):  # normal
            shift = {0: 0.2, 1: 0.02}.get(i, 0.0) if current else 0.0
            mean, scale = 10.0 * i, 1.0 + i
            cols[f"n{i:02d}"] = rng.normal(mean + shift * scale, scale, n)
        for i in range(10, 15):  # lognormal
            sigma = 0.5 * (1.3 if current and i == 10 else 1.0)
            cols[f"n{i:02d}"] = rng.lognormal(3.0, sigma, n)
        for i in range(15, 20):  # counts
            lam = 3.0 * (1.2 if current and i == 15 else 1.0) + (i - 15)
            cols[f"n{i:02d}"] = rng.poisson(lam, n).astype(np.int64)
        for i in range(20, 25):  # uniform
            high = 100.0 * (1.01 if current and i == 20 else 1.0)
            cols[f"n{i:02d}"] = rng.uniform(0.0, high, n)
        for i in range(25, 30):  # normal with 5 % missing
            values = rng.normal(0.5 if current and i == 25 else 0.0, 1.0, n)
            values[rng.random(n) < 0.05] = np.nan
            cols[f"n{i:02d}"] = values
        base3 = np.array([0.5, 0.3, 0.2])
        for i in range(5):  # 3 categories
            shares = base3
            if current and i == 0:
                shares = np.array([0.4, 0.4, 0.2])  # 10 points from a to b
            if current and i == 1:
                shares = np.array([0.49, 0.31, 0.2])  # 1 point: trivial
            cols[f"c{i:02d}"] = categories(3, shares, n, "v")
        base10 = np.r_[np.full(5, 0.15), np.full(5, 0.05)]
        for i in range(5, 10):  # 10 categories
            shares = base10
            if current and i == 5:  # a new category takes 8 %
                shares = np.r_[base10 * 0.92, 0.08]
            cols[f"c{i:02d}"] = categories(10, shares, n, "k")
        zipf = 1.0 / np.arange(1, 51)
        zipf /= zipf.sum()
        for i in range(10, 15):  # 50 categories, Zipf shares
            cols[f"c{i:02d}"] = categories(50, zipf, n, "z")
        for i in range(15, 20):  # two values
            p = 0.4 if current and i == 15 else 0.3
            cols[f"c{i:02d}"] = np.where(rng.random(n) < p, "yes", "no")
        return pd.DataFrame(cols)

    reference, current = side(False), side(True)
    reference.to_parquet(work / "reference.parquet", index=False)
    current.to_parquet(work / "current.parquet", index=False)
    return list(reference.columns)


# --- the two sides (each a child process) ---------------------------------------------------

COMMON = r"""
import json, sys, time
from pathlib import Path
import pandas as pd
work = Path(sys.argv[1])
def rss():  # this process's peak RSS (VmHWM), MB
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
def cpu():  # CPU seconds of this process, all threads: less sensitive to a busy machine
    import resource
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
reference = pd.read_parquet(work / "reference.parquet")
current = pd.read_parquet(work / "current.parquet")
"""

LOOPLINE_CHILD = (
    COMMON
    + r"""
import loopline as ll
from loopline.monitoring import ReferenceProfile, drift_report
import pyarrow.compute, scipy.stats  # imported before the clock, as Evidently's are
ll.drift_report  # resolve the lazy import before the clock starts
base = rss(); c = cpu(); t = time.perf_counter()
report = ll.drift_report(reference, current)
seconds = time.perf_counter() - t
cpu_seconds = cpu() - c
peak = rss()
# The split, measured again after (not part of the figures above).
t = time.perf_counter(); profile = ReferenceProfile.from_frame(reference)
profile_seconds = time.perf_counter() - t
t = time.perf_counter(); drift_report(profile, current)
compare_seconds = time.perf_counter() - t
verdicts = dict(zip(report.columns["column"], map(bool, report.columns["drift"])))
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mb": peak,
                  "growth_mb": peak - base, "profile_seconds": profile_seconds,
                  "compare_seconds": compare_seconds,
                  "verdicts": verdicts, "profile_kb": len(profile.to_json()) / 1024}))
"""
)

EVIDENTLY_CHILD = (
    COMMON
    + r"""
import warnings; warnings.filterwarnings("ignore")
from evidently import Report
from evidently.presets import DataDriftPreset
base = rss(); c = cpu(); t = time.perf_counter()
snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
data = snapshot.dict()
seconds = time.perf_counter() - t
cpu_seconds = cpu() - c
peak = rss()
verdicts, methods = {}, {}
for metric in data["metrics"]:
    config = metric.get("config", {})
    if not config.get("type", "").endswith("ValueDrift"):
        continue
    method, threshold, value = config["method"], config["threshold"], metric["value"]
    drift = value < threshold if "p_value" in method else value >= threshold
    verdicts[config["column"]] = bool(drift)
    methods[method] = methods.get(method, 0) + 1
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mb": peak,
                  "growth_mb": peak - base, "verdicts": verdicts, "methods": methods}))
"""
)


def run_child(python: str, script: str, work: Path, timeout: float) -> dict[str, Any]:
    try:
        done = subprocess.run(
            [python, "-c", script, str(work)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {timeout:.0f} s"}
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
        console.print(f"[red]{python} failed:[/]\n{done.stderr[-2000:]}")
        return {"error": tail}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def ensure_evidently() -> Path:
    python = PEER_VENV / "bin" / "python"
    check = [str(python), "-c", "import evidently, pandas; assert pandas.__version__ < '3'"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    console.print(f"Installing the latest evidently into {PEER_VENV} (a few minutes) ...")
    subprocess.run(["python3", "-m", "venv", "--clear", str(PEER_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--upgrade", "evidently", "pandas<3"],
        check=True,
    )
    return python


def version_of(python: Path, module: str) -> str:
    done = subprocess.run(
        [str(python), "-c", f"import {module}; print({module}.__version__)"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or "?"


# --- report ---------------------------------------------------------------------------------


def score(verdicts: dict[str, bool], columns: list[str]) -> dict[str, list[str]]:
    truth = set(DRIFTED)
    return {
        "false": sorted(c for c in columns if verdicts.get(c) and c not in truth),
        "missed": sorted(c for c in columns if c in truth and not verdicts.get(c)),
        "unjudged": sorted(c for c in columns if c not in verdicts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows a side")
    parser.add_argument("--skip-peer", action="store_true", help="Loopline only")
    parser.add_argument("--peer-timeout", type=float, default=3600.0, help="seconds for Evidently")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ll-drift-bench-") as tmp:
        work = Path(tmp)
        columns = make_data(work, args.rows)
        console.print(
            f"Data: {args.rows:,} rows a side x {len(columns)} columns (30 numeric, "
            f"20 categorical); drifted {DRIFTED}; trivial changes {TRIVIAL}.\n"
            f"Machine: {machine()}. Load at start: {load()}."
        )
        results: dict[str, dict[str, Any]] = {}
        results["Loopline"] = run_child(sys.executable, LOOPLINE_CHILD, work, 3600)
        console.print(f"Loopline done. Load: {load()}.")
        peer_version = "-"
        if not args.skip_peer:
            python = ensure_evidently()
            peer_version = version_of(python, "evidently")
            results[f"Evidently {peer_version}"] = run_child(
                str(python), EVIDENTLY_CHILD, work, args.peer_timeout
            )
            console.print(f"Evidently done. Load: {load()}.")

    table = Table(title=f"Drift, {args.rows:,} rows x {len(columns)} columns")
    for name in (
        "tool",
        "seconds",
        "CPU s",
        "peak RSS MB",
        "growth MB",
        "false drift",
        "missed drift",
    ):
        table.add_column(name, justify="left" if name == "tool" else "right")
    for tool, result in results.items():
        if "error" in result:
            table.add_row(tool, result["error"], "", "", "", "", "")
            continue
        verdict = score(result["verdicts"], columns)
        result["score"] = verdict
        table.add_row(
            tool,
            f"{result['seconds']:.2f}",
            f"{result['cpu_seconds']:.2f}",
            f"{result['peak_mb']:,.0f}",
            f"{result['growth_mb']:,.0f}",
            f"{len(verdict['false'])} {verdict['false'] or ''}",
            f"{len(verdict['missed'])} {verdict['missed'] or ''}",
        )
    console.print(table)
    ours = results["Loopline"]
    if "error" not in ours:
        console.print(
            f"Loopline split: profile {ours['profile_seconds']:.2f} s "
            f"({ours['profile_kb']:,.0f} KB of JSON), compare {ours['compare_seconds']:.2f} s."
        )
    peer = results.get(f"Evidently {peer_version}", {})
    if peer and "error" not in peer and "error" not in ours:
        speed = peer["seconds"] / ours["seconds"]
        cpu = peer["cpu_seconds"] / ours["cpu_seconds"]
        memory = peer["peak_mb"] / ours["peak_mb"]
        console.print(
            f"Evidently methods: {peer['methods']}. Loopline is {speed:.1f}x faster "
            f"({cpu:.1f}x in CPU time), with {memory:.1f}x less peak memory."
        )
    console.print(f"Load at end: {load()}.")
    console.print_json(
        json.dumps({k: {x: y for x, y in v.items() if x != "verdicts"} for k, v in results.items()})
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
