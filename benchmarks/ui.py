"""The web UI: server time to first render of the runs page over 10k runs and of a run with a
100k-point metric (and that metric's chart data); and of the datasets pages: the versions of a
dataset with 1,000 versions, a version of 10,000 files (and its diff), the profile of a
50-column table.

    .venv/bin/python benchmarks/ui.py            # 10,000 runs and 100,000 points (~2 minutes
                                                 # the first time, to make the data)
    .venv/bin/python benchmarks/ui.py --quick    # 1,000 runs and 10,000 points

The data is made once with the SDK's backend (runs with 5 params and 5 metrics each, one run
with a long metric; datasets committed through the datasets service, the 50-column table
through ``ll.Dataset``) into benchmarks/.data/ui-<size>/ (git-ignored) and reused. `loopline server`
then runs in a process of its own on a free loopback port; each page is fetched once cold (the
first request after start) and then ``--repeats`` times; the table shows the cold time and the
median of the warm ones, measured by the client (so it includes the loopback round trip).

Goal (issue 4): under 1 s of server time for each.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
from rich.console import Console
from rich.table import Table

from _machine import machine
from loopline.config import Settings

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = HERE / ".data"
PROJECT = "bench"
SEED = 20261123
GOAL_S = 1.0

console = Console(width=None if sys.stdout.isatty() else 130)


def make_data(root: Path, runs: int, points: int) -> str:
    """Fill a fresh store at ``root`` (or reuse it); return the id of the long-metric run."""
    marker = root / "long-run-id"
    if marker.exists():
        return marker.read_text().strip()
    from loopline.backends import LocalBackend
    from loopline.tracking import MetricPoint

    root.mkdir(parents=True, exist_ok=True)
    backend = LocalBackend.open(settings(root))
    rng = random.Random(SEED)
    now = int(time.time() * 1000)
    started = time.perf_counter()
    try:
        for i in range(runs):
            run = backend.create_run(
                PROJECT,
                name=f"run-{i:05d}",
                params={f"p{k}": rng.choice("abcd") for k in range(5)},
                tags={"team": rng.choice(("core", "growth"))},
            )
            backend.log_metrics(
                run.id, [MetricPoint(f"m{k}", rng.random(), 0, now) for k in range(5)]
            )
            backend.end_run(run.id)
            if (i + 1) % 1000 == 0:
                console.print(f"  {i + 1:,} runs ({time.perf_counter() - started:.0f} s)")
        long = backend.create_run(PROJECT, name="long", params={"lr": 0.01})
        batch = 10_000
        for start in range(0, points, batch):
            backend.log_metrics(
                long.id,
                [
                    MetricPoint("loss", 1.0 / (s + 1) + rng.random() * 0.01, s, now + s)
                    for s in range(start, min(points, start + batch))
                ],
            )
        backend.end_run(long.id)
    finally:
        backend.close()
    marker.write_text(long.id)
    return long.id


def make_dataset_data(root: Path, versions: int, files: int, columns: int) -> None:
    """Three datasets in PROJECT: 'history' (``versions`` versions, each adding a file to the
    last), 'wide' (a version of ``files`` files in 10 folders, then one changing 1 % of them and
    adding 1 %), 'table' (one Parquet file of ``columns`` columns, half numeric, half text)."""
    marker = root / "datasets-made"
    if marker.exists():
        return
    from loopline import Client, Dataset
    from loopline.backends import LocalBackend
    from loopline.datasets import FileEntry, Manifest

    started = time.perf_counter()
    backend = LocalBackend.open(settings(root))
    try:

        def stored(data: bytes, path: str) -> FileEntry:
            ref = backend.put_blob(data)
            return FileEntry(path, ref.digest, ref.size)

        def commit(name: str, entries: list[FileEntry], parent: int | None, msg: str) -> None:
            digest = backend.put_blob(Manifest.of(entries).encode()).digest
            backend.commit_version(PROJECT, name, digest, parent=parent, message=msg)

        backend.create_dataset(PROJECT, "history", "a dataset with a long history")
        entries = [stored(b"first\n", "README.txt")]
        for n in range(1, versions + 1):
            entries.append(stored(f"part {n}\n".encode(), f"parts/{n:05d}.txt"))
            commit("history", entries, n - 1 or None, f"add part {n}")
            if n % 250 == 0:
                console.print(f"  {n:,} versions ({time.perf_counter() - started:.0f} s)")
        backend.create_dataset(PROJECT, "wide", "many files in one version")
        wide = [stored(f"file {i}\n".encode(), f"f{i % 10}/{i:06d}.bin") for i in range(files)]
        commit("wide", wide, None, "all files")
        step = 100
        changed = [
            stored(f"file {i} v2\n".encode(), e.path) if i % step == 0 else e
            for i, e in enumerate(wide)
        ]
        changed += [stored(f"new {i}\n".encode(), f"new/{i:06d}.bin") for i in range(files // step)]
        commit("wide", changed, 1, "change 1 %, add 1 %")
        console.print(f"  {files:,}-file versions ({time.perf_counter() - started:.0f} s)")
    finally:
        backend.close()
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    rows = 20_000
    frame = pd.DataFrame(
        {
            f"c{k:02d}": rng.normal(k, 1 + k, rows)
            if k % 2 == 0
            else rng.choice([f"v{j}" for j in range(5 + k)], rows)
            for k in range(columns)
        }
    )
    with Client(settings=settings(root)) as client:
        ds = Dataset.create("table", project=PROJECT, client=client)
        ds.add_frame(frame, "table.parquet")
        ds.commit(message=f"{columns} columns, {rows:,} rows")
    console.print(f"  datasets made in {time.perf_counter() - started:.0f} s")
    marker.write_text("ok")


def make_pipeline_data(root: Path, steps: int, runs: int) -> str:
    """A ``steps``-step pipeline run (layers of 10 steps, each reading two of the layer before)
    and template 'nightly' (4 steps, each logging a metric) with ``runs`` finished runs, all
    recorded through the backend without executing anything; return the big run's id."""
    marker = root / "pipelines-made"
    if marker.exists():
        return marker.read_text().strip()
    from loopline.backends import LocalBackend
    from loopline.pipelines import StepUpdate
    from loopline.tracking import MetricPoint

    def node(name: str, parents: list[str], params: tuple[str, ...] = ()) -> dict[str, object]:
        inputs: dict[str, object] = {f"in{i}": {"ref": [p, 0]} for i, p in enumerate(parents)}
        inputs.update({p: {"param": p} for p in params})
        return {"name": name, "step": f"flow:{name}", "inputs": inputs}

    started = time.perf_counter()
    rng = random.Random(SEED)
    now = int(time.time() * 1000)
    backend = LocalBackend.open(settings(root))
    try:
        width = 10
        big = []
        for i in range(steps):
            layer, column = divmod(i, width)
            above = (layer - 1) * width
            parents = [] if layer == 0 else [above + column, above + (column + 1) % width]
            big.append(node(f"s{i:03d}", [f"s{p:03d}" for p in parents if p < steps]))
        record = backend.create_pipeline_run(PROJECT, "big-dag", {}, {"params": [], "steps": big})
        names = [s.name for s in record.steps]
        backend.update_pipeline_steps(record.id, [StepUpdate(n, "running") for n in names])
        backend.update_pipeline_steps(record.id, [StepUpdate(n, "succeeded") for n in names])
        backend.finish_pipeline_run(record.id, "succeeded")
        chain = ["load", "train", "evaluate", "report"]
        spec = {
            "params": [{"name": "lr", "type": "float", "default": 0.1, "required": False}],
            "steps": [node(n, chain[i - 1 : i], ("lr",)) for i, n in enumerate(chain)],
        }
        code = backend.put_blob(b"no code: recorded runs only").digest
        backend.publish_pipeline_template(
            PROJECT, "nightly", dag=spec, code=code, entry="flow:nightly"
        )
        for n in range(runs):
            lr = round(rng.uniform(0.001, 0.3), 4)
            run = backend.create_pipeline_run(
                PROJECT, "nightly", {"lr": lr}, spec, tags={"loopline.template": "nightly:1"}
            )
            made = backend.update_pipeline_steps(run.id, [StepUpdate(c, "running") for c in chain])
            for step in made:
                assert step.run_id is not None
                backend.log_metrics(step.run_id, [MetricPoint("score", rng.random(), 0, now)])
            backend.update_pipeline_steps(run.id, [StepUpdate(c, "succeeded") for c in chain])
            backend.finish_pipeline_run(run.id, "succeeded")
            if (n + 1) % 100 == 0:
                console.print(f"  {n + 1:,} pipeline runs ({time.perf_counter() - started:.0f} s)")
    finally:
        backend.close()
    marker.write_text(record.id)
    return record.id


def settings(root: Path) -> Settings:
    return Settings.from_env(env(root), cwd=root, user_home=root)


def env(root: Path) -> dict[str, str]:
    return {
        "LOOPLINE_HOME": str(root / "home"),
        "LOOPLINE_URI": f"sqlite:///{root / 'meta.db'}",
        "LOOPLINE_ARTIFACTS": str(root / "blobs"),
        "LOOPLINE_AUTO_UPGRADE": "1",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def loopline_server(root: Path) -> Iterator[str]:
    """`loopline server` in its own process group on a free port; stopped by its PID."""
    port = free_port()
    log = (root / "server.log").open("w")
    variables = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "loopline", "server", "--port", str(port), "--log-level", "warning"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**variables, **env(root)},
        cwd=root,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"loopline server exited: see {log.name}")
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                probe.request("GET", "/healthz")
                if probe.getresponse().status == 200:
                    break
            except (OSError, http.client.HTTPException):
                pass
            finally:
                probe.close()
            if time.monotonic() > deadline:
                raise RuntimeError("loopline server not ready after 60 s")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def timed(client: httpx.Client, path: str, repeats: int) -> dict[str, float | int]:
    """Cold (first) and warm (median) seconds for GET ``path``; checks it answered 200."""
    seconds = []
    size = 0
    for _ in range(repeats + 1):
        start = time.perf_counter()
        answer = client.get(path)
        seconds.append(time.perf_counter() - start)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path} answered {answer.status_code}: {answer.text[:300]}")
        size = len(answer.content)
    return {"cold": seconds[0], "median": statistics.median(seconds[1:]), "bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 runs and 10,000 points")
    parser.add_argument("--repeats", type=int, default=5, help="warm requests per page (median)")
    args = parser.parse_args()
    runs, points = (1_000, 10_000) if args.quick else (10_000, 100_000)
    root = DATA / f"ui-{runs}-{points}"
    console.print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}")
    console.print(f"Data: {runs:,} runs and a {points:,}-point metric in {root}")
    long_id = make_data(root, runs, points)
    versions, files, columns = (100, 1_000, 50) if args.quick else (1_000, 10_000, 50)
    console.print(
        f"Datasets: {versions:,} versions, a {files:,}-file version, a {columns}-column table"
    )
    make_dataset_data(root, versions, files, columns)
    dag_steps, pipeline_runs = (200, 100) if args.quick else (200, 500)
    console.print(f"Pipelines: a {dag_steps}-step run, a template with {pipeline_runs:,} runs")
    big_run = make_pipeline_data(root, dag_steps, pipeline_runs)
    nightly = f"/ui/projects/{PROJECT}/pipelines/nightly"
    datasets = f"/ui/projects/{PROJECT}/datasets"
    folder_page = max(1, files // 2_000)  # the middle of a folder of files / 10
    flt = quote("metrics.m0 > 0.5 and params.p0 = 'a'")
    pages = [
        ("runs page, newest first (page 1 of 50 rows)", f"/ui/projects/{PROJECT}/runs"),
        (
            "runs page, filtered and sorted by a metric",
            f"/ui/projects/{PROJECT}/runs?filter={flt}&sort=metrics.m1+desc",
        ),
        ("runs page, a deep page", f"/ui/projects/{PROJECT}/runs?page={runs // 100}"),
        ("runs page, 200 rows a page", f"/ui/projects/{PROJECT}/runs?per_page=200"),
        (f"run page with a {points:,}-point metric", f"/ui/runs/{long_id}"),
        (
            f"its chart data ({points:,} points thinned to 1,000 buckets)",
            f"/ui/series?key=loss&runs={long_id}&width=1000",
        ),
        ("datasets list", datasets),
        (f"versions of a dataset with {versions:,} versions (page 1)", f"{datasets}/history"),
        ("  the same, its last page", f"{datasets}/history?page={max(1, versions // 100)}"),
        (f"version page of a {files:,}-file version (10 folders)", f"{datasets}/wide/version?v=1"),
        (
            f"  a folder of {files // 10:,} files, page {folder_page}",
            f"{datasets}/wide/version?v=1&prefix=f3/&page={folder_page}",
        ),
        (f"diff of two {files:,}-file versions (2 % changed)", f"{datasets}/wide/diff?a=1&b=2"),
        (f"profile page of a {columns}-column table", f"{datasets}/table/profile"),
        (
            f"pipeline run page of a {dag_steps}-step run (DAG drawn)",
            f"/ui/pipeline-runs/{big_run}",
        ),
        ("  its live part (what the page polls)", f"/ui/pipeline-runs/{big_run}/live"),
        (
            f"template runs page, {pipeline_runs:,} runs with their metrics",
            f"{nightly}/runs?last={pipeline_runs}",
        ),
        (
            f"  its chart data ({pipeline_runs:,} runs)",
            f"{nightly}/series?metric=evaluate.score&last={pipeline_runs}",
        ),
    ]
    with loopline_server(root) as url, httpx.Client(base_url=url, timeout=60) as client:
        results = [(label, path, timed(client, path, args.repeats)) for label, path in pages]
    table = Table(
        title=f"UI server time, {runs:,} runs (median of {args.repeats} after a first call)"
    )
    table.add_column("page")
    table.add_column("first call ms", justify="right")
    table.add_column("median ms", justify="right")
    table.add_column("KB", justify="right")
    table.add_column(f"< {GOAL_S:.0f} s", justify="center")
    for label, _, r in results:
        table.add_row(
            label,
            f"{r['cold'] * 1000:.0f}",
            f"{r['median'] * 1000:.0f}",
            f"{r['bytes'] / 1024:.0f}",
            "yes" if max(r["cold"], r["median"]) < GOAL_S else "no",
        )
    console.print(table)
    console.print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
