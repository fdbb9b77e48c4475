"""Tool wear: a tabular model on a feature store, trained and served on the same features.

Cutting tools on 30 machines wear out; sensors report vibration, temperature and spindle load a
few times an hour, and the question is "will this tool fail within the next 24 hours?". The
features live in a feature view over the sensor log, so:

- training reads each label's features **as they were at the label's time** (point-in-time), never
  a reading taken after it;
- serving reads the **latest** values from the online store: clients send a machine id only;
- the example checks that, for every machine, what the endpoint gave the model equals what a
  training frame built at the same instant holds (train/serve consistency), and shows what the
  usual shortcut (joining on the calendar day) would have done to the validation figures.

Run it with `.venv/bin/python examples/tool_wear.py` (about a minute). It uses the embedded store
(~/.loopline, or LOOPLINE_HOME / LOOPLINE_URI if set) and the project `tool-wear`.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score

import loopline as ll
from loopline.features import DatasetSource, Entity, FeatureView, Field, Float64

PROJECT = "tool-wear"
MACHINES = 30
DAYS = 24
FEATURES = ["vibration", "temperature", "spindle_load", "hours_since_service"]
REFS = [f"machine_sensors:{name}" for name in FEATURES]

console = Console(highlight=False)


def simulate(now: datetime, seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sensor log (one row per reading) and the failure log (machine, time) of ``DAYS``
    days before ``now``: each tool wears at its own pace and is replaced when it fails."""
    rng = np.random.default_rng(seed)
    start = now - timedelta(days=DAYS)
    readings: list[pd.DataFrame] = []
    failures: list[tuple[int, datetime]] = []
    for machine in range(1, MACHINES + 1):
        # Readings every 20-40 minutes, irregular as real telemetry is.
        gaps = rng.uniform(20, 40, size=DAYS * 24 * 3)
        minutes = np.cumsum(gaps)
        minutes = minutes[minutes < DAYS * 24 * 60]
        hours = minutes / 60.0
        rate = rng.uniform(1 / 200, 1 / 60)  # wear per hour: a tool lasts 60-200 hours
        wear = np.empty_like(hours)
        since = np.empty_like(hours)
        level, last_hour, replaced_at = rng.uniform(0, 0.5), 0.0, -rng.uniform(0, 50)
        for i, hour in enumerate(hours):
            level += rate * (hour - last_hour) * rng.uniform(0.6, 1.4)
            last_hour = hour
            if level >= 1.0:  # the tool breaks; a new one goes in
                failures.append((machine, start + timedelta(hours=float(hour))))
                level, replaced_at = 0.0, hour
            wear[i], since[i] = level, hour - replaced_at
        readings.append(
            pd.DataFrame(
                {
                    "machine_id": machine,
                    "event_timestamp": [start + timedelta(hours=float(h)) for h in hours],
                    "vibration": 0.4 + 2.2 * wear**3 + rng.normal(0, 0.35, len(hours)),
                    "temperature": 55 + 12 * wear + rng.normal(0, 5.0, len(hours)),
                    "spindle_load": rng.uniform(0.3, 0.9, len(hours)),  # carries no signal
                    "hours_since_service": since,
                }
            )
        )
    failure_log = pd.DataFrame(failures, columns=["machine_id", "failed_at"])
    return pd.concat(readings, ignore_index=True), failure_log


def label_points(now: datetime, failures: pd.DataFrame, seed: int = 12) -> pd.DataFrame:
    """Moments to learn from, each labelled "the tool failed within the next 24 hours"."""
    rng = np.random.default_rng(seed)
    count = 3_000
    latest = now - timedelta(hours=24)  # a label needs its whole next day observed
    offsets = rng.uniform(0, (DAYS - 2) * 24, size=count)
    points = pd.DataFrame(
        {
            "machine_id": rng.integers(1, MACHINES + 1, size=count),
            "event_timestamp": [latest - timedelta(hours=float(h)) for h in offsets],
        }
    )
    by_machine = failures.groupby("machine_id")["failed_at"].apply(list).to_dict()

    def fails_soon(row: pd.Series) -> int:
        at = row.event_timestamp
        return int(
            any(at < f <= at + timedelta(hours=24) for f in by_machine.get(row.machine_id, []))
        )

    points["fails_24h"] = points.apply(fails_soon, axis=1)
    return points.sort_values("event_timestamp", ignore_index=True)


def same_day_join(points: pd.DataFrame, readings: pd.DataFrame) -> pd.DataFrame:
    """The shortcut: a daily aggregate table joined on (machine, calendar day). It hands each
    label the day's last reading, which is often taken after the label's moment."""
    daily = readings.assign(day=readings.event_timestamp.dt.floor("D"))
    daily = daily.sort_values("event_timestamp").groupby(["machine_id", "day"]).last()
    keyed = points.assign(day=points.event_timestamp.dt.floor("D"))
    return keyed.join(daily[FEATURES], on=["machine_id", "day"])


def fit(frame: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression(max_iter=1_000).fit(frame[FEATURES], frame["fails_24h"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the inference server did not start (exit {server.poll()})")
        time.sleep(0.2)


def main() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    story = Table(
        "step", "what happened", title="Tool wear: one feature definition, trained and served"
    )

    with console.status("Simulating 24 days of sensor readings from 30 machines..."):
        readings, failures = simulate(now)
        # The sensor log is a versioned dataset: the feature view reads its latest version.
        draft = ll.Dataset.create("sensor-log", project=PROJECT)
        draft.add_frame(readings, "readings.parquet")
        logged_data = draft.commit(message="24 days of readings, simulated")
        points = label_points(now, failures)
    story.add_row(
        "data",
        f"{len(readings):,} sensor readings (dataset sensor-log:{logged_data.number}), "
        f"{len(failures)} tool failures, "
        f"{len(points):,} labelled moments ({points.fails_24h.mean():.0%} fail within 24 h)",
    )

    machine = Entity(name="machine", join_keys=["machine_id"])
    sensors = FeatureView(
        name="machine_sensors",
        entities=[machine],
        ttl=timedelta(hours=6),  # a machine silent for 6 hours has no current features
        schema=[Field(name=name, dtype=Float64) for name in FEATURES],
        source=DatasetSource(
            dataset="sensor-log", path="readings.parquet", timestamp_field="event_timestamp"
        ),
    )
    applied = ll.features.apply([machine, sensors], project=PROJECT)
    story.add_row(
        "definitions", ", ".join(f"{r.kind} {r.name} v{r.version} {r.status}" for r in applied)
    )

    # Train on the first 18 days, validate on the last ones: time decides, not a shuffle.
    cut = now - timedelta(days=6)
    with console.status("Building point-in-time training frames and training..."):
        with ll.start_run(project=PROJECT, name="tool-wear-logreg") as run:
            frame = ll.features.get_training_frame(points, REFS, project=PROJECT).dropna()
            train, valid = frame[frame.event_timestamp < cut], frame[frame.event_timestamp >= cut]
            model = fit(train)
            honest = {
                "accuracy": accuracy_score(valid.fails_24h, model.predict(valid[FEATURES])),
                "auc": roc_auc_score(valid.fails_24h, model.predict_proba(valid[FEATURES])[:, 1]),
            }
            ll.log_metrics({f"valid_{k}": float(v) for k, v in honest.items()})
            logged = ll.log_model(model, input_example=train[FEATURES].head(5))
        version = ll.register_model(logged, "tool-wear", project=PROJECT)
        ll.set_alias("tool-wear", "champion", version.number, project=PROJECT, reason="example")

        # The shortcut, for comparison: validated on the same kind of join it was trained on,
        # then scored on the features it would really get in production (the point-in-time ones).
        shortcut = same_day_join(points, readings).dropna()
        s_train = shortcut[shortcut.event_timestamp < cut]
        s_valid = shortcut[shortcut.event_timestamp >= cut]
        leaky = fit(s_train)
        claimed = roc_auc_score(s_valid.fails_24h, leaky.predict_proba(s_valid[FEATURES])[:, 1])
        real = roc_auc_score(valid.fails_24h, leaky.predict_proba(valid[FEATURES])[:, 1])
    story.add_row(
        "training",
        f"run {run.id[:8]}: {len(train):,} rows before {cut:%b %d}, validated on {len(valid):,} "
        f"after: accuracy {honest['accuracy']:.3f}, AUC {honest['auc']:.3f}; registered "
        f"{version.uri} as champion",
    )
    story.add_row(
        "the shortcut",
        f"joining on the calendar day claims AUC {claimed:.3f} on its own validation, "
        f"but on the features serving really has it scores {real:.3f} "
        f"(point-in-time: {honest['auc']:.3f}, the same offline and online)",
    )

    with console.status("Materializing the latest values into the online store..."):
        materialized = ll.features.materialize(until=now, project=PROJECT)
    story.add_row(
        "online store",
        ", ".join(f"{m.view}: {m.rows:,} rows" for m in materialized) + f", up to {now:%H:%M} UTC",
    )

    ll.deploy("tool-wear", "models:/tool-wear@champion", project=PROJECT, features=REFS)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    ids = list(range(1, MACHINES + 1))
    with console.status(f"Serving the endpoint on {url} and asking about every machine..."):
        server = subprocess.Popen(
            [sys.executable, "-m", "loopline", "serve", "tool-wear", "--project", PROJECT,
             "--port", str(port)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_ready(url, server)
            body = {"dataframe_records": [{"machine_id": i} for i in ids]}
            answer = httpx.post(f"{url}/invocations", json=body, timeout=30)
            answer.raise_for_status()
        finally:
            server.terminate()
            server.wait(timeout=30)
    served = np.asarray(answer.json()["predictions"])

    # Train/serve consistency: the online values are what a training frame built now holds,
    # and the endpoint's answers are the model's answers on them.
    online = ll.features.get_online(REFS, entities={"machine_id": ids}, project=PROJECT).to_pandas()
    offline = ll.features.get_training_frame(
        pd.DataFrame({"machine_id": ids, "event_timestamp": [now] * len(ids)}),
        REFS,
        project=PROJECT,
    )
    current = offline[FEATURES].notna().all(axis=1).to_numpy()
    same_values = np.allclose(
        online.loc[current, FEATURES].to_numpy(float),
        offline.loc[current, FEATURES].to_numpy(float),
    )
    expected = model.predict(offline.loc[current, FEATURES])
    agree = int((served[current] == expected).sum())
    story.add_row(
        "train/serve",
        f"{int(current.sum())} machines with current readings: online values "
        f"{'equal' if same_values else 'DIFFER FROM'} the point-in-time values at {now:%H:%M}; "
        f"the endpoint agrees with the model on {agree} of {int(current.sum())}; "
        f"{int(served.sum())} tool(s) flagged to fail within 24 h",
    )
    console.print(story)
    if not same_values or agree != int(current.sum()):
        raise SystemExit("train/serve skew: the online features or answers differ")
    console.print(
        f"See the run, the model, the feature view and the endpoint with [bold]loopline ui[/]: "
        f"http://127.0.0.1:8766/ui/projects/{PROJECT}/features"
    )


if __name__ == "__main__":
    main()
