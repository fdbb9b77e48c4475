"""Feature store against Feast (latest, in its own virtual environment), same run, same data.

    .venv/bin/python benchmarks/features.py              # 100k entity rows x 1M feature rows
    .venv/bin/python benchmarks/features.py --quick      # 10x smaller
    .venv/bin/python benchmarks/features.py --skip-peer  # Loopline only
    .venv/bin/python benchmarks/features.py --no-redis   # skip the Redis online store

Measured (issue 10, "Shown by"), each side in a fresh process of its own:

- (a) point-in-time join of the entity rows over the feature rows: seconds and peak memory (the
  process's peak RSS, and its growth during the join), and correctness: every result row
  is compared with an independent reference (pandas ``merge_asof`` after keeping the latest
  ``created`` of each (entity, time), then the TTL), by an entity row id, and entity order is
  checked. Feast runs with its file offline store (dask) and its DuckDB offline store (ibis).
- (b) materialization of every feature row into the online store (latest per entity).
- (c) online lookups of 3 features: one entity (p50/p99 over 5,000 calls, random ids) and
  1,000 entities (median of 30 calls), through each tool's one-call Python API; Loopline on
  its embedded SQLite store and on Redis (127.0.0.1:6379, a key prefix of its own, removed
  after), Feast on its SQLite online store.

Data: driver ids 0..E-1, 10 feature rows each at random event times over 30 days, 5% of rows
sharing their (driver, time) with another row but with another ``created``; entity rows draw
ids from 0..1.2E (so some have no features at all) and times from 31 days (so some come before
any feature row and some have only rows older than the 2-day TTL).

Feast is installed (once, reused) into benchmarks/.peers/feast with ``python3 -m venv`` + pip.
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

from _machine import machine

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEER_VENV = HERE / ".peers" / "feast"
SEED = 20261124
TTL_DAYS = 2
FEATURES = ["conv_rate", "acc_rate", "trips"]
console = Console(width=None if sys.stdout.isatty() else 140)


# --- data and reference ---------------------------------------------------------------------


def make_data(work: Path, entities: int, rows_per_entity: int, entity_rows: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    start = pd.Timestamp("2026-01-01", tz="UTC")
    n = entities * rows_per_entity
    ids = np.repeat(np.arange(entities, dtype=np.int64), rows_per_entity)
    seconds = rng.integers(0, 30 * 86400, n)
    ts = start + pd.to_timedelta(seconds, unit="s")
    created = ts + pd.to_timedelta(rng.integers(0, 3600, n), unit="s")
    ties = rng.random(n) < 0.05  # same (driver, time) as the previous row, another created
    ties[0] = False
    same_driver = np.r_[False, ids[1:] == ids[:-1]]
    ties &= same_driver
    ts_values = ts.to_numpy().copy()
    ts_values[ties] = ts_values[np.flatnonzero(ties) - 1]
    features = pd.DataFrame(
        {
            "driver_id": ids,
            "event_timestamp": pd.DatetimeIndex(ts_values).tz_localize("UTC")
            if pd.DatetimeIndex(ts_values).tz is None
            else pd.DatetimeIndex(ts_values),
            "created": created,
            "conv_rate": rng.random(n),
            "acc_rate": rng.random(n),
            "trips": rng.integers(0, 1000, n).astype(np.int64),
        }
    )
    features = features.sample(frac=1.0, random_state=SEED).reset_index(drop=True)
    features.to_parquet(work / "features.parquet", index=False)
    entity = pd.DataFrame(
        {
            "driver_id": rng.integers(0, int(entities * 1.2), entity_rows).astype(np.int64),
            "event_timestamp": start
            - pd.Timedelta(days=1)
            + pd.to_timedelta(rng.integers(0, 31 * 86400, entity_rows), unit="s"),
            "row_id": np.arange(entity_rows, dtype=np.int64),
        }
    )
    entity.to_parquet(work / "entities.parquet", index=False)


def reference(work: Path) -> Any:
    """pandas merge_asof: latest created per (driver, time), then backward as-of, then TTL."""
    import pandas as pd

    features = pd.read_parquet(work / "features.parquet")
    entity = pd.read_parquet(work / "entities.parquet")
    features = features.sort_values(["driver_id", "event_timestamp", "created"])
    features = features.drop_duplicates(["driver_id", "event_timestamp"], keep="last")
    features = features.rename(columns={"event_timestamp": "feature_ts"}).sort_values("feature_ts")
    left = entity.sort_values("event_timestamp")
    joined = pd.merge_asof(
        left,
        features[["driver_id", "feature_ts", *FEATURES]],
        left_on="event_timestamp",
        right_on="feature_ts",
        by="driver_id",
        direction="backward",
    )
    stale = joined["event_timestamp"] - joined["feature_ts"] > pd.Timedelta(days=TTL_DAYS)
    joined.loc[stale | joined["feature_ts"].isna(), FEATURES] = float("nan")
    return joined.sort_values("row_id").set_index("row_id")


def check(result_path: Path, ref: Any) -> dict[str, Any]:
    """Compare one side's join result with the reference, by row id."""
    import numpy as np
    import pandas as pd

    got = pd.read_parquet(result_path)
    out: dict[str, Any] = {"rows": len(got), "expected_rows": len(ref)}
    out["order_kept"] = bool((got["row_id"].to_numpy() == np.arange(len(got))).all()) and len(
        got
    ) == len(ref)
    out["duplicate_rows"] = int(got["row_id"].duplicated().sum())
    got = got.drop_duplicates("row_id").set_index("row_id")
    out["missing_rows"] = len(ref.index.difference(got.index))
    common = ref.index.intersection(got.index)
    wrong = np.zeros(len(common), dtype=bool)
    for name in FEATURES:
        a = ref.loc[common, name].to_numpy(dtype="float64")
        b = got.loc[common, name].to_numpy(dtype="float64")
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        wrong |= ~same
    out["wrong_rows"] = int(wrong.sum())
    out["correct"] = out["wrong_rows"] == 0 and out["missing_rows"] == 0
    out["nulls_expected"] = int(ref["conv_rate"].isna().sum())
    return out


# --- the Loopline side (a child process) ----------------------------------------------------

LOOPLINE_CHILD = r"""
import json, os, resource, sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
import numpy as np
import pandas as pd
import loopline as ll
from loopline.features import Entity, FeatureView, Field, FileSource, Float64, Int64

work = Path(sys.argv[1]); part = sys.argv[2]; out = {}
def rss():  # this process's peak RSS (VmHWM; ru_maxrss would include the parent's, on Linux)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
driver = Entity(name="driver", join_keys=["driver_id"])
view = FeatureView(name="driver_stats", entities=[driver], ttl=timedelta(days=TTL_DAYS),
    schema=[Field(name="conv_rate", dtype=Float64), Field(name="acc_rate", dtype=Float64),
            Field(name="trips", dtype=Int64)],
    source=FileSource(path=str(work / "features.parquet"), created_timestamp_column="created"))
ll.features.apply([driver, view])
import duckdb, pyarrow, loopline.features._offline  # imported before timing, as Feast's are
refs = ["driver_stats:conv_rate", "driver_stats:acc_rate", "driver_stats:trips"]
if part == "join":
    entity = pd.read_parquet(work / "entities.parquet")
    base = rss(); t = time.perf_counter()
    frame = ll.features.get_training_frame(entity, refs)
    out["seconds"] = time.perf_counter() - t
    out["peak_mb"] = rss(); out["growth_mb"] = rss() - base
    frame.to_parquet(work / "loopline-join.parquet", index=False)
else:
    # Every feature row goes through materialization, as on the Feast side (which applies no
    # TTL when materializing or reading online): the same view without a TTL.
    from dataclasses import replace
    ll.features.apply([replace(view, ttl=None)])
    t = time.perf_counter()
    result = ll.features.materialize(until=datetime(2026, 2, 1, tzinfo=UTC), full=True)
    out["materialize_seconds"] = time.perf_counter() - t
    out["materialized_entities"] = result[0].rows
    # Online: the one-liner, as a serving process would call it.
    rng = np.random.default_rng(7)
    ids = rng.integers(0, ENTITIES, ONE_CALLS).tolist()
    get = ll.features.get_online
    for i in ids[:200]:
        get(refs, {"driver_id": [i]})
    samples = []
    perf = time.perf_counter
    for i in ids:
        t = perf(); get(refs, {"driver_id": [i]}); samples.append(perf() - t)
    samples.sort()
    out["one_p50_us"] = samples[len(samples) // 2] * 1e6
    out["one_p99_us"] = samples[int(len(samples) * 0.99)] * 1e6
    out["one_per_second"] = len(samples) / sum(samples)
    many = []
    for _ in range(MANY_CALLS):
        batch = rng.integers(0, ENTITIES, 1000).tolist()
        t = perf(); found = get(refs, {"driver_id": batch}); many.append(perf() - t)
    out["many_ms"] = sorted(many)[len(many) // 2] * 1e3
    out["found_fraction"] = sum(v is not None for v in found["conv_rate"]) / 1000
print(json.dumps(out))
"""


def run_loopline(
    work: Path, part: str, sizes: argparse.Namespace, store: str = ""
) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix=f"ll-bench-{part}-", dir=work))
    env = {**os.environ, "LOOPLINE_HOME": str(home), "LOOPLINE_PROJECT": "bench"}
    env.pop("LOOPLINE_URI", None)
    if store:
        env["LOOPLINE_ONLINE_STORE"] = store
    script = (
        f"TTL_DAYS = {TTL_DAYS}\nENTITIES = {sizes.entities}\nONE_CALLS = {sizes.one_calls}\n"
        f"MANY_CALLS = {sizes.many_calls}\n" + LOOPLINE_CHILD
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(work), part],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"Loopline side failed ({part}):\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- the Feast side (a child process in Feast's own environment) ----------------------------

FEAST_CHILD = r"""
import json, os, resource, sys, time, warnings, logging
warnings.filterwarnings("ignore"); logging.disable(logging.WARNING)
from datetime import UTC, datetime, timedelta
from pathlib import Path
import numpy as np
import pandas as pd
from feast import Entity, FeatureStore, FeatureView, Field, FileSource
from feast.types import Float64, Int64

work = Path(sys.argv[1]); part = sys.argv[2]; offline = sys.argv[3]; repo = Path(sys.argv[4])
repo.mkdir(parents=True, exist_ok=True)
def rss():  # this process's peak RSS (VmHWM; ru_maxrss would include the parent's, on Linux)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
(repo / "feature_store.yaml").write_text(
    "project: bench\nprovider: local\nregistry: " + str(repo / "registry.db") + "\n"
    + "online_store:\n  type: sqlite\n  path: " + str(repo / "online.db") + "\n"
    + "offline_store:\n  type: " + offline + "\n"
    + "entity_key_serialization_version: 3\n")
store = FeatureStore(repo_path=str(repo))
driver = Entity(name="driver", join_keys=["driver_id"])
source = FileSource(path=str(work / "features.parquet"), timestamp_field="event_timestamp",
                    created_timestamp_column="created")
view = FeatureView(name="driver_stats", entities=[driver], ttl=timedelta(days=TTL_DAYS),
    schema=[Field(name="conv_rate", dtype=Float64), Field(name="acc_rate", dtype=Float64),
            Field(name="trips", dtype=Int64)], source=source, online=True)
store.apply([driver, view])
refs = ["driver_stats:conv_rate", "driver_stats:acc_rate", "driver_stats:trips"]
out = {}
if part == "join":
    entity = pd.read_parquet(work / "entities.parquet")
    base = rss(); t = time.perf_counter()
    frame = store.get_historical_features(entity_df=entity, features=refs).to_df()
    out["seconds"] = time.perf_counter() - t
    out["peak_mb"] = rss(); out["growth_mb"] = rss() - base
    frame.to_parquet(work / f"feast-{offline}-join.parquet", index=False)
else:
    t = time.perf_counter()
    store.materialize(start_date=datetime(2025, 12, 1, tzinfo=UTC),
                      end_date=datetime(2026, 2, 1, tzinfo=UTC))
    out["materialize_seconds"] = time.perf_counter() - t
    rng = np.random.default_rng(7)
    ids = rng.integers(0, ENTITIES, ONE_CALLS).tolist()
    for i in ids[:200]:
        store.get_online_features(features=refs, entity_rows=[{"driver_id": i}]).to_dict()
    samples = []
    perf = time.perf_counter
    for i in ids:
        t = perf()
        store.get_online_features(features=refs, entity_rows=[{"driver_id": i}]).to_dict()
        samples.append(perf() - t)
    samples.sort()
    out["one_p50_us"] = samples[len(samples) // 2] * 1e6
    out["one_p99_us"] = samples[int(len(samples) * 0.99)] * 1e6
    out["one_per_second"] = len(samples) / sum(samples)
    many = []
    for _ in range(MANY_CALLS):
        batch = rng.integers(0, ENTITIES, 1000).tolist()
        t = perf()
        rows = [{"driver_id": i} for i in batch]
        found = store.get_online_features(features=refs, entity_rows=rows).to_dict()
        many.append(perf() - t)
    out["many_ms"] = sorted(many)[len(many) // 2] * 1e3
    out["found_fraction"] = sum(v is not None for v in found["conv_rate"]) / 1000
print(json.dumps(out))
"""


def ensure_feast() -> Path:
    python = PEER_VENV / "bin" / "python"
    check_cmd = [str(python), "-c", "import feast, ibis, dask"]
    if python.exists() and subprocess.run(check_cmd, capture_output=True).returncode == 0:
        return python
    console.print(f"Installing the latest feast into {PEER_VENV} (a few minutes) ...")
    subprocess.run(["python3", "-m", "venv", "--clear", str(PEER_VENV)], check=True)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--upgrade",
            "feast",
            "ibis-framework[duckdb]",
        ],
        check=True,
    )
    return python


def feast_version(python: Path) -> str:
    done = subprocess.run(
        [str(python), "-c", "import feast; print(feast.__version__)"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def run_feast(
    python: Path, work: Path, part: str, offline: str, sizes: argparse.Namespace
) -> dict[str, Any]:
    repo = Path(tempfile.mkdtemp(prefix=f"feast-{part}-{offline}-", dir=work))
    script = (
        f"TTL_DAYS = {TTL_DAYS}\nENTITIES = {sizes.entities}\nONE_CALLS = {sizes.one_calls}\n"
        f"MANY_CALLS = {sizes.many_calls}\n" + FEAST_CHILD
    )
    env = {**os.environ, "FEAST_USAGE": "False", "DO_NOT_TRACK": "1"}
    done = subprocess.run(
        [str(python), "-c", script, str(work), part, offline, str(repo)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        console.print(f"[red]Feast side failed ({part}, {offline}):[/]\n{done.stderr[-2000:]}")
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- report ---------------------------------------------------------------------------------


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller")
    parser.add_argument("--skip-peer", action="store_true", help="Loopline only")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis online store")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis URL")
    sizes = parser.parse_args()
    sizes.entities = 10_000 if sizes.quick else 100_000
    sizes.rows_per_entity = 10
    sizes.entity_rows = 10_000 if sizes.quick else 100_000
    sizes.one_calls = 2_000 if sizes.quick else 5_000
    sizes.many_calls = 10 if sizes.quick else 30

    with tempfile.TemporaryDirectory(prefix="ll-features-bench-") as tmp:
        work = Path(tmp)
        console.print(
            f"Data: {sizes.entities * sizes.rows_per_entity:,} feature rows over "
            f"{sizes.entities:,} drivers; {sizes.entity_rows:,} entity rows. Machine: {machine()}. "
            f"Load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}."
        )
        make_data(work, sizes.entities, sizes.rows_per_entity, sizes.entity_rows)
        ref = reference(work)
        results: dict[str, dict[str, Any]] = {}
        results["loopline join"] = run_loopline(work, "join", sizes)
        results["loopline join"].update(check(work / "loopline-join.parquet", ref))
        results["loopline online (sqlite)"] = run_loopline(work, "online", sizes)
        if not sizes.no_redis:
            prefix = f"llbench{os.getpid()}:"
            results["loopline online (redis)"] = run_loopline(
                work, "online", sizes, store=f"{sizes.redis}?prefix={prefix}"
            )
            _clean_redis(sizes.redis, prefix)
        version = "-"
        if not sizes.skip_peer:
            python = ensure_feast()
            version = feast_version(python)
            for offline in ("duckdb", "file"):
                key = f"feast join ({offline})"
                results[key] = run_feast(python, work, "join", offline, sizes)
                if "error" not in results[key]:
                    results[key].update(check(work / f"feast-{offline}-join.parquet", ref))
            results["feast online (sqlite)"] = run_feast(python, work, "online", "duckdb", sizes)
        report(results, version, sizes)


def _clean_redis(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    names = list(client.scan_iter(match=f"{prefix}*", count=10_000))
    for start in range(0, len(names), 10_000):
        client.unlink(*names[start : start + 10_000])
    client.close()


def report(results: dict[str, dict[str, Any]], version: str, sizes: argparse.Namespace) -> None:
    table = Table(title=f"Feature store: Loopline vs Feast {version}")
    for column in ("side", "measure", "value"):
        table.add_column(column)
    for side, r in results.items():
        for key, value in r.items():
            table.add_row(side, key, fmt(value))
    console.print(table)
    console.print_json(json.dumps({"feast": version, "results": results}, default=str))


if __name__ == "__main__":
    main()
