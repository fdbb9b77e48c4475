"""Model serving against ``mlflow models serve`` (in its own virtual environment), same model.

    .venv/bin/python benchmarks/serving.py               # 3 repeats of 10 s runs (~12 minutes)
    .venv/bin/python benchmarks/serving.py --quick       # 1 repeat of 3 s runs
    .venv/bin/python benchmarks/serving.py --skip-peer   # Loopline only

Measured (issue 11, "Shown by"): one 4-feature scikit-learn LogisticRegression (seeded, trained
once here and pickled), saved with ``mlflow.sklearn.save_model`` in the MLflow environment and
with ``ll.log_model`` + ``ll.register_model`` in a fresh LOOPLINE_HOME (embedded SQLite), each
with the same two-row input example. Each server is a process of its own on 127.0.0.1:

- MLflow: ``mlflow models serve -m PATH --env-manager local -h 127.0.0.1 -p P`` (uvicorn, one
  worker, its default);
- Loopline: ``loopline serve ENDPOINT --project bench --port P [--workers N]`` for endpoints
  deployed with micro-batching off (``batching={"enabled": False}``) and with the default
  (``batching=None``: on for scikit-learn). Predictions are logged to the evaluation store, the
  default (``sample_rate=1.0``); one more endpoint with ``sample_rate=0`` shows what logging costs.

Load: ``wrk`` (Debian's; installed with apt-get only if missing) POSTs one row in MLflow's scoring
JSON (``dataframe_split``) over keep-alive connections: 1 connection (``-t1 -c1``, sequential)
and 16 (``-t2 -c16``), each a 2 s warm-up then a timed run, its own Lua ``done`` hook reporting
requests, errors and the p50/p99/max latency. Server CPU per request is the user + system time
of every process in the server's session (its workers too), read from /proc before and after
the timed run, divided by the requests answered. Start time is from the ``Popen`` to the first
200 on /readyz (Loopline) or /ping (MLflow), polled every 10 ms (also for ``loopline serve
--model models:/lr/1``, measured for its start only); each answer is then checked to
be the same prediction as the model's in this process. The servers are restarted in every
repeat, one after the other (interleaved); figures are medians over the repeats. The load
average is recorded around every timed run (it includes this benchmark's own server and wrk).
The import of the SDK (``python -c "import
loopline"``, median of 5) is measured once. Results go to benchmarks/.data/serving-results.json.
MLflow's telemetry is off.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import pickle
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
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
MLFLOW_VERSION = "3.17.2"  # the version the issue measured; used only when installing afresh
LOOPLINE = REPO / ".venv" / "bin" / "loopline"
RESULTS = HERE / ".data" / "serving-results.json"
PEER_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "GIT_PYTHON_REFRESH": "quiet",
}
SEED = 20261123
COLUMNS = ["a", "b", "c", "d"]
ROW = [0.1, -0.2, 0.3, 0.4]
BODY = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [ROW]}})
PROJECT = "bench"
QUIET_LOAD = 1.5

console = Console(width=None if sys.stdout.isatty() else 150)


# --- The servers measured ---------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """One server set-up and the client counts it is measured with."""

    key: str
    label: str
    side: str  # "mlflow" or "loopline"
    endpoint: str = ""
    workers: int = 1
    clients: tuple[int, ...] = (1, 16)
    model: str = ""  # serve one model (``--model``) instead of an endpoint


CONFIGS = (
    Config("mlflow", "MLflow models serve (1 worker)", "mlflow"),
    Config("ll-off", "Loopline, batching off, 1 worker", "loopline", "lr-off"),
    Config("ll-on", "Loopline, batching on (default), 1 worker", "loopline", "lr-on"),
    Config("ll-off-2w", "Loopline, batching off, 2 workers", "loopline", "lr-off", 2, (16,)),
    Config("ll-on-2w", "Loopline, batching on (default), 2 workers", "loopline", "lr-on", 2, (16,)),
    Config("ll-on-nolog", "Loopline, batching on, sample_rate=0, 1 worker", "loopline", "lr-nolog"),
    # Start-up only: `loopline serve --model models:/lr/1`, from Popen to /readyz 200.
    Config(
        "ll-model",
        "Loopline serve --model (start only)",
        "loopline",
        clients=(),
        model="models:/lr/1",
    ),
)

# Deployed in the Loopline store by ``prepare_loopline``: endpoint -> deploy keyword arguments.
ENDPOINTS: dict[str, dict[str, Any]] = {
    "lr-off": {"batching": {"enabled": False}},
    "lr-on": {},
    "lr-nolog": {"sample_rate": 0.0},
}


@dataclass
class Sample:
    """One timed wrk run against one server."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    cpu_ms_per_request: float
    load_before: float
    load_after: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


@dataclass
class Measured:
    """Everything measured for one config over the repeats."""

    start_s: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    samples: dict[int, list[Sample]] = field(default_factory=dict)


# --- The model ----------------------------------------------------------------------------------


def train(work: Path) -> Path:
    """The seeded 4-feature LogisticRegression, pickled for both sides."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(SEED)
    x = pd.DataFrame(rng.normal(size=(1_000, 4)), columns=COLUMNS)
    y = (x.a + 0.5 * x.b - x.c > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    path = work / "model.pkl"
    with path.open("wb") as out:
        pickle.dump({"model": model, "example": x.head(2)}, out)
    return path


def expected_prediction(pickled: Path) -> int:
    import pandas as pd

    with pickled.open("rb") as f:
        saved = pickle.load(f)  # noqa: S301 - the file this run just wrote
    return int(saved["model"].predict(pd.DataFrame([ROW], columns=COLUMNS))[0])


def prepare_loopline(pickled: Path) -> None:
    """In a fresh process with LOOPLINE_HOME set: log, register and deploy the endpoints."""
    import loopline as ll

    with pickled.open("rb") as f:
        saved = pickle.load(f)  # noqa: S301 - the file this run just wrote
    with ll.start_run(project=PROJECT) as run:
        ll.log_model(saved["model"], "model", input_example=saved["example"])
    ll.register_model(f"runs:/{run.id}/model", "lr", project=PROJECT)
    for name, options in ENDPOINTS.items():
        ll.deploy(name, "models:/lr/1", project=PROJECT, **options)


PEER_SAVE = """
import pickle, sys
import mlflow, mlflow.sklearn
with open(sys.argv[1], "rb") as f:
    saved = pickle.load(f)
mlflow.sklearn.save_model(saved["model"], sys.argv[2], input_example=saved["example"])
print("MLFLOW-VERSION " + mlflow.__version__)
"""


def ensure_peer() -> Path:
    """The MLflow environment shared with the other benchmarks: made once, then reused. It needs
    the scikit-learn version of .venv, so the pickled model loads the same on both sides."""
    import sklearn

    python = PEER_VENV / "bin" / "python"
    check = [str(python), "-c", "import mlflow, sklearn; print(sklearn.__version__)"]
    found = subprocess.run(check, capture_output=True, text=True) if python.exists() else None
    if found is not None and found.returncode == 0:
        if found.stdout.strip() == sklearn.__version__:
            return python
        pin = f"scikit-learn=={sklearn.__version__}"
        console.print(f"Installing {pin} into {PEER_VENV} ...")
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", pin], check=True)
        return python
    console.print(f"Installing mlflow {MLFLOW_VERSION} into {PEER_VENV} (a few minutes) ...")
    subprocess.run(["python3", "-m", "venv", "--clear", str(PEER_VENV)], check=True)
    pip = [
        str(python),
        "-m",
        "pip",
        "install",
        "--quiet",
        f"mlflow=={MLFLOW_VERSION}",
        f"scikit-learn=={sklearn.__version__}",
    ]
    subprocess.run(pip, check=True)
    return python


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    console.print("Installing wrk with apt-get ...")
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and apt-get did not install it")
    return found


# --- Processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def session_stats(session: int) -> tuple[float, float]:
    """CPU seconds (user + system) and resident MB of every live process in ``session``."""
    ticks = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    cpu = 0.0
    rss = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        # After the name: state ppid pgrp session ... utime (14th field) stime (15th) ... rss (24th)
        if int(fields[3]) != session:
            continue
        cpu += (int(fields[11]) + int(fields[12])) / ticks
        rss += int(fields[21]) * page / 2**20
    return cpu, rss


def get(port: int, path: str, body: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        if body is None:
            conn.request("GET", path)
        else:
            conn.request("POST", path, body, {"Content-Type": "application/json"})
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    start_s: float


@contextmanager
def running(
    command: list[str], port: int, ready_path: str, work: Path, env: dict[str, str], workers: int
) -> Iterator[Server]:
    """Start a server in a session of its own, time it until ``ready_path`` answers 200, and stop
    it (its process group, by the PID this Popen made) when the block ends."""
    log = (work / f"server-{port}.log").open("w")
    began = time.monotonic()
    proc = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=work,
        env={**os.environ, **env},
        start_new_session=True,
    )
    try:
        deadline = began + 120
        while True:
            if proc.poll() is not None:
                log.flush()
                tail = Path(log.name).read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{command[0]} exited with {proc.returncode}:\n{tail}")
            try:
                if get(port, ready_path)[0] == 200:
                    break
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} not ready after 120 s: see {log.name}")
            time.sleep(0.01)
        start_s = time.monotonic() - began
        if workers > 1:
            # Every worker ready: new connections land on either, so ask until 20 in a row say so.
            ok = 0
            while ok < 20 and time.monotonic() < deadline:
                ok = ok + 1 if get(port, ready_path)[0] == 200 else 0
                time.sleep(0.01 if ok else 0.05)
        yield Server(proc, port, start_s)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


# --- Load ---------------------------------------------------------------------------------------

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [[BODY]]
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK-RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def wrk_run(wrk: str, script: Path, port: int, clients: int, seconds: float) -> dict[str, float]:
    threads = 1 if clients == 1 else 2
    command = [
        wrk,
        f"-t{threads}",
        f"-c{clients}",
        f"-d{seconds:g}s",
        "--latency",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}/invocations",
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("WRK-RESULT "):
            return dict(json.loads(line.removeprefix("WRK-RESULT ")))
    raise RuntimeError(f"wrk printed no result:\n{out}")


def measure(
    wrk: str, script: Path, server: Server, clients: int, seconds: float, warmup: float
) -> Sample:
    wrk_run(wrk, script, server.port, clients, warmup)
    load_before = os.getloadavg()[0]
    cpu_before, _ = session_stats(server.proc.pid)
    raw = wrk_run(wrk, script, server.port, clients, seconds)
    cpu_after, _ = session_stats(server.proc.pid)
    requests = int(raw["requests"])
    return Sample(
        requests=requests,
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1e3,
        p99_ms=raw["p99_us"] / 1e3,
        max_ms=raw["max_us"] / 1e3,
        errors=int(raw["errors"]),
        cpu_ms_per_request=(cpu_after - cpu_before) * 1e3 / max(requests, 1),
        load_before=load_before,
        load_after=os.getloadavg()[0],
    )


def import_seconds(env: dict[str, str], repeats: int = 5) -> float:
    """Median wall time of ``python -c "import loopline"`` in a fresh process (the SDK's
    import: what every script, notebook and ``loopline`` command pays first)."""
    times = []
    for _ in range(repeats):
        began = time.monotonic()
        subprocess.run([sys.executable, "-c", "import loopline"], check=True, env=env)
        times.append(time.monotonic() - began)
    return statistics.median(times)


def wait_quiet(limit_s: float) -> None:
    """Wait (up to ``limit_s``) for the 1-minute load average to fall below QUIET_LOAD."""
    deadline = time.monotonic() + limit_s
    while os.getloadavg()[0] >= QUIET_LOAD and time.monotonic() < deadline:
        console.print(f"  load {load()}: waiting for < {QUIET_LOAD} ...")
        time.sleep(15)


# --- Report -------------------------------------------------------------------------------------


def med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt(value: float, digits: int = 1) -> str:
    return "-" if value != value else f"{value:,.{digits}f}"


def report(results: dict[str, Measured], seconds: float, repeats: int) -> Table:
    peer = results.get("mlflow")
    peer_rate = {c: med([s.rate for s in v]) for c, v in peer.samples.items()} if peer else {}
    table = Table(
        "server",
        "clients",
        "req/s",
        "vs MLflow",
        "p50 ms",
        "p99 ms",
        "max ms",
        "server CPU ms/req",
        "errors",
        "load (1 min)",
        "start s",
        "RSS MB",
        title=f"Single-row POST /invocations, medians of {repeats} x {seconds:g} s runs",
    )
    for config in CONFIGS:
        measured = results.get(config.key)
        if measured is None:
            continue
        if not config.clients:
            table.add_row(config.label, "-", *["-"] * 8, fmt(med(measured.start_s), 2),
                          fmt(med(measured.rss_mb), 0))  # fmt: skip
        for clients in config.clients:
            samples = measured.samples.get(clients, [])
            rate = med([s.rate for s in samples])
            base = peer_rate.get(clients)
            loads = [x for s in samples for x in (s.load_before, s.load_after)]
            table.add_row(
                config.label,
                str(clients),
                fmt(rate, 0),
                f"{rate / base:.1f}x" if base else "-",
                fmt(med([s.p50_ms for s in samples]), 2),
                fmt(med([s.p99_ms for s in samples]), 2),
                fmt(med([s.max_ms for s in samples]), 1),
                fmt(med([s.cpu_ms_per_request for s in samples]), 3),
                str(sum(s.errors for s in samples)),
                f"{min(loads):.2f}-{max(loads):.2f}" if loads else "-",
                fmt(med(measured.start_s), 2),
                fmt(med(measured.rss_mb), 0),
            )
    return table


# --- Main ---------------------------------------------------------------------------------------


def server_command(
    config: Config, port: int, mlflow_bin: Path | None, model_dir: Path
) -> list[str]:
    if config.side == "mlflow":
        assert mlflow_bin is not None
        return [
            str(mlflow_bin),
            "models",
            "serve",
            "-m",
            str(model_dir),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ]
    target = ["--model", config.model] if config.model else [config.endpoint]
    return [
        str(LOOPLINE),
        "serve",
        *target,
        "--project",
        PROJECT,
        "--port",
        str(port),
        "--workers",
        str(config.workers),
    ]


def prediction_of(body: bytes) -> int:
    """The class in either server's answer: ``{"predictions": [1]}`` or a similar shape."""
    data = json.loads(body)
    value: Any = data.get("predictions", data) if isinstance(data, dict) else data
    while isinstance(value, list | dict):
        value = value[0] if isinstance(value, list) else next(iter(value.values()))
    return int(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat of 3 s runs")
    parser.add_argument("--skip-peer", action="store_true", help="Loopline only")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each timed run")
    parser.add_argument("--warmup", type=float, default=2.0, help="length of each warm-up run")
    parser.add_argument("--only", default="", help="comma-separated config keys")
    parser.add_argument(
        "--wait-quiet", type=float, default=180.0, help="seconds to wait for load < 1.5"
    )
    parser.add_argument("--prepare-loopline", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare_loopline:
        prepare_loopline(args.prepare_loopline)
        return
    if args.quick:
        args.repeats, args.seconds = 1, 3.0
    keys = {k.strip() for k in args.only.split(",") if k.strip()}
    configs = [
        c
        for c in CONFIGS
        if (not keys or c.key in keys) and not (args.skip_peer and c.side == "mlflow")
    ]

    console.print(f"[bold]Machine:[/] {machine()}; load average {load()} (1, 5, 15 min)")
    wrk = ensure_wrk()
    python = None if args.skip_peer else ensure_peer()
    work = Path(tempfile.mkdtemp(prefix="loopline-bench-serving-"))
    results: dict[str, Measured] = {c.key: Measured() for c in configs}
    info: dict[str, Any] = {
        "machine": machine(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_at_start": load(),
        "seconds": args.seconds,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "body": BODY,
    }
    try:
        pickled = train(work)
        expected = expected_prediction(pickled)
        home = work / "loopline-home"
        env = {"LOOPLINE_HOME": str(home)}
        subprocess.run(
            [sys.executable, __file__, "--prepare-loopline", str(pickled)],
            check=True,
            env={**os.environ, **env},
            cwd=work,
        )
        model_dir = work / "mlflow-model"
        mlflow_bin = None
        if python is not None:
            out = subprocess.run(
                [str(python), "-c", PEER_SAVE, str(pickled), str(model_dir)],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, **PEER_ENV},
            ).stdout
            info["mlflow_version"] = out.split("MLFLOW-VERSION ")[-1].strip()
            mlflow_bin = python.parent / "mlflow"
        # `mlflow models serve` runs `uvicorn` through bash: the environment's bin comes first.
        peer_env = {**PEER_ENV, "PATH": f"{PEER_VENV / 'bin'}{os.pathsep}{os.environ['PATH']}"}
        script = work / "post.lua"
        script.write_text(textwrap.dedent(WRK_SCRIPT).replace("[[BODY]]", repr(BODY)))

        wait_quiet(args.wait_quiet)
        info["load_when_measuring"] = load()
        info["import_loopline_s"] = import_seconds({**os.environ, **env})
        console.print(
            f"  python -c 'import loopline': {info['import_loopline_s']:.3f} s (median of 5)"
        )
        for repeat in range(args.repeats):
            for config in configs:
                port = free_port()
                command = server_command(config, port, mlflow_bin, model_dir)
                side_env = peer_env if config.side == "mlflow" else env
                ready = "/ping" if config.side == "mlflow" else "/readyz"
                with running(command, port, ready, work, side_env, config.workers) as server:
                    status, body = get(port, "/invocations", BODY)
                    if status != 200 or prediction_of(body) != expected:
                        raise RuntimeError(
                            f"{config.label} answered {status} {body[:300]!r}, expected {expected}"
                        )
                    measured = results[config.key]
                    measured.start_s.append(server.start_s)
                    for clients in config.clients:
                        sample = measure(wrk, script, server, clients, args.seconds, args.warmup)
                        measured.samples.setdefault(clients, []).append(sample)
                        console.print(
                            f"  [{repeat + 1}/{args.repeats}] {config.label}, {clients} clients: "
                            f"{sample.rate:,.0f} req/s, p50 {sample.p50_ms:.2f} ms, p99 "
                            f"{sample.p99_ms:.2f} ms, {sample.cpu_ms_per_request:.3f} CPU ms/req, "
                            f"{sample.errors} errors; load {sample.load_before:.2f} -> "
                            f"{sample.load_after:.2f}; started in {server.start_s:.2f} s"
                        )
                    measured.rss_mb.append(session_stats(server.proc.pid)[1])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    info["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    info["load_at_end"] = load()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                **info,
                "configs": {c.key: {"label": c.label, **asdict(results[c.key])} for c in configs},
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    console.print(report(results, args.seconds, args.repeats))
    console.print(
        f"MLflow {info.get('mlflow_version', '-')}; load average at the end {load()}; "
        f"results in {RESULTS.relative_to(REPO)}. 'vs MLflow' is requests/s over MLflow's with "
        f"as many clients. Goals: p99 < 2 ms with 1 client; with 16, >= 10x MLflow and p99 < "
        f"20 ms; start < 2 s. 'import loopline': {info.get('import_loopline_s', 0.0):.3f} s."
    )


if __name__ == "__main__":
    main()
