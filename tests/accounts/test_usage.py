"""Quota use as the domains count it, the accounts' verdicts, and the agents quota at claim
time (in process, on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from loopline.accounts import AccountService, QuotaUse
from loopline.agents import QueueService
from loopline.backends import LocalBackend
from loopline.datasets import FileEntry, Manifest
from loopline.errors import QuotaExceeded

DAG = {"steps": [{"name": "a", "step": "m:a", "inputs": {}, "outputs": []}], "params": []}


@pytest.fixture
def accounts(local_backend: LocalBackend) -> AccountService:
    b = local_backend
    b.create_project("demo")
    b.create_project("other")
    counters = (b.tracking, b.datasets, b.registry, b.pipelines, b.agents)
    return AccountService(b.db, b.projects, counters=counters)


def test_every_domain_counts_what_a_project_uses(
    accounts: AccountService, local_backend: LocalBackend
) -> None:
    b = local_backend
    assert accounts.usage("demo") == {
        "concurrent_pipeline_runs": 0,
        "queued_tasks": 0,
        "storage_bytes": 0,
        "agents": 0,
    }
    # Artifacts: a blob attached twice in the project counts once.
    blob = b.put_blob(b"x" * 100)
    for _ in range(2):
        run = b.create_run("demo")
        b.attach_artifact(run.id, "model.bin", blob.digest, 100)
    # Datasets: a version counts the bytes its parent did not hold.
    b.create_dataset("demo", "d")
    other = b.put_blob(b"y" * 30)
    m1 = b.put_blob(Manifest.of([FileEntry("a", blob.digest, 100)]).encode()).digest
    m2 = Manifest.of([FileEntry("a", blob.digest, 100), FileEntry("b", other.digest, 30)])
    b.commit_version("demo", "d", m1)
    b.commit_version("demo", "d", b.put_blob(m2.encode()).digest, parent=1)
    # A running pipeline run, and tasks waiting and running (one agent, two of its tasks).
    b.create_pipeline_run("demo", "train", {}, DAG)
    payload = b.put_blob(b"task").digest
    for _ in range(3):
        b.enqueue_task("default", "step", payload, project="demo")
    b.enqueue_task("default", "step", payload, project="other")
    agent = b.register_agent("a1", "h", ["default"], concurrency=2)
    assert b.claim_task(agent.id) is not None
    assert b.claim_task(agent.id) is not None
    assert accounts.usage("demo") == {
        "concurrent_pipeline_runs": 1,
        "queued_tasks": 1,
        "storage_bytes": 100 + 100 + 30,  # the artifact; dataset v1 (100), then v2 (+30)
        "agents": 1,
    }
    assert accounts.usage("other")["queued_tasks"] == 1


def test_over_quota_says_the_limit_and_the_use(
    accounts: AccountService, local_backend: LocalBackend
) -> None:
    run = local_backend.create_run("demo")
    blob = local_backend.put_blob(b"z" * 600)
    local_backend.attach_artifact(run.id, "a", blob.digest, 600)
    assert accounts.over_quota("demo", "storage_bytes", 500) is None  # no limit
    accounts.set_quota("demo", storage_bytes=1000)
    assert accounts.over_quota("demo", "storage_bytes", 400) is None  # exactly full is fine
    assert accounts.over_quota("demo", "storage_bytes", 401) == QuotaUse(
        "demo", "storage_bytes", 1000, 600
    )
    with pytest.raises(QuotaExceeded, match=r"quota of 1,000 storage bytes \(now 600\)") as exc:
        accounts.check_quota("demo", "storage_bytes", 401)
    assert exc.value.details == {
        "project": "demo",
        "quota": "storage_bytes",
        "limit": 1000,
        "current": 600,
    }
    uses = {u.quota: (u.limit, u.current) for u in accounts.quota_use("demo")}
    assert uses["storage_bytes"] == (1000, 600)
    assert uses["agents"] == (None, 0)


def test_the_agents_quota_holds_a_projects_tasks_back_and_says_so(
    accounts: AccountService, local_backend: LocalBackend
) -> None:
    svc = QueueService(local_backend.db)  # reads the limits through the accounts service
    payload = local_backend.put_blob(b"task").digest
    first = svc.enqueue("default", "step", payload, project="demo")
    second = svc.enqueue("default", "step", payload, project="demo")
    free = svc.enqueue("default", "step", payload, project="other")
    accounts.set_quota("demo", agents=1)
    a1 = svc.register_agent("a1", "h", ["default"], concurrency=2)
    a2 = svc.register_agent("a2", "h", ["default"])
    claimed = svc.claim(a1.id)
    assert claimed is not None
    assert claimed.id == first.id
    # a2 may not work for demo too: it takes the other project's task, demo's second waits.
    other = svc.claim(a2.id)
    assert other is not None
    assert other.id == free.id
    waiting = svc.get_task(second.id)
    assert waiting.waiting is not None
    assert "'demo' is at its quota of 1 agents (now 1)" in waiting.waiting
    svc.finish(free.id, a2.id, "succeeded")
    assert svc.claim(a2.id) is None
    # The agent that already works for demo may take more of its tasks.
    again = svc.claim(a1.id)
    assert again is not None
    assert again.id == second.id
    assert accounts.usage("demo")["agents"] == 1


def test_a_task_no_agent_can_take_says_why(local_backend: LocalBackend) -> None:
    svc = local_backend.agents
    svc.put_queue("gpu", tags=["gpu"])
    payload = local_backend.put_blob(b"task").digest
    task = svc.enqueue("gpu", "step", payload, resources={"gpu": 1})
    nobody = svc.get_task(task.id).waiting
    assert nobody is not None
    assert nobody.startswith("No agent serves queue 'gpu'")
    svc.register_agent("cpu-only", "h", ["gpu"])
    why = svc.list_tasks(status="queued")[0].waiting
    assert why is not None
    assert "No agent of queue 'gpu' offers gpu=1" in why
    assert "--resource gpu=1" in why
    svc.register_agent("gpu", "h", ["gpu"], resources={"gpu": 1})
    assert svc.get_task(task.id).waiting is None  # it waits its turn only
