"""Queue benchmark: claim throughput with concurrent claimers, and dispatch latency.

- claim throughput: N tasks enqueued, K claimers (threads, each with its own connection pool,
  as separate agents have) claim until the queue is empty; tasks claimed per second, and a
  check that no task was claimed twice.
- dispatch latency: one task at a time, enqueue -> claim -> finish, in-process (the service
  calls an agent and a runner make, without HTTP); median and p95 per round trip.

No peer is measured: ClearML's server needs Elasticsearch and MongoDB, not available here.

    .venv/bin/python benchmarks/agents.py [--tasks 2000] [--claimers 4] [--rounds 300]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable

from _machine import load, machine
from loopline.agents import QueueService
from loopline.db import Database

PAYLOAD = "0" * 64


def claim_throughput(url: str, tasks: int, claimers: int) -> tuple[float, int]:
    db = Database.open(url, auto_upgrade=True)
    svc = QueueService(db)
    for _ in range(tasks):
        svc.enqueue("default", "step", PAYLOAD)
    agents = [svc.register_agent(f"bench-{i}", "h", ["default"]).id for i in range(claimers)]
    claimed: list[list[str]] = [[] for _ in agents]
    barrier = threading.Barrier(claimers + 1)

    def claimer(i: int) -> None:
        own = Database.open(url, auto_upgrade=False)
        mine = QueueService(own)
        barrier.wait()
        while (task := mine.claim(agents[i], lease_seconds=600)) is not None:
            claimed[i].append(task.id)
        own.close()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(claimers)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    every = [t for mine in claimed for t in mine]
    duplicates = len(every) - len(set(every))
    assert len(set(every)) == tasks, "every task is claimed"
    db.close()
    return tasks / elapsed, duplicates


def dispatch_latency(url: str, rounds: int) -> list[float]:
    db = Database.open(url, auto_upgrade=True)
    svc = QueueService(db)
    agent = svc.register_agent("bench", "h", ["default"]).id
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        task = svc.enqueue("default", "step", PAYLOAD)
        claimed = svc.claim(agent, lease_seconds=60)
        assert claimed is not None
        assert claimed.id == task.id
        svc.finish(task.id, agent, "succeeded", result=PAYLOAD)
        times.append(time.perf_counter() - start)
    db.close()
    return times


def _postgres(admin: str) -> tuple[str, Callable[[], None]]:
    import psycopg
    from psycopg import sql

    name = f"loopline_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    return admin.rpartition("/")[0] + "/" + name, drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--claimers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    print(f"# {machine()}; load {load()}")
    print(f"# {args.tasks} tasks, {args.claimers} claimers; {args.rounds} dispatch rounds")
    print("| database | claims/s | duplicates | dispatch median ms | dispatch p95 ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as folder:
        rate, dupes = claim_throughput(f"sqlite:///{folder}/claims.db", args.tasks, args.claimers)
        times = dispatch_latency(f"sqlite:///{folder}/latency.db", args.rounds)
        _row("SQLite (WAL)", rate, dupes, times)
    claims_url, drop_claims = _postgres(args.postgres)
    latency_url, drop_latency = _postgres(args.postgres)
    try:
        rate, dupes = claim_throughput(claims_url, args.tasks, args.claimers)
        times = dispatch_latency(latency_url, args.rounds)
        _row("PostgreSQL", rate, dupes, times)
    finally:
        drop_claims()
        drop_latency()


def _row(name: str, rate: float, dupes: int, times: list[float]) -> None:
    ordered = sorted(times)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    print(
        f"| {name} | {rate:,.0f} | {dupes} | {statistics.median(times) * 1000:.2f} "
        f"| {p95 * 1000:.2f} |"
    )


if __name__ == "__main__":
    main()
