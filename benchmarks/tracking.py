"""Experiment tracking against MLflow (latest, in its own virtual environment), same run, same data.

    .venv/bin/python benchmarks/tracking.py                 # everything (~25 minutes)
    .venv/bin/python benchmarks/tracking.py --quick         # 10x fewer calls and runs
    .venv/bin/python benchmarks/tracking.py --only a,b      # some measurements only
    .venv/bin/python benchmarks/tracking.py --skip-peer     # reuse the last MLflow figures

Measured (issue 12, "Shown by"):

- (a) ``log_metric`` calls in one run, embedded (MLflow: a ``sqlite:///`` tracking URI; Loopline:
  the embedded SQLite default under a temporary LOOPLINE_HOME): calls/s with and without the final
  flush, the time until every point is in the database (checked through a separate SQLite
  connection), p50/p99/max per call, and the time a call adds to a training loop of ~50 us of
  numpy work per iteration. MLflow logs one point per database transaction (~190 calls/s), so it
  logs 2,000 calls and its rate is reported; Loopline logs 100,000.
- (b) the same through each tool's HTTP server on a free loopback port (MLflow 300 calls,
  Loopline 100,000).
- (c) runs created with 5 params and 5 metrics each: MLflow 1,000 runs (each repeat into an
  experiment of its own); Loopline all 10,000 once, then the same first 1,000 each repeat into a
  project of their own, then once more with ``capture=False`` (no environment capture).
- (d) a filtered, sorted search over those runs, median of 5 after one first call: MLflow over
  its 1,000, Loopline over the first 1,000 (like for like) and over all 10,000.

MLflow is installed (once, reused) into benchmarks/.peers/mlflow with ``python3 -m venv`` and pip,
and runs in a subprocess of that environment's python. Loopline runs in this interpreter, one
fresh process per part (see run_loopline). Both sides are timed by the same functions: the MLflow
script is built here from their source (``inspect.getsource``). MLflow's figures are cached in
benchmarks/.peers/ for ``--skip-peer``. Everything talks to 127.0.0.1 only; MLflow's telemetry is
switched off.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import importlib
import inspect
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from _machine import load, machine

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEERS = HERE / ".peers"
PEER_VENV = PEERS / "mlflow"
SEED = 20261123
WORK_SIZE = 3_300  # elements of np.tanh per training step: ~50 us on this machine
SEARCH_REPEATS = 5
FILTER = "metrics.m0 > 0.5 and params.p0 = 'a'"
DURABLE_TIMEOUT = 60.0
# Nothing may leave the machine: MLflow's telemetry off (and GitPython quiet if git is absent).
PEER_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "GIT_PYTHON_REFRESH": "quiet",
}

# Wide enough for the tables when the output goes to a file or a pipe.
console = Console(width=None if sys.stdout.isatty() else 130)


@dataclass(frozen=True)
class Sizes:
    """How much each side does; ``--quick`` divides everything by 10."""

    peer_embedded_calls: int = 2_000
    embedded_calls: int = 100_000
    peer_http_calls: int = 300
    http_calls: int = 100_000
    peer_runs: int = 1_000
    runs: int = 10_000
    like_for_like_runs: int = 1_000
    repeats: int = 3

    def quick(self) -> Sizes:
        return Sizes(
            peer_embedded_calls=self.peer_embedded_calls // 10,
            embedded_calls=self.embedded_calls // 10,
            peer_http_calls=self.peer_http_calls // 10,
            http_calls=self.http_calls // 10,
            peer_runs=self.peer_runs // 10,
            runs=self.runs // 10,
            like_for_like_runs=self.like_for_like_runs // 10,
            repeats=self.repeats,
        )


# --- Measurement functions shared by both sides -------------------------------------------------
# The MLflow side gets these as source text (see peer_script), so they use only the standard
# library and numpy, and nothing else from this module.


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values."""
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return float(sorted_values[index])


def training_loop(iterations: int, log_metric: Callable[..., object] | None) -> float:
    """Seconds for ``iterations`` steps of ~50 us of numpy work, with or without log_metric."""
    np = importlib.import_module("numpy")
    x = np.linspace(-2.0, 2.0, WORK_SIZE)
    perf = time.perf_counter
    if log_metric is None:
        start = perf()
        for _ in range(iterations):
            float(np.tanh(x).sum())
        return perf() - start
    start = perf()
    for step in range(iterations):
        loss = float(np.tanh(x).sum())
        log_metric("loss", loss, step=step)
    return perf() - start


def wait_stored(stored: Callable[[], int], expected: int, timeout: float) -> bool:
    """Poll (a separate database connection) until ``expected`` points are stored."""
    deadline = time.perf_counter() + timeout
    while stored() < expected:
        if time.perf_counter() > deadline:
            return False
        time.sleep(0.001)
    return True


def measure_logging(
    log_metric: Callable[..., object],
    begin: Callable[[], Callable[[], int]],
    finish: Callable[[], None],
    flush: Callable[[], None],
    values: Sequence[float],
    repeats: int,
) -> dict[str, Any]:
    """Time ``log_metric("loss", value, step=i)`` over ``values``, ``repeats`` times.

    ``begin()`` starts a fresh run and returns a function counting the points of that run
    in the database through a connection of its own; ``finish()`` ends the run. Each repeat:
    (1) a plain loop of calls, then ``flush()``, then the check that every point is stored;
    (2) the same loop timing each call (``perf_counter_ns``, which adds ~0.1 us a call);
    (3) the training loop without logging, then with one call per step (then ``flush()``).
    """
    n = len(values)
    out: dict[str, Any] = {
        "calls": n,
        "calls_s": [],
        "flush_s": [],
        "durable_s": [],
        "durable_at_flush": [],
        "p50_us": [],
        "p99_us": [],
        "max_us": [],
        "loop_base_s": [],
        "loop_logged_s": [],
        "loop_logged_flush_s": [],
    }
    perf = time.perf_counter
    clock = time.perf_counter_ns
    for _ in range(repeats):
        stored = begin()
        start = perf()
        for step, value in enumerate(values):
            log_metric("loss", value, step=step)
        calls_done = perf()
        flush()
        flushed = perf()
        at_flush = stored() >= n
        if not at_flush and not wait_stored(stored, n, DURABLE_TIMEOUT):
            raise RuntimeError(f"only {stored()} of {n} points reached the database")
        durable = flushed if at_flush else perf()
        finish()
        out["calls_s"].append(calls_done - start)
        out["flush_s"].append(flushed - start)
        out["durable_s"].append(durable - start)
        out["durable_at_flush"].append(at_flush)

        begin()
        each = [0] * n
        for step, value in enumerate(values):
            t0 = clock()
            log_metric("loss", value, step=step)
            each[step] = clock() - t0
        flush()
        finish()
        each.sort()
        out["p50_us"].append(percentile(each, 0.50) / 1000)
        out["p99_us"].append(percentile(each, 0.99) / 1000)
        out["max_us"].append(each[-1] / 1000)

        out["loop_base_s"].append(training_loop(n, None))
        begin()
        start = perf()
        out["loop_logged_s"].append(training_loop(n, log_metric))
        flush()
        out["loop_logged_flush_s"].append(perf() - start)
        finish()
    return out


def time_search(search: Callable[[], Any], repeats: int) -> tuple[dict[str, Any], Any]:
    """One untimed-for-the-median first call, then ``repeats`` timed calls; the last result."""
    perf = time.perf_counter
    start = perf()
    frame = search()
    cold = perf() - start
    seconds = []
    for _ in range(repeats):
        start = perf()
        frame = search()
        seconds.append(perf() - start)
    return {"first_ms": cold * 1000, "ms": [s * 1000 for s in seconds], "rows": len(frame)}, frame


def count_rows(db_path: str, sql: str, run_id: str) -> int:
    """Rows counted through a connection of its own: what another reader of the file sees."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute(sql, (run_id,)).fetchone()[0])


SHARED: list[Callable[..., Any]] = [
    percentile,
    training_loop,
    wait_stored,
    measure_logging,
    time_search,
    count_rows,
]


# --- The MLflow side: a script run by the peer environment's python -----------------------------

PEER_MAIN = """
def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    data = json.loads(Path(spec["data"]).read_text())
    import mlflow

    mlflow.set_tracking_uri(spec["tracking_uri"])
    out: dict[str, Any] = {"mlflow_version": mlflow.__version__}
    db_path = spec["db_path"]
    sql = "SELECT COUNT(*) FROM metrics WHERE run_uuid = ? AND key = 'loss'"

    def begin() -> Callable[[], int]:
        run_id = mlflow.start_run().info.run_id
        return functools.partial(count_rows, db_path, sql, run_id)

    if spec["part"] in ("a", "b"):
        mlflow.set_experiment(f"bench-{spec['part']}")
        values = data["values"][: spec["calls"]]
        out["sync"] = measure_logging(
            mlflow.log_metric, begin, mlflow.end_run, lambda: None, values, spec["repeats"]
        )
        if spec.get("async"):
            out["async"] = measure_logging(
                functools.partial(mlflow.log_metric, synchronous=False),
                begin, mlflow.end_run, mlflow.flush_async_logging, values, 1,
            )
    else:
        runs = data["runs"][: spec["runs"]]
        seconds = []
        for repeat in range(spec["repeats"]):
            experiment = mlflow.set_experiment(f"bench-runs-{repeat}")
            start = time.perf_counter()
            for run in runs:
                with mlflow.start_run(run_name=run["name"]):
                    mlflow.log_params(run["params"])
                    mlflow.log_metrics(run["metrics"])
            seconds.append(time.perf_counter() - start)
        out["create"] = {"runs": len(runs), "seconds": seconds}
        result, frame = time_search(
            lambda: mlflow.search_runs(
                experiment_ids=[experiment.experiment_id],
                filter_string=spec["filter"],
                order_by=["metrics.m1 DESC"],
            ),
            spec["search_repeats"],
        )
        result["first_names"] = list(frame["tags.mlflow.runName"][:3])
        out["search"] = result
    print("PEER-RESULT " + json.dumps(out))


main()
"""


def peer_script() -> str:
    header = (
        "from __future__ import annotations\n"
        "import functools, importlib, json, sqlite3, sys, time\n"
        "from collections.abc import Callable, Sequence\n"
        "from pathlib import Path\n"
        "from typing import Any\n"
        f"WORK_SIZE = {WORK_SIZE}\nDURABLE_TIMEOUT = {DURABLE_TIMEOUT}\n"
    )
    return header + "\n\n".join(inspect.getsource(f) for f in SHARED) + PEER_MAIN


def ensure_peer() -> Path:
    """The MLflow environment: made once with ``python3 -m venv`` + pip, then reused."""
    python = PEER_VENV / "bin" / "python"
    check = [str(python), "-c", "import mlflow"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    console.print(f"Installing the latest mlflow into {PEER_VENV} (a few minutes) ...")
    subprocess.run(["python3", "-m", "venv", "--clear", str(PEER_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--upgrade", "mlflow"], check=True
    )
    return python


def run_peer(python: Path, work: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """Run one part on the MLflow side and return what it printed."""
    # Inside the repository (benchmarks/.peers is git-ignored), as a user's training script would
    # be: MLflow records the git commit of the entry point, as Loopline's capture does.
    script = PEERS / "mlflow_side.py"
    script.write_text(peer_script(), encoding="utf-8")
    spec_file = work / f"spec-{spec['part']}.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    log = work / f"mlflow-{spec['part']}.log"
    with log.open("w") as err:
        proc = subprocess.run(
            [str(python), str(script), str(spec_file)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=work,
            env={**os.environ, **PEER_ENV},
        )
    for line in proc.stdout.splitlines():
        if line.startswith("PEER-RESULT "):
            return dict(json.loads(line.removeprefix("PEER-RESULT ")))
    tail = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"the MLflow side failed (exit {proc.returncode}):\n{tail}")


# --- Servers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(
    command: list[str], port: int, ready_path: str, work: Path, env: dict[str, str]
) -> Iterator[None]:
    """Start a server in a process group of its own, wait until 127.0.0.1:``port``/``ready_path``
    answers 200, and stop it (by its PID) when the block ends."""
    log = (work / f"server-{free_port()}.log").open("w")
    proc = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=work,
        env={**os.environ, **env},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {proc.returncode}: see {log.name}")
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                probe.request("GET", ready_path)
                if probe.getresponse().status == 200:
                    break
            except (OSError, http.client.HTTPException):
                pass
            finally:
                probe.close()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} not ready after 120 s")
            time.sleep(0.2)
        yield
    finally:
        # The group is the one this Popen made (start_new_session): the server and its workers.
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


# --- The data -----------------------------------------------------------------------------------


def make_data(sizes: Sizes) -> dict[str, Any]:
    """Seeded metric values and runs, written to a file both sides read."""
    import random

    rng = random.Random(SEED)
    calls = max(sizes.embedded_calls, sizes.http_calls)
    values = [rng.random() for _ in range(calls)]
    runs = []
    for i in range(sizes.runs):
        params = {
            "p0": rng.choice("abc"),
            "p1": rng.randint(1, 512),
            "p2": rng.choice(["adam", "sgd", "rmsprop"]),
            "p3": round(rng.uniform(1e-4, 1e-1), 6),
            "p4": f"v{rng.randint(0, 9)}",
        }
        metrics = {f"m{j}": rng.random() for j in range(5)}
        runs.append({"name": f"run-{i:05d}", "params": params, "metrics": metrics})
    return {"values": values, "runs": runs}


def expected_search(runs: list[dict[str, Any]]) -> tuple[int, list[str]]:
    hits = [r for r in runs if r["metrics"]["m0"] > 0.5 and r["params"]["p0"] == "a"]
    hits.sort(key=lambda r: -r["metrics"]["m1"])
    return len(hits), [r["name"] for r in hits[:3]]


# --- The Loopline side (in-process) -------------------------------------------------------------


def loopline_available() -> str | None:
    """None when the tracking API can be used, else why not."""
    try:
        ll = importlib.import_module("loopline")
        for name in ("start_run", "log_metric", "log_metrics", "flush", "search_runs"):
            getattr(ll, name)
        importlib.import_module("numpy")
    except (ImportError, AttributeError) as exc:
        return str(exc)
    return None


def run_loopline(work: Path, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Run one part on the Loopline side, in a fresh process of this interpreter.

    The one-liners use a default client made from the LOOPLINE_* variables at the first run
    and kept for the process, so (b), which needs LOOPLINE_URI pointing at a server, cannot
    share a process with (a); a fresh process per part also leaves no writer thread of one
    part running during the next, and treats both sides alike.
    """
    spec_file = work / f"loopline-spec-{spec['part']}.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    log = work / f"loopline-{spec['part']}.log"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    with log.open("w") as err:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--loopline-part", str(spec_file)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=work,
            env={**clean, **env},
        )
    for line in proc.stdout.splitlines():
        if line.startswith("LOOPLINE-RESULT "):
            return dict(json.loads(line.removeprefix("LOOPLINE-RESULT ")))
    tail = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"the Loopline side failed (exit {proc.returncode}):\n{tail}")


def loopline_part(spec_file: Path) -> None:
    """The child process of :func:`run_loopline`: one part, its figures printed as JSON."""
    spec = json.loads(spec_file.read_text())
    data = json.loads(Path(spec["data"]).read_text())
    if spec["part"] in ("a", "b"):
        values = data["values"][: spec["calls"]]
        out = loopline_logging(spec["db_path"], values, spec["repeats"])
    else:
        out = loopline_runs(data["runs"][: spec["runs"]], spec["first"], spec["repeats"])
    print("LOOPLINE-RESULT " + json.dumps(out), flush=True)


def loopline_logging(db_path: str, values: Sequence[float], repeats: int) -> dict[str, Any]:
    import loopline as ll

    sql = "SELECT COALESCE(SUM(count), 0) FROM metric_chunks WHERE run_id = ? AND key = 'loss'"
    current: list[ll.ActiveRun] = []

    def begin() -> Callable[[], int]:
        run = ll.start_run(project="bench", name=f"calls-{len(current)}")
        current.append(run)
        return functools.partial(count_rows, db_path, sql, run.id)

    def finish() -> None:
        current[-1].end()

    return measure_logging(ll.log_metric, begin, finish, ll.flush, values, repeats)


def loopline_runs(runs: list[dict[str, Any]], first: int, repeats: int) -> dict[str, Any]:
    """(c) all ``runs`` once, the ``first`` runs ``repeats`` times (each set in a project of its
    own), the first ones once more without the environment capture; then (d) over the last set
    of first runs and over all runs."""
    import loopline as ll

    def create(project: str, batch: list[dict[str, Any]], *, capture: bool = True) -> float:
        start = time.perf_counter()
        for run in batch:
            with ll.start_run(project, name=run["name"], params=run["params"], capture=capture):
                ll.log_metrics(run["metrics"], step=0)
        ll.flush()
        return time.perf_counter() - start

    out: dict[str, Any] = {
        "create_first": {"runs": first, "seconds": []},
        "create": {"runs": len(runs), "seconds": [create("runs-all", runs)]},
    }
    for repeat in range(repeats):
        out["create_first"]["seconds"].append(create(f"runs-first-{repeat}", runs[:first]))
    no_capture = create("runs-first-no-capture", runs[:first], capture=False)
    out["create_first_no_capture"] = {"runs": first, "seconds": [no_capture]}
    # The like-for-like set first, so its first call is the process's first (as MLflow's is).
    for key, project in (("search_first", f"runs-first-{repeats - 1}"), ("search", "runs-all")):

        def search(project: str = project) -> Any:
            return ll.search_runs(
                project, filter=FILTER, order_by=["metrics.m1 desc"], limit=len(runs)
            )

        result, frame = time_search(search, SEARCH_REPEATS)
        result["first_names"] = list(frame["name"][:3]) if "name" in frame else []
        out[key] = result
    return out


# --- Reporting ----------------------------------------------------------------------------------


def med(values: Sequence[float] | None) -> float | None:
    return statistics.median(values) if values else None


def num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def ratio(loopline: float | None, peer: float | None, *, higher_is_better: bool) -> float | None:
    if loopline is None or peer is None or loopline == 0 or peer == 0:
        return None
    return loopline / peer if higher_is_better else peer / loopline


def ratio_text(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}x" if value >= 10 else f"{value:.2f}x"


def met(ok: bool | None) -> str:
    return "—" if ok is None else ("[green]yes[/]" if ok else "[red]no[/]")


@dataclass(frozen=True)
class Logging:
    """Medians of one side's ``measure_logging`` figures."""

    calls: int
    rate: float
    rate_flush: float
    durable_s: float
    durable_at_flush: bool
    p50: float
    p99: float
    max: float
    loop_base_us: float
    added_us: float
    added_flush_us: float

    @classmethod
    def of(cls, raw: dict[str, Any] | None) -> Logging | None:
        if not raw:
            return None
        n = raw["calls"]
        base = med(raw["loop_base_s"]) or 0.0
        return cls(
            calls=n,
            rate=n / (med(raw["calls_s"]) or 1),
            rate_flush=n / (med(raw["flush_s"]) or 1),
            durable_s=med(raw["durable_s"]) or 0.0,
            durable_at_flush=all(raw["durable_at_flush"]),
            p50=med(raw["p50_us"]) or 0.0,
            p99=med(raw["p99_us"]) or 0.0,
            max=med(raw["max_us"]) or 0.0,
            loop_base_us=base / n * 1e6,
            added_us=((med(raw["loop_logged_s"]) or 0.0) - base) / n * 1e6,
            added_flush_us=((med(raw["loop_logged_flush_s"]) or 0.0) - base) / n * 1e6,
        )


def logging_table(
    title: str,
    peer: Logging | None,
    extra: Logging | None,
    ours: Logging | None,
    goal: float,
    *,
    amortised_goal_us: float | None,
) -> Table:
    """(a) and (b): one column per side, the ratio (above 1: Loopline better) and the goal."""
    table = Table(title=title, title_justify="left")
    table.add_column("measure")
    table.add_column("MLflow", justify="right")
    if extra is not None:
        table.add_column("MLflow async", justify="right")
    table.add_column("Loopline", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("goal", justify="right")
    table.add_column("met", justify="center")

    def row(
        name: str,
        get: Callable[[Logging], float],
        digits: int,
        *,
        higher: bool,
        goal_text: str = "",
        ok: Callable[[float, float | None], bool] | None = None,
    ) -> None:
        p = get(peer) if peer else None
        o = get(ours) if ours else None
        r = ratio(o, p, higher_is_better=higher)
        cells = [name, num(p, digits)]
        if extra is not None:
            cells.append(num(get(extra), digits))
        verdict = None if ok is None or o is None else ok(o, r)
        cells += [num(o, digits), ratio_text(r), goal_text, met(verdict) if goal_text else ""]
        table.add_row(*cells)

    sides = [peer, extra, ours] if extra is not None else [peer, ours]
    table.add_row(
        "calls timed (per repeat)", *[num(s.calls) if s else "—" for s in sides], "", "", ""
    )
    row("calls/s, calls only", lambda s: s.rate, 0, higher=True)
    row(
        "calls/s incl. final flush",
        lambda s: s.rate_flush,
        0,
        higher=True,
        goal_text=f">= {goal:,.0f}x",
        ok=lambda o, r: r is not None and r >= goal,
    )
    row(
        "us per call, amortised incl. flush",
        lambda s: 1e6 / s.rate_flush,
        2,
        higher=False,
        goal_text=f"< {amortised_goal_us:g} us" if amortised_goal_us else "",
        ok=(lambda o, r: o < amortised_goal_us) if amortised_goal_us else None,
    )
    row("s until all points stored", lambda s: s.durable_s, 3, higher=False)
    row("p50 us per call", lambda s: s.p50, 2, higher=False)
    row("p99 us per call", lambda s: s.p99, 2, higher=False)
    row("max us per call", lambda s: s.max, 0, higher=False)
    row("training loop: us per step, no logging", lambda s: s.loop_base_us, 1, higher=False)
    row("  + us per step with one log_metric", lambda s: s.added_us, 2, higher=False)
    row("  + us per step incl. final flush", lambda s: s.added_flush_us, 2, higher=False)
    return table


def runs_tables(peer: dict[str, Any] | None, ours: dict[str, Any] | None) -> list[Table]:
    """(c) and (d). Rows are labelled with the run counts each side actually used."""
    columns = ("measure", "MLflow", "Loopline", "ratio", "goal", "met")
    create = Table(title="(c) create runs, 5 params + 5 metrics each", title_justify="left")
    for column in columns:
        create.add_column(column, justify="left" if column == "measure" else "right")

    def rate(raw: dict[str, Any] | None) -> float | None:
        return raw["runs"] / (med(raw["seconds"]) or 1) if raw else None

    def runs_of(side: dict[str, Any] | None, key: str) -> str:
        return f"{side[key]['runs']:,}" if side and key in side else "—"

    p = rate(peer["create"]) if peer else None
    rows = (
        ("runs/s (MLflow {p} runs, Loopline {o})", "create", True),
        ("runs/s (MLflow {p} runs, Loopline the first {o})", "create_first", True),
        ("  Loopline the first {o}, capture=False", "create_first_no_capture", False),
    )
    for label, key, goal in rows:
        o = rate(ours.get(key)) if ours else None
        r = ratio(o, p, higher_is_better=True)
        create.add_row(
            label.format(p=runs_of(peer, "create"), o=runs_of(ours, key)),
            num(p, 1),
            num(o, 1),
            ratio_text(r),
            "faster" if goal else "",
            met(None if r is None else r > 1) if goal else "",
        )

    search = Table(title=f"(d) search_runs: {FILTER}, by metrics.m1 desc", title_justify="left")
    for column in columns:
        search.add_column(column, justify="left" if column == "measure" else "right")
    peer_search = peer["search"] if peer else None
    ps = med(peer_search["ms"]) if peer_search else None
    for label, key in (
        ("median ms (MLflow {p} runs, Loopline the first {o}: like for like)", "search_first"),
        ("median ms (MLflow {p} runs, Loopline all {o})", "search"),
    ):
        mine = ours[key] if ours else None
        o = med(mine["ms"]) if mine else None
        r = ratio(o, ps, higher_is_better=False)
        ok = None if o is None else (o < 100 and (r is None or r > 1))
        count_key = "create_first" if key == "search_first" else "create"
        search.add_row(
            label.format(p=runs_of(peer, "create"), o=runs_of(ours, count_key)),
            num(ps, 1),
            num(o, 1),
            ratio_text(r),
            "faster, < 100 ms",
            met(ok),
        )
        search.add_row(
            "  first call ms",
            num(peer_search["first_ms"], 1) if peer_search else "—",
            num(mine["first_ms"], 1) if mine else "—",
            "",
            "",
            "",
        )
        search.add_row(
            "  rows returned",
            num(peer_search["rows"]) if peer_search else "—",
            num(mine["rows"]) if mine else "—",
            "",
            "",
            "",
        )
    return [create, search]


# --- Main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="a,b,c,d", help="comma-separated parts (default a,b,c,d)")
    parser.add_argument("--quick", action="store_true", help="10x fewer calls and runs")
    parser.add_argument("--skip-peer", action="store_true", help="reuse cached MLflow figures")
    parser.add_argument("--repeats", type=int, default=3, help="repeats per measurement (median)")
    parser.add_argument("--loopline-part", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loopline_part:
        loopline_part(args.loopline_part)
        return
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    if not parts <= {"a", "b", "c", "d"}:
        parser.error("--only takes a, b, c and d")
    sizes = replace(Sizes().quick() if args.quick else Sizes(), repeats=args.repeats)
    cache_file = PEERS / ("mlflow-results-quick.json" if args.quick else "mlflow-results.json")

    console.print(f"[bold]Machine:[/] {machine()}; load average {load()} (1, 5, 15 min)")
    why_not = loopline_available()
    if why_not:
        console.print(f"[yellow]Loopline's tracking API is not usable ({why_not}): MLflow only.[/]")

    peer: dict[str, Any] = {}
    if args.skip_peer:
        if cache_file.exists():
            peer = json.loads(cache_file.read_text())
            console.print(
                f"MLflow {peer.get('mlflow_version')} figures from {cache_file.name}, "
                f"measured {peer.get('measured_at')}"
            )
        else:
            console.print(f"[yellow]No {cache_file.name} yet: MLflow columns stay empty.[/]")
    python = None if args.skip_peer else ensure_peer()
    ours: dict[str, Any] = {}

    work = Path(tempfile.mkdtemp(prefix="loopline-bench-tracking-"))
    try:
        data = make_data(sizes)
        data_file = work / "data.json"
        data_file.write_text(json.dumps(data), encoding="utf-8")
        base_spec = {
            "data": str(data_file),
            "repeats": sizes.repeats,
            "filter": FILTER,
            "search_repeats": SEARCH_REPEATS,
        }

        if "a" in parts:
            console.print(
                f"(a) embedded log_metric ... load {load()}. MLflow logs "
                f"{sizes.peer_embedded_calls:,} calls (one transaction each: 100k would take "
                f"~9 minutes), Loopline {sizes.embedded_calls:,}; rates are compared."
            )
            if python:
                db = work / "mlflow-a.db"
                spec = {
                    **base_spec,
                    "part": "a",
                    "calls": sizes.peer_embedded_calls,
                    "tracking_uri": f"sqlite:///{db}",
                    "db_path": str(db),
                    "async": True,
                }
                peer["a"] = run_peer(python, work, spec)
                peer["mlflow_version"] = peer["a"]["mlflow_version"]
            if not why_not:
                home = work / "loopline-a"
                spec = {
                    **base_spec,
                    "part": "a",
                    "calls": sizes.embedded_calls,
                    "db_path": str(home / "loopline.db"),
                }
                ours["a"] = run_loopline(work, spec, {"LOOPLINE_HOME": str(home)})
        if "b" in parts:
            console.print(f"(b) log_metric through the HTTP server ... load {load()}")
            if python:
                db = work / "mlflow-b.db"
                port = free_port()
                mlflow_bin = str(python.parent / "mlflow")
                command = [
                    mlflow_bin,
                    "server",
                    "--backend-store-uri",
                    f"sqlite:///{db}",
                    "--default-artifact-root",
                    str(work / "mlflow-artifacts"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    "1",
                ]
                with server(command, port, "/health", work, PEER_ENV):
                    spec = {
                        **base_spec,
                        "part": "b",
                        "calls": sizes.peer_http_calls,
                        "tracking_uri": f"http://127.0.0.1:{port}",
                        "db_path": str(db),
                    }
                    peer["b"] = run_peer(python, work, spec)
                peer["mlflow_version"] = peer["b"]["mlflow_version"]
            if not why_not:
                db = work / "loopline-b-server.db"
                port = free_port()
                command = [
                    str(REPO / ".venv" / "bin" / "loopline"),
                    "server",
                    "--db",
                    f"sqlite:///{db}",
                    "--artifacts",
                    str(work / "loopline-b-blobs"),
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ]
                server_env = {"LOOPLINE_HOME": str(work / "loopline-b-server-home")}
                with server(command, port, "/readyz", work, server_env):
                    spec = {**base_spec, "part": "b", "calls": sizes.http_calls, "db_path": str(db)}
                    client_env = {
                        "LOOPLINE_HOME": str(work / "loopline-b-client"),
                        "LOOPLINE_URI": f"http://127.0.0.1:{port}",
                    }
                    ours["b"] = run_loopline(work, spec, client_env)
        if parts & {"c", "d"}:
            console.print(f"(c, d) create runs, then search them ... load {load()}")
            if python:
                db = work / "mlflow-c.db"
                spec = {
                    **base_spec,
                    "part": "c",
                    "runs": sizes.peer_runs,
                    "tracking_uri": f"sqlite:///{db}",
                    "db_path": str(db),
                }
                peer["c"] = run_peer(python, work, spec)
                peer["mlflow_version"] = peer["c"]["mlflow_version"]
            if not why_not:
                spec = {
                    **base_spec,
                    "part": "c",
                    "runs": sizes.runs,
                    "first": sizes.like_for_like_runs,
                }
                ours["c"] = run_loopline(work, spec, {"LOOPLINE_HOME": str(work / "loopline-c")})
        console.print(f"done; load {load()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if python:
        cached = json.loads(cache_file.read_text()) if cache_file.exists() else {}
        cached.update(peer)
        cached["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        cached["sizes"] = asdict(sizes)
        cache_file.write_text(json.dumps(cached, indent=1), encoding="utf-8")
        peer = cached
    (PEERS / "tracking-last.json").write_text(
        json.dumps({"peer": peer, "loopline": ours, "sizes": asdict(sizes)}, indent=1)
    )

    version = peer.get("mlflow_version", "?")
    if "a" in parts:
        console.print(
            logging_table(
                f"(a) log_metric, embedded SQLite (MLflow {version})",
                Logging.of(peer.get("a", {}).get("sync")),
                Logging.of(peer.get("a", {}).get("async")),
                Logging.of(ours.get("a")),
                1000,
                amortised_goal_us=5,
            )
        )
    if "b" in parts:
        console.print(
            logging_table(
                f"(b) log_metric through the HTTP server (MLflow {version}, 1 worker)",
                Logging.of(peer.get("b", {}).get("sync")),
                None,
                Logging.of(ours.get("b")),
                100,
                amortised_goal_us=None,
            )
        )
    if parts & {"c", "d"}:
        for table in runs_tables(peer.get("c"), ours.get("c")):
            console.print(table)
        checks = [
            ("MLflow", peer.get("c", {}).get("search"), sizes.peer_runs),
            ("Loopline", (ours.get("c") or {}).get("search_first"), sizes.like_for_like_runs),
            ("Loopline", (ours.get("c") or {}).get("search"), sizes.runs),
        ]
        for side, result, count in checks:
            if result:
                rows, names = expected_search(data["runs"][:count])
                good = result["rows"] == rows and result["first_names"] == names
                console.print(
                    f"{side} search over {count:,} runs: {result['rows']} rows, "
                    f"top {result['first_names']} "
                    + ("[green](as expected)[/]" if good else f"[red](expected {rows}, {names})[/]")
                )
    console.print(
        "ratio: Loopline over MLflow for rates, MLflow over Loopline for times (above 1: Loopline "
        "better). Medians of the repeats; the MLflow side logs fewer calls (see 'calls timed')."
    )


if __name__ == "__main__":
    main()
