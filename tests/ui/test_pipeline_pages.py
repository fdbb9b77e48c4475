"""The pipelines pages over HTTP: templates, the launch form (a wrong type answers 422 with the
error next to its field), runs over time, a run's DAG and the operations; never a stack trace."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.fixtures.pipeline_ui_data import PROJECT, TEMPLATE, PipelineUiData, pipeline_ui_server

from loopline.backends import LocalBackend

BASE = f"/ui/projects/{PROJECT}/pipelines/{TEMPLATE}"


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, PipelineUiData, LocalBackend]]:
    with pipeline_ui_server(Path(tmp_path_factory.mktemp("pipelines-ui"))) as served:
        yield served


@pytest.fixture(scope="module")
def data(site: tuple[str, PipelineUiData, LocalBackend]) -> PipelineUiData:
    return site[1]


@pytest.fixture
def web(site: tuple[str, PipelineUiData, LocalBackend]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site[0], timeout=30) as client:
        yield client


def _wait(backend: LocalBackend, run_id: str) -> str:
    deadline = time.monotonic() + 60
    while (status := backend.get_pipeline_run(run_id).status) == "running":
        assert time.monotonic() < deadline, "the launched run did not end"
        time.sleep(0.2)
    return status


def test_the_project_lists_its_templates_with_their_last_run(
    web: httpx.Client, data: PipelineUiData
) -> None:
    page = web.get(f"/ui/projects/{PROJECT}/pipelines")
    assert page.status_code == 200
    row = re.search(rf'<tr data-template="{TEMPLATE}">(.*?)</tr>', page.text, re.S)
    assert row is not None
    assert "v2" in row.group(1)
    assert "Digits training, take 2" in row.group(1)
    assert "status-succeeded" in row.group(1)
    assert 'aria-current="page">Pipelines<' in page.text.replace("\n", "")
    # The project's tabs lead here from every project page.
    assert 'href="http://' not in page.text
    assert f"/ui/projects/{PROJECT}/pipelines" in web.get(f"/ui/projects/{PROJECT}/runs").text


def test_the_template_page_has_its_versions_and_a_form_from_the_schema(web: httpx.Client) -> None:
    page = web.get(BASE)
    assert page.status_code == 200
    assert re.findall(r'<tr data-version="(\d+)"', page.text) == ["2", "1"]
    assert 'name="param.n" type="number" step="1" value="10"' in page.text
    assert 'name="param.lr" type="number" step="any" value="0.1"' in page.text
    assert 'name="param.tag" type="text" value="nightly"' in page.text
    old = web.get(BASE, params={"v": "1"})
    assert "Launch v1" in old.text
    assert "not the latest" in old.text


def test_copy_fills_the_form_with_the_runs_parameters(
    web: httpx.Client, data: PipelineUiData
) -> None:
    run = data.runs[-1]
    page = web.get(BASE, params={"copy": run.id})
    assert page.status_code == 200
    assert 'id="copy-of"' in page.text
    assert f'name="param.lr" type="number" step="any" value="{run.params["lr"]}"' in page.text
    # A copy of a run that is not there: the defaults, and a note saying why.
    gone = web.get(BASE, params={"copy": "0" * 32})
    assert gone.status_code == 200
    assert 'id="form-notice"' in gone.text


def test_a_wrong_type_is_a_422_with_the_error_next_to_its_field(web: httpx.Client) -> None:
    answer = web.post(f"{BASE}/launch", data={"version": "2", "param.n": "ten", "param.lr": "0.5"})
    assert answer.status_code == 422
    field = re.search(
        r'<div class="field invalid" data-field="(\w+)">(.*?)</div>', answer.text, re.S
    )
    assert field is not None
    assert field.group(1) == "n"
    assert 'aria-invalid="true" aria-describedby="param-n-error"' in field.group(2)
    assert "Parameter &#39;n&#39; must be int" in field.group(2)
    # What was typed elsewhere stays as typed.
    assert 'name="param.lr" type="number" step="any" value="0.5"' in answer.text


def test_launching_from_the_form_leads_to_the_run_page(
    site: tuple[str, PipelineUiData, LocalBackend], web: httpx.Client
) -> None:
    backend = site[2]
    answer = web.post(f"{BASE}/launch", data={"version": "1", "param.n": "6", "param.lr": ""})
    assert answer.status_code == 303
    run_id = answer.headers["location"].rsplit("/", 1)[1]
    assert _wait(backend, run_id) == "succeeded"
    record = backend.get_pipeline_run(run_id)
    assert record.params == {"n": 6, "lr": 0.1, "pause": 0.0, "tag": "nightly"}
    page = web.get(f"/ui/pipeline-runs/{run_id}")
    assert page.status_code == 200
    assert re.findall(r'<a href="[^"]*\?step=(\w+)" class="dag-node step-(\w+)', page.text) == [
        ("load", "succeeded"),
        ("train_a", "succeeded"),
        ("train_b", "succeeded"),
        ("evaluate", "succeeded"),
    ]
    assert "hx-trigger" not in page.text.split('id="pipeline-run"')[1].split(">")[0]
    assert f"{TEMPLATE} v1" in page.text


def test_a_run_page_marks_cache_hits_and_shows_a_picked_step(
    web: httpx.Client, data: PipelineUiData
) -> None:
    run = data.runs[-1]  # its "load" came from the cache of the first run
    page = web.get(f"/ui/pipeline-runs/{run.id}")
    assert page.status_code == 200
    assert 'data-step="load" data-status="cached"' in page.text
    assert "⚡ cache hit" in page.text
    load = web.get(f"/ui/pipeline-runs/{run.id}", params={"step": "load"})
    assert 'id="step-panel" data-step="load"' in load.text
    assert 'id="step-source"' in load.text
    evaluate = web.get(f"/ui/pipeline-runs/{run.id}", params={"step": "evaluate"})
    step_run = run.step("evaluate").run_id
    assert f'href="/ui/runs/{step_run}/console"' in evaluate.text
    assert 'id="step-metrics"' in evaluate.text
    assert ">acc<" in evaluate.text
    assert "output 0 of train_a" in evaluate.text
    unknown = web.get(f"/ui/pipeline-runs/{run.id}", params={"step": "nope"})
    assert unknown.status_code == 200
    assert 'id="step-notice"' in unknown.text


def test_runs_over_time_show_each_runs_metrics_side_by_side(
    web: httpx.Client, data: PipelineUiData
) -> None:
    page = web.get(f"{BASE}/runs")
    assert page.status_code == 200
    shown = re.findall(r'<tr data-run="([0-9a-f]{32})"', page.text)
    assert shown[-3:] == [r.id for r in reversed(data.runs)]
    assert "evaluate.acc" in page.text
    assert "train_a.loss" in page.text
    assert 'data-x-label="run #"' in page.text
    chart = web.get(f"{BASE}/series", params={"metric": "train_a.loss"}).json()
    assert chart["key"] == "train_a.loss"
    assert len(chart["x"]) == len(shown)
    losses = [1.0 / (1.0 + lr * 10) for lr in (0.1, 0.2, 0.3)]
    assert chart["y"][0][:3] == pytest.approx(losses)
    failed = web.get(f"{BASE}/runs", params={"status": "failed"})
    assert "No failed run of this pipeline." in failed.text


def test_operations_answer_a_page_not_an_error(
    site: tuple[str, PipelineUiData, LocalBackend], web: httpx.Client
) -> None:
    backend = site[2]
    answer = web.post(f"{BASE}/launch", data={"version": "2", "param.pause": "30"})
    run_id = answer.headers["location"].rsplit("/", 1)[1]
    running = web.get(f"/ui/pipeline-runs/{run_id}")
    assert 'hx-trigger="every 2s"' in running.text
    assert 'id="stop-button"' in running.text
    assert web.post(f"/ui/pipeline-runs/{run_id}/stop").status_code == 303
    assert _wait(backend, run_id) == "stopped"
    # Stopping it again is a conflict, said on the run's page.
    again = web.post(f"/ui/pipeline-runs/{run_id}/stop")
    assert again.status_code == 409
    assert 'id="operation-error"' in again.text
    retried = web.post(f"/ui/pipeline-runs/{run_id}/retry")
    assert retried.status_code == 303
    retry_id = retried.headers["location"].rsplit("/", 1)[1]
    assert retry_id != run_id
    backend.stop_pipeline_run(retry_id)  # no need to wait 30 s
    _wait(backend, retry_id)
    assert web.post(f"/ui/pipeline-runs/{run_id}/delete").status_code == 303
    assert web.get(f"/ui/pipeline-runs/{run_id}").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/ui/projects/nope/pipelines",
        f"/ui/projects/{PROJECT}/pipelines/nope",
        f"/ui/projects/{PROJECT}/pipelines/nope/runs",
        f"{BASE}?v=7",
        f"{BASE}?v=x",
        "/ui/pipeline-runs/" + "0" * 32,
        "/ui/pipeline-runs/not-a-run",
        "/ui/pipeline-runs/not-a-run/live",
    ],
)
def test_unknown_things_are_the_friendly_404_page(web: httpx.Client, path: str) -> None:
    page = web.get(path)
    assert page.status_code == 404
    assert 'class="error-page"' in page.text
    assert "Traceback" not in page.text


_text = st.text(max_size=40)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(v=_text, copy=_text, step=_text, metric=_text, status=_text, last=_text)
def test_no_query_string_makes_a_pipelines_page_fail(
    web: httpx.Client,
    data: PipelineUiData,
    v: str,
    copy: str,
    step: str,
    metric: str,
    status: str,
    last: str,
) -> None:
    run = data.runs[0].id
    for url in (
        f"{BASE}?v={quote(v)}&copy={quote(copy)}",
        f"{BASE}/runs?metric={quote(metric)}&status={quote(status)}&last={quote(last)}",
        f"{BASE}/series?metric={quote(metric)}&status={quote(status)}&last={quote(last)}",
        f"/ui/pipeline-runs/{run}?step={quote(step)}",
        f"/ui/pipeline-runs/{run}/live?step={quote(step)}",
    ):
        answer = web.get(url)
        assert answer.status_code in (200, 400, 404), (url, answer.status_code)
        assert "Traceback" not in answer.text


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(n=_text, lr=_text, tag=_text, version=_text)
def test_no_form_makes_the_launch_fail(
    site: tuple[str, PipelineUiData, LocalBackend],
    web: httpx.Client,
    n: str,
    lr: str,
    tag: str,
    version: str,
) -> None:
    # Invalid values only (a valid form would start a run per example): "n" is never an int.
    answer = web.post(
        f"{BASE}/launch",
        data={"version": version, "param.n": n + "x", "param.lr": lr, "param.tag": tag},
    )
    assert answer.status_code in (404, 422), answer.status_code
    assert "Traceback" not in answer.text


def test_the_form_launches_on_a_queue_for_agents_and_names_a_bad_queue(
    site: tuple[str, PipelineUiData, LocalBackend], web: httpx.Client
) -> None:
    backend = site[2]
    backend.put_queue("gpu", tags=["gpu"])
    page = web.get(BASE)
    assert '<select id="launch-executor" name="executor"' in page.text
    assert re.findall(r'<option value="(\w+)"', page.text.split('id="launch-queue"')[1])[:2] == [
        "default",
        "gpu",
    ]
    runs_before = len(backend.list_pipeline_runs(PROJECT, TEMPLATE))
    wrong = web.post(f"{BASE}/launch", data={"version": "2", "executor": "queue", "queue": "gpuu"})
    assert wrong.status_code == 422
    error = re.search(r'id="launch-queue-error" role="alert">([^<]*)<', wrong.text)
    assert error is not None
    assert "No queue is called &#39;gpuu&#39;" in error.group(1)
    assert "gpu" in error.group(1)
    assert '<option value="queue" selected>' in wrong.text  # the choice is kept
    assert len(backend.list_pipeline_runs(PROJECT, TEMPLATE)) == runs_before

    answer = web.post(f"{BASE}/launch", data={"version": "2", "executor": "queue", "queue": "gpu"})
    assert answer.status_code == 303
    run_id = answer.headers["location"].rsplit("/", 1)[1]
    task = backend.get_task(str(backend.get_run(run_id).tags["loopline.task"]))
    assert (task.kind, task.queue, task.status) == ("pipeline", "gpu", "queued")
    # No agent here: take it back, so that the module's other pages see finished runs only.
    backend.cancel_task(task.id)
    backend.finish_pipeline_run(run_id, "failed")
    backend.delete_pipeline_run(run_id)
