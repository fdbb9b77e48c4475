"""executor="ray" on one local Ray instance, and sweeps over the local, Ray and queue executors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loopline import Client
from loopline.agents import sweep
from loopline.agents._ray import ray_options
from loopline.agents._sweep import grid_points
from loopline.config import Settings
from loopline.errors import InvalidInput
from tests.agents import flows


@pytest.fixture
def sqlite_client(tmp_path: Path) -> Iterator[Client]:
    made = Client(
        settings=Settings.from_env(
            {
                "LOOPLINE_HOME": str(tmp_path / "home"),
                "LOOPLINE_URI": f"sqlite:///{tmp_path / 'meta.db'}",
                "LOOPLINE_ARTIFACTS": str(tmp_path / "blobs"),
            }
        )
    )
    yield made
    made.close()


@pytest.mark.usefixtures("ray_cluster")
def test_each_step_is_a_ray_task_and_logs_into_its_run(sqlite_client: Client) -> None:
    result = flows.quick.run(executor="ray", client=sqlite_client, n=5)
    assert result.status == "succeeded"
    assert result.output("total") == 10
    step_run = result.record.step("total").run_id
    assert step_run is not None
    assert sqlite_client.get_run(step_run).metrics["total"] == 10.0
    assert "summing 5 values" in sqlite_client.read_console(step_run).text


@pytest.mark.usefixtures("ray_cluster")
def test_a_sweep_on_ray_runs_every_point_as_a_tracked_run(sqlite_client: Client) -> None:
    result = sweep(
        flows.quick,
        {"n": [2, 3, 4]},
        objective="total.total",
        executor="ray",
        parallel=3,
        client=sqlite_client,
    )
    assert [(t.params, t.status, t.value) for t in result.trials] == [
        ({"n": 2}, "succeeded", 1.0),
        ({"n": 3}, "succeeded", 3.0),
        ({"n": 4}, "succeeded", 6.0),
    ]
    best = result.best
    assert best is not None
    assert best.params == {"n": 4}
    runs = sqlite_client._backend.list_pipeline_runs("default", "quick")
    assert sorted(r.id for r in runs) == sorted(t.run_id for t in result.trials if t.run_id)


def test_a_local_sweep_reports_a_missing_metric_per_trial(sqlite_client: Client) -> None:
    result = sweep(
        flows.quick,
        {"n": [1, 2]},
        objective="total.totl",
        direction="minimize",
        client=sqlite_client,
    )
    assert [t.status for t in result.trials] == ["failed", "failed"]
    assert "Did you mean 'total.total'" in (result.trials[0].error or "")
    assert result.best is None


def test_an_optuna_study_proposes_the_points(sqlite_client: Client) -> None:
    optuna = pytest.importorskip("optuna")
    study = optuna.create_study(direction="maximize")
    result = sweep(
        flows.quick,
        study,
        space=lambda trial: {"n": trial.suggest_int("n", 1, 6)},
        n_trials=4,
        objective="total.total",
        client=sqlite_client,
    )
    assert len(result.trials) == 4
    assert study.best_value == max(t.value or 0 for t in result.trials)


def test_bad_sweeps_and_resources_are_explained() -> None:
    with pytest.raises(InvalidInput, match="non-empty list"):
        grid_points({"lr": []})
    with pytest.raises(InvalidInput, match="at least one parameter"):
        grid_points({})
    with pytest.raises(InvalidInput, match=r"grid .* or an Optuna study"):
        sweep(flows.quick, [1, 2], client=object())
    assert grid_points({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    assert ray_options({"gpu": 1, "memory": 4e9, "tpu": 2, "cpu": 2}) == {
        "num_cpus": 2,
        "num_gpus": 1,
        "memory": 4_000_000_000,
        "resources": {"tpu": 2},
    }
    with pytest.raises(InvalidInput, match="not a number"):
        ray_options({"gpu": "one"})
