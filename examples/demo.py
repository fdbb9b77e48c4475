"""The main job: the whole loop on the embedded default, told as a story with its figures.

Run with `make demo` (a few minutes on 2 cores). On the embedded store (~/.loopline, or
LOOPLINE_HOME / LOOPLINE_URI if set), with the local executor and a local inference server:

1. a dataset of 8x8 digit images (scikit-learn's `digits`) is versioned;
2. the training pipeline (examples/digits_loop.py: gather, validate, train with a small sweep,
   evaluate, gate) is published as a template and launched; its model becomes the champion;
3. an endpoint serves the champion; a delivery policy, a monitor with alert rules and a trigger
   (alert -> retrain) are declared;
4. simulated traffic arrives, labels follow later; then the images change (shifted, faded,
   noisy): the monitor sees drift and falling accuracy, and alerts fire;
5. the alert launches the training template by itself: it gathers the newly labelled images
   into the next dataset version, retrains, and gates the challenger against the champion;
6. the passed gate makes a canary; live traffic is compared per model version; the challenger
   is promoted (or rolled back, if it were worse);
7. the story is printed, with the address of the loop's timeline in the web UI.

Each run of the demo tells the story in a new project (`digits`, then `digits-2`, ...).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parent))

import digits_loop  # the pipeline module, next to this file

import loopline as ll

ENDPOINT = "digits-api"
LAB_IMAGES = 1_100
console = Console(highlight=False)


class Story:
    """What happened, in order, with the figures: printed at the end as a table."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str]] = []

    def add(self, phase: str, text: str) -> None:
        self.rows.append((phase, text))
        console.print(f"[bold]{phase}[/] {text}")

    def table(self) -> Table:
        table = Table("phase", "what happened", title="The loop, closed", show_lines=True)
        for phase, text in self.rows:
            table.add_row(phase, text)
        return table


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_project(client: ll.Client) -> str:
    names = {p.name for p in client.list_projects()}
    name = next(n for n in ("digits", *(f"digits-{i}" for i in range(2, 10_000))) if n not in names)
    client.create_project(name, description="made by `make demo`: the closed loop on digits")
    return name


def changed(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The world changes: a new camera shifts each image a pixel right, fades it, adds noise."""
    grid = images.reshape(-1, 8, 8)
    shifted = np.zeros_like(grid)
    shifted[:, :, 1:] = grid[:, :, :-1]
    faded = shifted * 0.7 + 2 + rng.normal(0, 1.0, shifted.shape)
    return np.clip(faded, 0, 16).reshape(-1, 64)


def wait_until(check: Callable[[], Any], what: str, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: timed out waiting for {what}")
        time.sleep(0.25)


class Traffic:
    """Clients of the endpoint: one image per request, each with its own request id; the
    true labels come later, as they do in real life (from people who check)."""

    def __init__(self, url: str, project: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)
        self.project = project
        self.sent = 0

    def send(self, images: np.ndarray, labels: np.ndarray, tag: str) -> dict[str, Any]:
        truth: dict[str, int] = {}
        answered: Counter[str] = Counter()
        right: Counter[str] = Counter()
        for image, label in zip(images, labels, strict=True):
            self.sent += 1
            request_id = f"{tag}-{self.sent}"
            body = {"dataframe_split": {"columns": digits_loop.PIXELS, "data": [image.tolist()]}}
            answer = self.http.post("/invocations", json=body, headers={"x-request-id": request_id})
            answer.raise_for_status()
            version = answer.headers["x-loopline-model"]
            answered[version] += 1
            right[version] += int(answer.json()["predictions"][0] == int(label))
            truth[request_id] = int(label)
        ll.log_labels(ENDPOINT, truth, project=self.project)
        return {v: (answered[v], right[v] / answered[v]) for v in sorted(answered)}

    def close(self) -> None:
        self.http.close()


def served(figures: dict[str, Any]) -> str:
    return ", ".join(f"{v}: {n} requests, accuracy {acc:.2f}" for v, (n, acc) in figures.items())


def monitor_figures(run: Any) -> dict[str, float]:
    """The worst value of each figure over the model versions a monitor run looked at."""
    out: dict[str, float] = {}
    for result in run.results:
        if result.value is None:
            continue
        if result.metric in ("drift_share", "error_rate", "p99_ms"):
            out[result.metric] = max(out.get(result.metric, result.value), result.value)
        elif result.metric in ("accuracy",):
            out[result.metric] = min(out.get(result.metric, result.value), result.value)
    return out


def describe(figures: dict[str, float]) -> str:
    parts = []
    if "drift_share" in figures:
        parts.append(f"{figures['drift_share']:.0%} of the pixels drifted")
    if "accuracy" in figures:
        parts.append(f"live accuracy {figures['accuracy']:.2f}")
    if "p99_ms" in figures:
        parts.append(f"p99 {figures['p99_ms']:.1f} ms")
    return ", ".join(parts) or "no figures"


def tick_until(project: str, kinds: set[str], what: str, timeout: float = 180) -> list[Any]:
    """Run the loop's controller (a server does this by itself) until one of ``kinds`` shows;
    answer the loop events it recorded meanwhile."""
    seen: list[Any] = []

    def done() -> bool:
        report = ll.automation.tick()
        for problem in report.errors:
            console.print(f"[yellow]automation: {problem}[/]")
        seen.extend(e for e in report.events if e.project == project)
        return any(e.kind in kinds for e in seen)

    wait_until(done, what, timeout)
    return seen


def wait_for_pipeline(client: ll.Client, run_id: str) -> Any:
    return wait_until(
        lambda: (r := client.get_pipeline_run(run_id)).status not in ("pending", "running") and r,
        f"pipeline run {run_id}",
        timeout=600,
    )


def check_ui(project: str) -> tuple[int, int]:
    """Start `loopline server` briefly and fetch the pages the story points at."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "loopline", "server", "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _answers(f"{url}/healthz"), "the server", timeout=60)
        pages = [
            f"/ui/projects/{project}/automation",
            f"/ui/projects/{project}/runs",
            f"/ui/projects/{project}/datasets",
            f"/ui/projects/{project}/pipelines",
            f"/ui/projects/{project}/models",
            f"/ui/projects/{project}/endpoints",
            f"/ui/projects/{project}/monitors",
        ]
        codes = [httpx.get(f"{url}{page}", timeout=30).status_code for page in pages]
    finally:
        server.terminate()
        server.wait(timeout=30)
    return sum(code == 200 for code in codes), len(codes)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def main() -> None:
    started = time.monotonic()
    story = Story()
    client = ll.Client()
    project = new_project(client)
    rng = np.random.default_rng(0)
    story.add("store", f"{client.location}; project '{project}'")

    # 1. The lab's data: the first 1,100 images, versioned. The rest are tomorrow's traffic.
    digits = load_digits()
    order = rng.permutation(len(digits.target))
    images, labels = digits.data[order], digits.target[order]
    lab_ids = [f"lab-{i}" for i in range(LAB_IMAGES)]
    draft = ll.Dataset.create("digits", project=project)
    draft.add_frame(
        digits_loop.images_frame(images[:LAB_IMAGES], labels[:LAB_IMAGES], lab_ids),
        digits_loop.IMAGES,
    )
    v1 = draft.commit(message="1,100 labelled 8x8 digit images from the lab")
    story.add("data", f"dataset digits:{v1.number}: {LAB_IMAGES:,} labelled 8x8 images, profiled")

    # 2. The training pipeline, published as a template anyone can launch; the first run.
    template = digits_loop.training.publish(
        description="gather, validate, train (sweep), evaluate, gate", project=project
    )
    with console.status("Launching the training template (each step in its own process)..."):
        first = ll.launch(template.name, {}, project=project, timeout=600)
    if first.status != "succeeded":
        raise SystemExit(f"demo: the first training run {first.id} ended {first.status}")
    gate_events = [e for e in ll.automation.timeline(project) if e.kind == "gate_passed"]
    if not gate_events:
        raise SystemExit("demo: the first model did not pass its gate")
    v_first = gate_events[0].version
    if v_first is None:
        raise SystemExit("demo: the first gate registered no version")
    ll.set_alias("digits", "champion", v_first, project=project, reason="first model to pass")
    story.add(
        "training",
        f"template {template.name} v{template.version} ran {len(first.steps)} steps; "
        f"{gate_events[0].message}; digits v{v_first} is the champion",
    )

    # 3. Serve it; declare how changes are delivered, what is watched, and what retrains.
    ll.deploy(ENDPOINT, "models:/digits@champion", project=project, message="first model")
    ll.delivery_policy(
        ENDPOINT,
        canary_percent=30,
        observe_for="5s",
        min_requests=60,
        min_labels=40,
        margins={"accuracy": 0.02, "error_rate": 0.01, "p99_ms": 250},
        project=project,
    )
    ll.monitor(
        ENDPOINT,
        "*/15 * * * *",
        rules=[ll.threshold("drift_share > 0.2"), ll.threshold("accuracy < 0.75")],
        project=project,
    )
    ll.automation.trigger(
        "retrain-on-alert",
        on="alert",
        monitor=ENDPOINT,
        template=template.name,
        params={"reason": "{event.message}"},
        debounce="10m",
        project=project,
    )
    story.add(
        "declared",
        f"endpoint {ENDPOINT} on models:/digits@champion; canary 30% for 5 s and 60+ requests; "
        "monitor: drift_share > 0.2 or accuracy < 0.75; trigger: alert -> digits-training",
    )

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "loopline", "serve", ENDPOINT, "--project", project,
         "--port", str(port), "--poll", "0.5"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    traffic = Traffic(url, project)
    try:
        wait_until(lambda: _answers(f"{url}/readyz"), "the inference server", timeout=120)
        pool = images[LAB_IMAGES:], labels[LAB_IMAGES:]
        # 4. A normal morning, then the new camera.
        normal = traffic.send(pool[0][:150], pool[1][:150], "morning")
        time.sleep(6)  # the server writes its logs and statistics every few seconds
        quiet = ll.run_monitor(ENDPOINT, project=project)
        story.add(
            "traffic",
            f"150 requests ({served(normal)}); monitor: {describe(monitor_figures(quiet))}; "
            f"{len(quiet.alerts)} alert(s)",
        )
        moved = changed(pool[0][150:], rng)
        after = traffic.send(moved[:250], pool[1][150:400], "camera")
        time.sleep(6)
        alarmed = ll.run_monitor(ENDPOINT, project=project)
        story.add(
            "the world changes",
            f"a new camera: 250 shifted, faded, noisy images ({served(after)}); monitor: "
            f"{describe(monitor_figures(alarmed))}; alerts: "
            + ("; ".join(a.message for a in ll.alerts(state="firing", project=project)) or "none"),
        )

        # 5. The alert launches retraining by itself.
        fired = tick_until(project, {"run_launched", "trigger_failed"}, "the retraining launch")
        launch = next(e for e in fired if e.kind in ("run_launched", "trigger_failed"))
        if launch.kind != "run_launched" or launch.run_id is None:
            raise SystemExit(f"demo: the trigger did not launch: {launch.message}")
        coalesced = sum(1 for e in fired if e.kind == "trigger_coalesced")
        with console.status("Retraining on the newly labelled images..."):
            retrain = wait_for_pipeline(client, launch.run_id)
        if retrain.status != "succeeded":
            failed = [s.name for s in retrain.steps if s.status == "failed"]
            raise SystemExit(f"demo: retraining run {retrain.id} {retrain.status} at {failed}")
        gates = [
            e
            for e in ll.automation.timeline(project)
            if e.kind in ("gate_passed", "gate_failed") and e.run_id != first.id
        ]
        newest_gate = gates[0]
        latest_data = ll.Dataset.get("digits", project=project)
        story.add(
            "retraining",
            f"{launch.message.rstrip('.')} ({coalesced} more alert(s) folded into it); "
            f"run {retrain.status}; "
            f"dataset digits:{latest_data.number} ({latest_data.message}); {newest_gate.message}",
        )
        if newest_gate.kind != "gate_passed":
            raise SystemExit("demo: the challenger did not pass its gate")

        # 6. Canary, observation, promotion.
        started_events = tick_until(project, {"canary_started", "shadow_started"}, "the canary")
        canary = next(e for e in started_events if e.kind in ("canary_started", "shadow_started"))
        wait_until(
            lambda: ll.Endpoints().get(ENDPOINT, project=project).revision.status == "live",
            "the server to load the canary",
        )
        story.add("canary", canary.message)
        during = traffic.send(moved[250:], pool[1][400:], "canary")
        time.sleep(6)
        decided = tick_until(project, {"promoted", "rolled_back"}, "the canary's verdict")
        verdict = next(e for e in decided if e.kind in ("promoted", "rolled_back"))
        observations = [e for e in decided if e.kind == "observation"]
        if observations:
            story.add("observation", observations[-1].message)
        story.add("decision", f"{verdict.message} (traffic: {served(during)})")
        ll.run_monitor(ENDPOINT, project=project)  # closes the canary's window
        # The evening: new-camera images the models never saw (the morning's, re-shot).
        wait_until(
            lambda: ll.Endpoints().get(ENDPOINT, project=project).revision.status == "live",
            "the server to serve the champion alone",
        )
        evening = traffic.send(changed(pool[0][:150], rng), pool[1][:150], "evening")
        time.sleep(6)
        last = ll.run_monitor(ENDPOINT, project=project)
        open_alerts = ll.alerts(state="firing", project=project)
        resolved = ll.alerts(state="resolved", project=project)
        story.add(
            "after",
            f"150 more new-camera images ({served(evening)}); monitor: "
            f"{describe(monitor_figures(last))}; resolved: "
            + (", ".join(sorted({a.rule for a in resolved})) or "none")
            + "; still firing: "
            + (", ".join(sorted({a.rule for a in open_alerts})) or "none")
            + " (the inputs still differ from most of the training images)",
        )
    finally:
        traffic.close()
        server.terminate()
        server.wait(timeout=30)

    with console.status("Checking the web UI pages..."):
        up, pages = check_ui(project)
    events = ll.automation.timeline(project, limit=500)
    story.add(
        "recorded",
        f"{len(events)} loop events on the timeline; {up} of {pages} UI pages up; "
        f"{time.monotonic() - started:.0f} s in all; finished {datetime.now(UTC):%H:%M:%S} UTC",
    )
    client.close()
    console.print(story.table())
    console.print(
        "Browse it all: run [bold]loopline ui[/] and open the loop's timeline at\n"
        f"http://127.0.0.1:8766/ui/projects/{project}/automation"
    )


if __name__ == "__main__":
    main()
