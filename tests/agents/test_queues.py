"""Queues, tasks with leases and agents, through both backends on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from loopline.agents import QueueService
from loopline.backends import Backend, LocalBackend
from loopline.db import Database, utcnow
from loopline.errors import Conflict, InvalidInput, NotFound


def test_a_task_goes_from_queue_to_agent_to_done(backend: Backend, payload: str) -> None:
    task = backend.enqueue_task("default", "step", payload, name="train", project="default")
    assert task.status == "queued"
    assert [q.name for q in backend.list_queues()] == ["default"]
    assert backend.list_queues()[0].depth == 1
    agent = backend.register_agent("a1", "host-1", ["default"], concurrency=2)
    claimed = backend.claim_task(agent.id, lease_seconds=30)
    assert claimed is not None
    assert (claimed.id, claimed.status, claimed.attempts, claimed.agent_id) == (
        task.id,
        "running",
        1,
        agent.id,
    )
    assert backend.claim_task(agent.id) is None
    listed = backend.list_agents()
    assert [(a.name, a.host, a.status, a.current_tasks) for a in listed] == [
        ("a1", "host-1", "busy", (task.id,))
    ]
    assert backend.heartbeat_agent(agent.id, [task.id]) == []
    result = backend.put_blob(b"the outcome").digest
    done = backend.finish_task(task.id, agent.id, "succeeded", result=result)
    assert (done.status, done.result) == ("succeeded", result)
    assert backend.list_agents()[0].status == "idle"
    assert backend.list_queues()[0].depth == 0


def test_queue_priority_then_task_priority_then_first_come(backend: Backend, payload: str) -> None:
    backend.put_queue("low", priority=0)
    backend.put_queue("high", priority=10)
    first_low = backend.enqueue_task("low", "step", payload, name="low-1")
    urgent_low = backend.enqueue_task("low", "step", payload, name="low-urgent", priority=5)
    high = backend.enqueue_task("high", "step", payload, name="high-1")
    agent = backend.register_agent("a", "h", ["low", "high"])
    order = []
    while (task := backend.claim_task(agent.id)) is not None:
        order.append(task.id)
    assert order == [high.id, urgent_low.id, first_low.id]
    assert [q.name for q in backend.list_queues()] == ["high", "low"]


def test_a_task_asking_for_a_gpu_waits_for_an_agent_that_has_one(
    backend: Backend, payload: str
) -> None:
    backend.put_queue("gpu", tags=["gpu"])
    needs_gpu = backend.enqueue_task("gpu", "step", payload, resources={"gpu": 1})
    cpu_agent = backend.register_agent("cpu", "h", ["gpu"])
    assert backend.claim_task(cpu_agent.id) is None
    gpu_agent = backend.register_agent("gpu", "h", ["gpu"], resources={"gpu": 2})
    claimed = backend.claim_task(gpu_agent.id)
    assert claimed is not None
    assert claimed.id == needs_gpu.id
    assert backend.list_queues()[0].tags == ("gpu",)


def test_an_expired_lease_sends_the_task_back_then_fails_it(
    local_backend: LocalBackend,
) -> None:
    svc = local_backend.agents
    payload = local_backend.put_blob(b"p").digest
    task = svc.enqueue("default", "step", payload, max_attempts=2)
    dead = svc.register_agent("dead", "h", ["default"])
    other = svc.register_agent("other", "h", ["default"])
    start = utcnow()
    assert svc.claim(dead.id, lease_seconds=5, now=start) is not None
    later = start + timedelta(seconds=6)
    again = svc.claim(other.id, lease_seconds=5, now=later)
    assert again is not None
    assert (again.id, again.attempts) == (task.id, 2)
    # The first agent comes back: it no longer holds the task, and its result is refused.
    assert svc.heartbeat(dead.id, [task.id], now=later) == [task.id]
    with pytest.raises(Conflict, match="no longer held"):
        svc.finish(task.id, dead.id, "succeeded")
    assert svc.expire(later + timedelta(seconds=6)) == 1
    failed = svc.get_task(task.id)
    assert failed.status == "failed"
    assert "lease ran out" in (failed.error or "")


def test_heartbeats_keep_the_lease(local_backend: LocalBackend) -> None:
    svc = local_backend.agents
    task = svc.enqueue("default", "step", local_backend.put_blob(b"p").digest)
    agent = svc.register_agent("a", "h", ["default"])
    start = utcnow()
    svc.claim(agent.id, lease_seconds=5, now=start)
    for second in (4, 8, 12):
        assert (
            svc.heartbeat(
                agent.id, [task.id], lease_seconds=5, now=start + timedelta(seconds=second)
            )
            == []
        )
    assert svc.expire(start + timedelta(seconds=14)) == 0
    assert svc.get_task(task.id).status == "running"


def test_cancelling_a_waiting_task_and_a_running_one(backend: Backend, payload: str) -> None:
    waiting = backend.enqueue_task("default", "step", payload, name="w")
    assert backend.cancel_task(waiting.id).status == "cancelled"
    running = backend.enqueue_task("default", "step", payload, name="r")
    agent = backend.register_agent("a", "h", ["default"])
    assert backend.claim_task(agent.id) is not None
    asked = backend.cancel_task(running.id)
    assert (asked.status, asked.cancel_requested) == ("running", True)
    assert backend.heartbeat_agent(agent.id, [running.id]) == [running.id]
    ended = backend.finish_task(running.id, agent.id, "failed", error="killed")
    assert ended.status == "cancelled"
    assert backend.cancel_task(running.id).status == "cancelled"


def test_a_stopping_agent_gives_its_tasks_back(backend: Backend, payload: str) -> None:
    task = backend.enqueue_task("default", "step", payload)
    agent = backend.register_agent("a", "h", ["default"])
    assert backend.claim_task(agent.id) is not None
    assert backend.stop_agent(agent.id).status == "stopped"
    assert backend.get_task(task.id).status == "queued"
    assert backend.list_agents() == []
    assert [a.status for a in backend.list_agents(include_stopped=True)] == ["stopped"]
    with pytest.raises(NotFound, match="register it first"):
        backend.claim_task(agent.id)


def test_bad_input_is_explained(backend: Backend, payload: str) -> None:
    backend.put_queue("gpu")
    with pytest.raises(NotFound, match="Did you mean 'gpu'"):
        backend.enqueue_task("gpus", "step", payload)
    with pytest.raises(InvalidInput, match="not a queue name"):
        backend.put_queue("no spaces")
    with pytest.raises(InvalidInput):
        backend.enqueue_task("default", "step", payload, resources={"gpu": -1})
    with pytest.raises(InvalidInput):
        backend.enqueue_task("default", "step", payload, max_attempts=0)
    with pytest.raises(InvalidInput, match="at least one queue"):
        backend.register_agent("a", "h", [])
    with pytest.raises(NotFound, match="Did you mean 'gpu'"):
        backend.register_agent("a", "h", ["gpuu"])
    with pytest.raises(NotFound):
        backend.get_task("0" * 32)
    with pytest.raises(InvalidInput, match="Did you mean 'queued'"):
        backend.list_tasks(status="queue")


def test_the_payload_must_be_stored(backend: Backend) -> None:
    with pytest.raises(InvalidInput, match="not in the blob store"):
        backend.enqueue_task("default", "step", "0" * 64)


def test_decisions_are_recorded_newest_first(backend: Backend) -> None:
    backend.record_decision("gpu", "start", "2 tasks wait, 0 agents", depth=2, agents=0)
    backend.record_decision("gpu", "hold", "1 agent busy", depth=1, agents=1, agent="x")
    decisions = backend.list_decisions(queue="gpu")
    assert [(d.action, d.reason) for d in decisions] == [
        ("hold", "1 agent busy"),
        ("start", "2 tasks wait, 0 agents"),
    ]
    assert backend.list_decisions(queue="cpu") == []


def test_concurrent_claimers_never_get_the_same_task(
    local_backend: LocalBackend, database_url: str
) -> None:
    """Eight claimers, each with its own connection pool (as separate agents have), race for
    60 tasks: every task is claimed exactly once."""
    payload = local_backend.put_blob(b"p").digest
    svc = local_backend.agents
    tasks = {svc.enqueue("default", "step", payload).id for _ in range(60)}
    agents = [svc.register_agent(f"a{i}", "h", ["default"]).id for i in range(8)]
    claimed: list[list[str]] = [[] for _ in agents]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(agents))

    def claimer(index: int) -> None:
        db = Database.open(database_url, auto_upgrade=False)
        mine = QueueService(db)
        try:
            barrier.wait()
            while (task := mine.claim(agents[index], lease_seconds=60)) is not None:
                claimed[index].append(task.id)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(len(agents))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    everything = [t for mine in claimed for t in mine]
    assert sorted(everything) == sorted(tasks)
    assert len(set(everything)) == len(everything)
