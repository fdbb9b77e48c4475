"""Pipeline step overhead against Metaflow (in its own virtual environment), same run, same flow.

    .venv/bin/python benchmarks/pipelines.py              # everything (~6 minutes)
    .venv/bin/python benchmarks/pipelines.py --quick      # 20-step flows, 200-step DAG, 2 repeats
    .venv/bin/python benchmarks/pipelines.py --skip-peer  # Loopline only

Measured (issue 13, "Shown by"): the overhead of a no-op step, i.e. the wall time of a run of a
linear chain of N no-op steps divided by N.

- Loopline, run mode (``p.run(executor="local")``, worker processes, embedded SQLite store):
  the first run in a fresh process ("cold": it starts the workers and migrates the store), then
  uncached runs (``cache=False``) with the workers already up ("warm"), then fully cached runs;
  a 1,000-step DAG (10 parallel chains of 100) uncached and cached; and a partial run of the last
  5 steps of a 20-step chain (``from_step=``, ``reuse="latest"``, ``cache=False``).
- Metaflow (installed in benchmarks/.peers/metaflow, local datastore and metadata): the same
  chain as a ``FlowSpec`` (``start``, N-2 steps, ``end``) run with ``python flow.py run``, timed
  from the outside (the process start is part of a Metaflow run: one process per step and one
  for the run); and ``resume`` of the last 5 steps of a 20-step flow. The 1,000-step DAG is not
  run on Metaflow: at its ~0.4-0.7 s a step here it would take 7-12 minutes a repeat.

Each side runs in a fresh process per repeat; figures are medians over the repeats. Nothing
leaves the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
PEER_VENV = HERE / ".peers" / "metaflow"
GOAL_UNCACHED_MS = 20.0
GOAL_CACHED_MS = 2.0
RESUME_STEPS = 20
RESUMED = 5

console = Console(width=None if sys.stdout.isatty() else 130)


@dataclass(frozen=True)
class Sizes:
    steps: int = 100
    dag_steps: int = 1_000
    dag_width: int = 10
    repeats: int = 3

    def quick(self) -> Sizes:
        return Sizes(steps=20, dag_steps=200, dag_width=10, repeats=2)


# --- The Loopline side: this file, run with --loopline-part in a fresh interpreter ---------------

FLOW_MODULE = '''"""No-op steps for benchmarks/pipelines.py (worker processes import them)."""
import loopline as ll


@ll.step
def noop(prev: int) -> int:
    return prev + 1


def chain(n: int) -> ll.Pipeline:
    def body(start: int = 0) -> None:
        x = start
        for _ in range(n):
            x = noop(x)

    return ll.pipeline(body, name=f"chain{n}")


def layered(total: int, width: int) -> ll.Pipeline:
    def body(start: int = 0) -> None:
        xs = [noop(start) for _ in range(width)]
        for _ in range(total // width - 1):
            xs = [noop(x) for x in xs]

    return ll.pipeline(body, name=f"dag{total}")
'''


def loopline_part(spec_file: Path) -> None:
    """Time the Loopline runs described in ``spec_file`` (one repeat); print the figures."""
    spec = json.loads(spec_file.read_text())
    sys.path.insert(0, spec["work"])
    import bench_flow  # type: ignore[import-not-found]

    perf = time.perf_counter
    n, total, width = spec["steps"], spec["dag_steps"], spec["dag_width"]
    out: dict[str, Any] = {}

    def timed(p: Any, **kw: Any) -> float:
        start = perf()
        result = p.run(project="bench", **kw)
        seconds = perf() - start
        assert result.status == "succeeded", result
        return seconds

    chain = bench_flow.chain(n)
    start = perf()
    _ = chain.dag
    out["build_s"] = perf() - start
    out["cold_s"] = timed(chain, cache=False)
    out["warm_s"] = timed(chain, cache=False)
    out["cached_s"] = timed(chain)

    dag = bench_flow.layered(total, width)
    start = perf()
    _ = dag.dag
    out["dag_build_s"] = perf() - start
    out["dag_s"] = timed(dag, cache=False)
    out["dag_cached_s"] = timed(dag)

    short = bench_flow.chain(RESUME_STEPS)
    timed(short, cache=False)
    first = short.dag.order[RESUME_STEPS - RESUMED]
    start = perf()
    part = short.run(project="bench", from_step=first, reuse="latest", cache=False)
    out["partial_s"] = perf() - start
    assert len(part.ran) == RESUMED, part
    assert len(part.reused) == RESUME_STEPS - RESUMED, part
    print("RESULT " + json.dumps(out))


def run_loopline(work: Path, sizes: Sizes) -> dict[str, Any]:
    (work / "bench_flow.py").write_text(FLOW_MODULE)
    spec = {
        "work": str(work),
        "steps": sizes.steps,
        "dag_steps": sizes.dag_steps,
        "dag_width": sizes.dag_width,
    }
    spec_file = work / "loopline-spec.json"
    spec_file.write_text(json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    env["LOOPLINE_HOME"] = str(work / "loopline-home")
    proc = subprocess.run(
        [sys.executable, __file__, "--loopline-part", str(spec_file)],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line.removeprefix("RESULT ")))
    raise RuntimeError(f"the Loopline side failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


# --- The Metaflow side --------------------------------------------------------------------------


def metaflow_flow(n: int) -> str:
    """A linear FlowSpec of ``n`` no-op steps (``start``, ``s1``..., ``end``)."""
    names = ["start", *(f"s{i}" for i in range(1, n - 1)), "end"]
    lines = ["from metaflow import FlowSpec, step", "", "", "class NoopFlow(FlowSpec):"]
    for i, name in enumerate(names):
        lines += ["    @step", f"    def {name}(self):"]
        lines.append("        self.x = 0" if i == 0 else "        self.x += 1")
        if i < n - 1:
            lines.append(f"        self.next(self.{names[i + 1]})")
    lines += ["", "", "if __name__ == '__main__':", "    NoopFlow()", ""]
    return "\n".join(lines)


def metaflow_version() -> str | None:
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        return None
    proc = subprocess.run(
        [str(python), "-c", "import metaflow; print(metaflow.__version__)"],
        capture_output=True,
        text=True,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def run_metaflow(work: Path, sizes: Sizes) -> dict[str, Any]:
    python = str(PEER_VENV / "bin" / "python")
    env = {
        **os.environ,
        "USERNAME": "bench",
        "METAFLOW_DEFAULT_DATASTORE": "local",
        "METAFLOW_DEFAULT_METADATA": "local",
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(work),
    }

    def timed(flow: Path, *args: str) -> float:
        start = time.perf_counter()
        proc = subprocess.run(
            [python, flow.name, "--quiet", "--no-pylint", *args],
            capture_output=True,
            text=True,
            cwd=flow.parent,
            env=env,
        )
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"metaflow {args} failed:\n{proc.stderr[-3000:]}")
        return seconds

    chain = work / "chain" / "flow.py"
    chain.parent.mkdir()
    chain.write_text(metaflow_flow(sizes.steps))
    short = work / "short" / "flow.py"
    short.parent.mkdir()
    short.write_text(metaflow_flow(RESUME_STEPS))
    out = {"run_s": timed(chain, "run")}
    timed(short, "run")
    # Steps 15..19 of 0..19: s15, s16, s17, s18 and end.
    out["resume_s"] = timed(short, "resume", f"s{RESUME_STEPS - RESUMED}")
    return out


# --- Driving and reporting ----------------------------------------------------------------------


def med(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--loopline-part", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loopline_part:
        loopline_part(args.loopline_part)
        return
    sizes = Sizes().quick() if args.quick else Sizes()
    if args.repeats:
        sizes = Sizes(sizes.steps, sizes.dag_steps, sizes.dag_width, args.repeats)
    peer = None if args.skip_peer else metaflow_version()
    if not args.skip_peer and peer is None:
        console.print(f"[red]Metaflow is not installed in {PEER_VENV}; use --skip-peer.[/red]")
        raise SystemExit(2)

    ours: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    load = os.getloadavg()
    for i in range(sizes.repeats):
        # Interleaved, so a noisy minute on this shared machine hits both sides.
        with tempfile.TemporaryDirectory(prefix="ll-bench-pipelines-") as tmp:
            ours.append(run_loopline(Path(tmp), sizes))
        if peer is not None:
            with tempfile.TemporaryDirectory(prefix="mf-bench-pipelines-") as tmp:
                theirs.append(run_metaflow(Path(tmp), sizes))
        console.print(f"repeat {i + 1}/{sizes.repeats} done")

    def ours_ms(key: str, steps: int) -> float:
        return med([r[key] for r in ours]) * 1000 / steps

    n, d = sizes.steps, sizes.dag_steps
    table = Table(title=f"Per-step overhead, median of {sizes.repeats} (ms per no-op step)")
    for col in ("measurement", "Loopline", f"Metaflow {peer or '-'}", "peer / ours", "goal"):
        table.add_column(col, justify="left" if col == "measurement" else "right")
    mf_step = med([r["run_s"] for r in theirs]) * 1000 / n if theirs else None

    def row(label: str, value: float, goal: float | None, peer_ms: float | None) -> None:
        ratio = f"{peer_ms / value:,.0f}x" if peer_ms else "-"
        verdict = "-" if goal is None else ("met" if value < goal else "MISSED")
        goal_text = "-" if goal is None else f"< {goal:g} ({verdict})"
        table.add_row(label, f"{value:.2f}", f"{peer_ms:.0f}" if peer_ms else "-", ratio, goal_text)

    row(f"{n} steps, first run (starts workers)", ours_ms("cold_s", n), None, mf_step)
    row(f"{n} steps, uncached", ours_ms("warm_s", n), GOAL_UNCACHED_MS, mf_step)
    row(f"{n} steps, fully cached", ours_ms("cached_s", n), GOAL_CACHED_MS, mf_step)
    row(f"{d}-step DAG, uncached", ours_ms("dag_s", d), GOAL_UNCACHED_MS, None)
    row(f"{d}-step DAG, fully cached", ours_ms("dag_cached_s", d), GOAL_CACHED_MS, None)
    console.print(table)

    other = Table(title="Whole runs, median seconds")
    for col in ("measurement", "Loopline", "Metaflow", "peer / ours"):
        other.add_column(col, justify="left" if col == "measurement" else "right")
    partial = med([r["partial_s"] for r in ours])
    resume = med([r["resume_s"] for r in theirs]) if theirs else None
    other.add_row(
        f"last {RESUMED} of {RESUME_STEPS} steps (from_step= / resume)",
        f"{partial:.3f}",
        f"{resume:.2f}" if resume else "-",
        f"{resume / partial:,.0f}x" if resume else "-",
    )
    other.add_row(
        f"{n}-step chain, uncached",
        f"{med([r['warm_s'] for r in ours]):.2f}",
        f"{med([r['run_s'] for r in theirs]):.1f}" if theirs else "-",
        "",
    )
    other.add_row(
        f"build the {d}-step DAG", f"{med([r['dag_build_s'] for r in ours]):.3f}", "-", ""
    )
    console.print(other)
    console.print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores, {platform.processor()} "
        f"Python {platform.python_version()}; load average before: "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    console.print_json(json.dumps({"loopline": ours, "metaflow": theirs, "peer": peer}))


if __name__ == "__main__":
    main()
