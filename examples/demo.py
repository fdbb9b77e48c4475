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
        "Not built yet, so not in this demo: tracking, datasets, the web UI, pipelines, registry, "
        "serving, agents, features, monitoring and the closed loop."
    )
    console.print(
        "Start the server with [bold]loopline server[/] and open "
        "[bold]http://127.0.0.1:8765/docs[/] (the REST API; the web UI will live at "
        "http://127.0.0.1:8765/)."
    )


if __name__ == "__main__":
    main()
