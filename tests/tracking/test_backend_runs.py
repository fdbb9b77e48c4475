"""Runs, params, tags, metrics and artifacts through both backends, on both databases."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopline.backends import Backend
from loopline.errors import Conflict, InvalidInput, NotFound
from loopline.tracking import MetricPoint


def now_ms() -> int:
    return int(time.time() * 1000)


def test_a_run_keeps_what_it_was_given(backend: Backend) -> None:
    run = backend.create_run(
        "churn", name="rf-1", params={"lr": 0.1, "model": "rf"}, tags={"team": "a"}
    )
    assert run.status == "running"
    assert run.project == "churn"
    got = backend.get_run(run.id)
    assert got.params == {"lr": "0.1", "model": "rf"}
    assert got.tags == {"team": "a"}
    assert got.name == "rf-1"
    assert backend.get_project("churn").name == "churn", "the project is created on first use"


def test_a_run_without_a_name_gets_one(backend: Backend) -> None:
    run = backend.create_run("p")
    assert run.name == f"run-{run.id[:8]}"


def test_ending_a_run_once(backend: Backend) -> None:
    run = backend.create_run("p")
    ended = backend.end_run(run.id, "failed")
    assert ended.status == "failed"
    assert ended.end_time is not None
    assert ended.end_time >= ended.start_time
    with pytest.raises(Conflict, match="already failed"):
        backend.end_run(run.id, "finished")
    with pytest.raises(Conflict, match="is failed"):
        backend.log_metrics(run.id, [MetricPoint("loss", 1.0, 0, now_ms())])
    with pytest.raises(Conflict):
        backend.log_params(run.id, {"late": 1})
    backend.set_tags(run.id, {"reviewed": "yes"})  # tags may change after the run
    assert backend.get_run(run.id).tags == {"reviewed": "yes"}


def test_params_are_fixed_once_logged(backend: Backend) -> None:
    run = backend.create_run("p", params={"lr": 0.1})
    backend.log_params(run.id, {"lr": 0.1, "depth": 3})  # same value again: fine
    with pytest.raises(Conflict, match=r"'lr' of run .* is already '0.1'"):
        backend.log_params(run.id, {"lr": 0.2, "other": 1})
    assert backend.get_run(run.id).params == {"depth": "3", "lr": "0.1"}, "nothing half-applied"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"huge": "x" * 10_000_000}, "limit is 8,000"),
        ({"": 1}, "Invalid param key"),
        ({"bad\nkey": 1}, "Invalid param key"),
        ({"k" * 251: 1}, "Invalid param key"),
    ],
)
def test_bad_params_are_refused_and_nothing_is_stored(
    backend: Backend, params: dict[str, object], message: str
) -> None:
    run = backend.create_run("p", params={"kept": 1})
    with pytest.raises(InvalidInput, match=message):
        backend.log_params(run.id, params)
    assert backend.get_run(run.id).params == {"kept": "1"}


def test_metrics_history_and_summaries(backend: Backend) -> None:
    run = backend.create_run("p")
    t = now_ms()
    backend.log_metrics(
        run.id,
        [
            MetricPoint("loss", 0.9, 0, t),
            MetricPoint("loss", float("nan"), 1, t + 1),
            MetricPoint("loss", 0.5, 2, t + 2),
            MetricPoint("acc", float("inf"), 0, t),
        ],
    )
    backend.log_metrics(run.id, [MetricPoint("loss", 0.7, 1, t + 3)])  # an older step, later
    history = backend.metric_history(run.id, "loss")
    assert [p.step for p in history] == [0, 1, 1, 2]
    assert math.isnan(history[1].value)
    assert [p.value for p in history if not math.isnan(p.value)] == [0.9, 0.7, 0.5]
    summaries = {s.key: s for s in backend.metric_summaries(run.id)}
    assert summaries["loss"].latest == 0.5, "latest is by step, not by arrival"
    assert (summaries["loss"].min, summaries["loss"].max, summaries["loss"].count) == (0.5, 0.9, 4)
    assert summaries["acc"].latest == math.inf
    assert backend.get_run(run.id).metrics["acc"] == math.inf


def test_a_nan_latest_value_is_kept(backend: Backend) -> None:
    run = backend.create_run("p")
    backend.log_metrics(
        run.id, [MetricPoint("loss", 1.0, 0, 1), MetricPoint("loss", math.nan, 1, 2)]
    )
    assert math.isnan(backend.get_run(run.id).metrics["loss"])


def test_unknown_and_malformed_run_ids(backend: Backend) -> None:
    with pytest.raises(NotFound, match=r"Run 0{32} not found"):
        backend.get_run("0" * 32)
    for bad in ("nope", "../x", "0" * 31):
        with pytest.raises(InvalidInput, match="is not a run id"):
            backend.get_run(bad)


def test_deleted_runs_are_gone(backend: Backend) -> None:
    run = backend.create_run("p")
    backend.delete_run(run.id)
    with pytest.raises(NotFound):
        backend.get_run(run.id)


def test_a_child_run_must_be_in_its_parents_project(backend: Backend) -> None:
    parent = backend.create_run("a")
    child = backend.create_run("a", parent_id=parent.id)
    assert backend.get_run(child.id).parent_id == parent.id
    with pytest.raises(InvalidInput, match="another project"):
        backend.create_run("b", parent_id=parent.id)


def test_artifacts(backend: Backend, tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    run = backend.create_run("p")
    (tmp_path / "model.pkl").write_bytes(b"model bytes")
    first = backend.log_artifact(run.id, "model/model.pkl", tmp_path / "model.pkl")
    backend.log_artifact(run.id, "notes.md", b"# notes")
    backend.log_artifact(run.id, "./notes.md", b"# notes, take two")  # same path: replaced
    listed = backend.list_artifacts(run.id)
    assert [a.path for a in listed] == ["model/model.pkl", "notes.md"]
    assert backend.get_blob(first.digest) == b"model bytes"
    assert backend.get_blob(listed[1].digest) == b"# notes, take two"
    for bad in ("../escape", "/", "a/../../b"):
        with pytest.raises(InvalidInput, match="artifact path"):
            backend.log_artifact(run.id, bad, b"x")
    with pytest.raises(NotFound):
        backend.log_artifact("f" * 32, "x", b"x")


_FILTERS = st.text(
    alphabet=st.sampled_from(list("metrics.params tags acc<>=!'\"() andor01.5x-")), max_size=60
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_FILTERS | st.text(max_size=40))
def test_no_filter_makes_the_server_answer_500(server_url: str, text: str) -> None:
    import httpx

    httpx.post(f"{server_url}/api/v1/projects", json={"name": "searched"})  # 409 after the first
    answer = httpx.post(
        f"{server_url}/api/v1/runs/search", json={"project": "searched", "filter": text}
    )
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 400:
        assert answer.json()["error"]["type"] == "InvalidInput"


def test_a_search_as_columns_matches_the_search_as_runs(backend: Backend) -> None:
    for i in range(6):
        run = backend.create_run("tbl", params={"i": i}, tags={"even": str(i % 2 == 0)})
        value = math.nan if i == 5 else i / 10
        backend.log_metrics(run.id, [MetricPoint("acc", value, 0, now_ms())])
        if i % 3 == 0:
            backend.log_metrics(run.id, [MetricPoint("only_some", 1.0, 0, now_ms())])
    backend.create_run("tbl", params={"i": 9})  # no metrics at all
    query = ("params.i >= 1", ["metrics.acc desc"])
    table = backend.search_table("tbl", *query)
    runs = backend.search_runs("tbl", *query)
    # repr, not ==: NaN is not equal to itself.
    assert repr(table.runs()) == repr(runs), "the two forms of one search agree, row for row"
    assert len(table) == 6
    assert table.project == "tbl"
    assert table.metrics["acc"][:4] == [0.4, 0.3, 0.2, 0.1]
    nan = table.metrics["acc"][4]
    assert nan is not None
    assert math.isnan(nan), "NaN survives the trip, and sorts after numbers"
    assert table.metrics["acc"][5] is None, "a run without the metric has None, not NaN"
    assert table.params["i"] == ["4", "3", "2", "1", "5", "9"]
    assert table.metrics["only_some"].count(1.0) == 1
    empty = backend.search_table("tbl", "params.i > 100")
    assert (len(empty), empty.params, empty.metrics) == (0, {}, {})


def test_a_run_is_read_back_in_its_own_project_among_many(backend: Backend) -> None:
    runs = {name: backend.create_run(name) for name in ("first", "second", "third")}
    for name, run in runs.items():
        assert backend.get_run(run.id).project == name
        assert backend.search_table(name).project == name


def test_a_metric_history_as_arrays_is_in_step_order(backend: Backend) -> None:
    run = backend.create_run("series")
    t = now_ms()
    backend.log_metrics(run.id, [MetricPoint("loss", 0.5, 2, t), MetricPoint("loss", 0.9, 0, t)])
    backend.log_metrics(
        run.id, [MetricPoint("loss", math.nan, 1, t), MetricPoint("loss", 0.4, 2, t + 1)]
    )
    series = backend.metric_series(run.id, "loss")
    assert len(series) == 4
    assert series.steps.tolist() == [0, 1, 2, 2]
    assert series.timestamps_ms.tolist() == [t, t, t, t + 1]
    assert series.values[0] == 0.9
    assert math.isnan(series.values[1])
    assert series.values[2:].tolist() == [0.5, 0.4]
    assert [p.value for p in backend.metric_history(run.id, "loss")][2:] == [0.5, 0.4]
    assert len(backend.metric_series(run.id, "never-logged")) == 0
    with pytest.raises(NotFound):
        backend.metric_series("0" * 32, "loss")
    with pytest.raises(InvalidInput):
        backend.metric_series(run.id, "bad key!")
