"""The main job, on the embedded default: what Loopline can do today, end to end.

Run with `make demo`. It uses the embedded store (~/.loopline, or LOOPLINE_HOME / LOOPLINE_URI if
set), so what it creates stays there for you to look at with `loopline projects list`.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn.linear_model import LogisticRegression

import loopline as ll
from loopline.blobs import open_blob_store
from loopline.registry import ModelVersion

console = Console(highlight=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _train_and_track(project: str) -> dict[str, object]:
    """Gradient descent on a tiny logistic regression, one run per learning rate."""
    import math
    import random

    rng = random.Random(7)
    xs = [(rng.gauss(0, 1), rng.gauss(0, 1)) for _ in range(400)]
    ys = [1 if x0 + 0.5 * x1 > 0 else 0 for x0, x1 in xs]
    for lr in (0.01, 0.1, 0.5):
        with ll.start_run(project=project, name=f"logreg-lr{lr}", params={"lr": lr}):
            w0 = w1 = b = 0.0
            for step in range(300):
                g0 = g1 = gb = loss = 0.0
                for (x0, x1), y in zip(xs, ys, strict=True):
                    p = 1 / (1 + math.exp(-(w0 * x0 + w1 * x1 + b)))
                    g0, g1, gb = g0 + (p - y) * x0, g1 + (p - y) * x1, gb + (p - y)
                    loss -= y * math.log(p + 1e-12) + (1 - y) * math.log(1 - p + 1e-12)
                n = len(xs)
                w0, w1, b = w0 - lr * g0 / n, w1 - lr * g1 / n, b - lr * gb / n
                ll.log_metric("loss", loss / n, step=step)
            correct = sum(
                (1 / (1 + math.exp(-(w0 * x0 + w1 * x1 + b))) > 0.5) == bool(y)
                for (x0, x1), y in zip(xs, ys, strict=True)
            )
            ll.log_metric("acc", correct / len(xs))
    runs = ll.search_runs(project, filter="metrics.acc > 0", order_by=["metrics.acc desc"])
    return dict(runs.iloc[0])


def _frame(rows: int = 2_000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    x0, x1 = rng.normal(size=rows), rng.normal(size=rows)
    label = (x0 + 0.5 * x1 + rng.normal(scale=0.3, size=rows) > 0).astype(int)
    colour = rng.choice(["red", "green", "blue"], size=rows)
    return pd.DataFrame({"x0": x0, "x1": x1, "colour": colour, "label": label})


def _version_data(project: str) -> ll.DatasetVersion:
    """Commit the training table as a dataset version (the same content twice is one version)."""
    ds = ll.Dataset.create("shapes", project=project)
    ds.add_frame(_frame(), "train.parquet")
    try:
        return ds.commit(message="made by make demo")
    except ll.InvalidInput:  # nothing changed since the latest version: keep using that one
        return ll.Dataset.get("shapes", project=project)


@ll.step
def load_table(dataset_project: str) -> pd.DataFrame:
    return ll.Dataset.get("shapes", project=dataset_project).to_pandas("train.parquet")


@ll.step
def fit(table: pd.DataFrame, c: float) -> LogisticRegression:
    model = LogisticRegression(C=c).fit(table[["x0", "x1"]], table["label"])
    ll.log_metric("train_acc", float(model.score(table[["x0", "x1"]], table["label"])))
    return model


@ll.step
def score(model: LogisticRegression, table: pd.DataFrame) -> float:
    return float(model.score(table[["x0", "x1"]], table["label"]))


@ll.pipeline(project="demo")
def training(dataset_project: str = "demo", c: float = 1.0):  # type: ignore[no-untyped-def]
    table = load_table(dataset_project)
    score(fit(table, c), table)


def _register(project: str, version: ll.DatasetVersion) -> ModelVersion:
    """Train in a tracked run that reads the dataset version, then register and promote it."""
    with ll.start_run(project=project, name="shapes-logreg", params={"C": 1.0}):
        table = ll.Dataset.get("shapes", version=version.number, project=project).to_pandas(
            "train.parquet"
        )
        model = LogisticRegression().fit(table[["x0", "x1"]], table["label"])
        ll.log_metric("accuracy", float(model.score(table[["x0", "x1"]], table["label"])))
        logged = ll.log_model(model, "model", input_example=table[["x0", "x1"]].head(5))
    registered = ll.register_model(logged, "shapes", description="made by make demo")
    ll.set_alias("shapes", "champion", registered.number, project=project, reason="demo")
    return registered


def main() -> None:
    done = Table("step", "result", title="Loopline demo", show_lines=False)
    settings = ll.Settings.from_env()

    with console.status("Opening the embedded store (migrating it on first use)..."):
        client = ll.Client(settings=settings)
    done.add_row("store", f"{client.location} (blobs in {settings.artifacts})")

    try:
        project = client.create_project("demo", description="made by `make demo`")
        done.add_row("project", f"created '{project.name}'")
    except ll.Conflict:
        project = client.get_project("demo")
        done.add_row(
            "project", f"'{project.name}' exists already (created {project.created_at:%c})"
        )

    with console.status("Training a small model, tracked as a run..."):
        best = _train_and_track(project.name)
    done.add_row(
        "tracking",
        f"3 runs logged 300 metric points each; best by search: {best['name']} "
        f"(acc {best['metrics.acc']:.3f}, lr {best['params.lr']})",
    )

    with console.status("Versioning the training data as a dataset (with a profile)..."):
        data_version = _version_data(project.name)
    profile = data_version.profile() or {}
    rows_profiled = profile.get("files", {}).get("train.parquet", {}).get("rows", 0)
    done.add_row(
        "dataset",
        f"shapes:{data_version.number} ({data_version.file_count} file, {rows_profiled:,} rows "
        f"profiled), digest {data_version.digest[:12]}",
    )

    with console.status("Running a 3-step pipeline twice in worker processes..."):
        first_run = training.run(dataset_project=project.name, c=0.5)
        second_run = training.run(dataset_project=project.name, c=0.5)
    done.add_row(
        "pipeline",
        f"run 1 ran {len(first_run.ran)} and reused {len(first_run.cached)} cached step(s); "
        f"run 2 took all {len(second_run.cached)} from the cache; "
        f"score {first_run.output('score'):.3f}",
    )

    with console.status("Training, registering and promoting a model..."):
        registered = _register(project.name, data_version)
        champion = ll.load_model(f"models:/{project.name}/shapes@champion")
        sample = _frame(5)[["x0", "x1"]]
        predictions = champion.predict(sample)
    done.add_row(
        "registry",
        f"{registered.uri} ({registered.flavor}) is the champion; it predicts "
        f"{', '.join(str(p) for p in predictions)} for 5 new rows; trained on "
        f"shapes:{data_version.number}",
    )

    blobs = open_blob_store(settings)
    rows = "\n".join(f"{i},{i * i % 7},{i % 2}" for i in range(10_000))
    data = f"x,y,label\n{rows}\n".encode()
    with console.status("Storing a 10,000-row table in the content-addressed blob store..."):
        ref = blobs.put_bytes(data)
        again = blobs.put_bytes(data)
        back = blobs.get_bytes(ref.digest)
    assert again.digest == ref.digest
    assert back == data
    assert ref.digest == hashlib.sha256(data).hexdigest()
    done.add_row(
        "blob store",
        f"{ref.size:,} bytes stored once as sha256:{ref.digest[:12]}..., "
        f"stored again = deduplicated, read back verified",
    )

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with console.status(f"Starting `loopline server` on {url}..."):
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loopline",
                "server",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{url}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit(
                            "the server did not start; run `loopline server`"
                        ) from None
                    time.sleep(0.05)
            ready = httpx.get(f"{url}/readyz").json()
            ui_pages = [
                httpx.get(f"{url}{page}").status_code
                for page in (
                    "/ui",
                    f"/ui/projects/{project.name}/runs",
                    f"/ui/projects/{project.name}/datasets",
                    f"/ui/projects/{project.name}/pipelines",
                    f"/ui/projects/{project.name}/models",
                )
            ]
            with ll.Client(url) as remote:
                names = [p.name for p in remote.list_projects()]
            metric_lines = httpx.get(f"{url}/metrics").text.count("loopline_http_requests_total{")
        finally:
            server.terminate()
            server.wait(timeout=20)
    done.add_row("server", f"/readyz {ready['status']}; {metric_lines} request series in /metrics")
    done.add_row("remote client", f"same projects over HTTP: {', '.join(names)}")
    done.add_row("web UI", f"{sum(code == 200 for code in ui_pages)} of {len(ui_pages)} pages up")
    client.close()

    console.print(done)
    console.print(
        "Not in this demo yet: serving, agents, monitoring and the closed loop (not built), "
        "and the feature store (see docs/features.md)."
    )
    console.print(
        "See it all in the web UI: run [bold]loopline ui[/] and open "
        "[bold]http://127.0.0.1:8766/ui/projects/demo/runs[/]"
    )


if __name__ == "__main__":
    main()
