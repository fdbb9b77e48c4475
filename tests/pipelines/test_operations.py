"""Operations on pipeline runs: stop (from another thread, through the store), retry, copy,
delete, and history filtered by status and parameters; over both databases and backends."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import loopline as ll
from loopline.errors import Conflict, NotFound
from loopline.pipelines import PipelineResult
from tests.pipelines import flows


def _running(client: ll.Client, pipeline: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            runs = client._backend.list_pipeline_runs("p", pipeline, "running")
        except NotFound:  # the project is made with the first run
            runs = []
        for run in runs:
            if any(s.status == "running" for s in run.steps):
                return run.id
        time.sleep(0.05)
    raise AssertionError(f"no run of {pipeline} started")


def test_stop_ends_running_steps_and_the_run(client: ll.Client) -> None:
    results: list[PipelineResult] = []
    thread = threading.Thread(
        target=lambda: results.append(
            flows.sleepy.run(client=client, project="p", raise_on_failure=False)
        )
    )
    thread.start()
    run_id = _running(client, "sleepy")
    stopped = client._backend.stop_pipeline_run(run_id)
    assert stopped.status == "stopped"
    thread.join(30)
    assert not thread.is_alive()
    (result,) = results
    assert result.status == "stopped"
    assert result.record.step("nap").status == "stopped"
    assert client.get_run(run_id).status == "killed"
    with pytest.raises(Conflict, match="stopped already"):
        client._backend.stop_pipeline_run(run_id)


def test_retry_runs_what_failed_and_reuses_what_succeeded(
    client: ll.Client, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    failed = flows.mending.run(
        client=client, project="p", marker=str(marker), cache=False, raise_on_failure=False
    )
    assert failed.status == "failed"
    assert failed.record.step("report").status == "pending"
    marker.touch()
    retried = flows.mending.retry(failed.id, client=client)
    assert retried.status == "succeeded"
    assert retried.ran == ["fragile", "report"]
    assert retried.reused == ["load"]
    assert retried.output("report") == "total 6"
    assert retried.record.params == failed.record.params
    with pytest.raises(Conflict, match="every step finished"):
        flows.mending.retry(retried.id, client=client)


def test_copy_keeps_the_parameters_it_is_not_given(client: ll.Client) -> None:
    first = flows.training.run(client=client, project="p", n=6, lr=0.2)
    copy = flows.training.copy(first.id, client=client, lr=0.5)
    assert copy.record.params == {"n": 6, "lr": 0.5}
    assert copy.id != first.id


def test_history_filters_by_status_and_params_and_delete_removes_records(
    client: ll.Client,
) -> None:
    store = client._backend
    a = flows.training.run(client=client, project="p", n=4, lr=0.1)
    b = flows.training.run(client=client, project="p", n=4, lr=0.3)
    flows.failing.run(client=client, project="p", x=2, raise_on_failure=False)
    assert [r.id for r in store.list_pipeline_runs("p", "training", params={"lr": 0.3})] == [b.id]
    assert [r.id for r in store.list_pipeline_runs("p", params={"n": "4", "lr": "0.1"})] == [a.id]
    assert [r.pipeline for r in store.list_pipeline_runs("p", status="failed")] == ["failing"]
    assert store.pipeline_run_metrics(a.id) == {"train.loss": pytest.approx(0.9)}

    store.delete_pipeline_run(a.id)
    with pytest.raises(NotFound):
        store.get_pipeline_run(a.id)
    assert [r.id for r in store.list_pipeline_runs("p", "training")] == [b.id]
    # The cache still has the deleted run's outputs (its blobs stay for `loopline gc`).
    again = flows.training.run(client=client, project="p", n=4, lr=0.1)
    assert again.ran == []


def test_a_running_run_cannot_be_deleted(client: ll.Client) -> None:
    store = client._backend
    run = store.create_pipeline_run("p", "manual", {}, flows.chain.dag.to_spec())
    with pytest.raises(Conflict, match="stop it"):
        store.delete_pipeline_run(run.id)
    store.stop_pipeline_run(run.id)
    store.delete_pipeline_run(run.id)
