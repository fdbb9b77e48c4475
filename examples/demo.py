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
from rich.console import Console
from rich.table import Table

import loopline as ll
from loopline.blobs import open_blob_store

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
            with ll.Client(url) as remote:
                names = [p.name for p in remote.list_projects()]
            metric_lines = httpx.get(f"{url}/metrics").text.count("loopline_http_requests_total{")
        finally:
            server.terminate()
            server.wait(timeout=20)
    done.add_row("server", f"/readyz {ready['status']}; {metric_lines} request series in /metrics")
    done.add_row("remote client", f"same projects over HTTP: {', '.join(names)}")
    client.close()

    console.print(done)
    console.print(
        "Not built yet, so not in this demo: datasets, the web UI, pipelines, registry, "
        "serving, agents, features, monitoring and the closed loop."
    )
    console.print(
        "Start the server with [bold]loopline server[/] and open "
        "[bold]http://127.0.0.1:8765/docs[/] (the REST API; the web UI will live at "
        "http://127.0.0.1:8765/)."
    )


if __name__ == "__main__":
    main()
