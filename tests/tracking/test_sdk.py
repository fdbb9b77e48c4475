"""The SDK: start_run as a context manager and as a handle, the batched writer, DataFrames."""

from __future__ import annotations

import math

import pytest

from loopline import Client
from loopline.errors import Conflict, InvalidInput, LooplineError


def test_a_with_block_finishes_the_run_and_stores_every_metric(client: Client) -> None:
    with client.start_run("demo", name="loop", params={"lr": 0.01}, capture=False) as run:
        for step in range(2_500):
            run.log_metric("loss", 1.0 / (step + 1))
        run.log_metrics({"acc": 0.9, "f1": math.nan}, step=7)
    info = client.get_run(run.id)
    assert info.status == "finished"
    assert info.metrics["loss"] == pytest.approx(1 / 2_500)
    assert math.isnan(info.metrics["f1"])
    history = client.get_metric_history(run.id, "loss")
    assert list(history.columns) == ["step", "value", "timestamp"]
    assert len(history) == 2_500
    assert history["step"].tolist() == list(range(2_500)), "steps default to 0, 1, 2, ..."
    assert str(history["timestamp"].dt.tz) == "UTC"


def test_an_exception_fails_the_run_and_keeps_its_metrics(client: Client) -> None:
    def train() -> str:
        with client.start_run("demo", capture=False) as run:
            run.log_metric("loss", 0.5)
            _ = 1 / 0
        return run.id  # pragma: no cover

    runs_before = set(client.search_runs("demo")["run_id"]) if _has_project(client) else set()
    with pytest.raises(ZeroDivisionError):
        train()
    (run_id,) = set(client.search_runs("demo")["run_id"]) - runs_before
    info = client.get_run(run_id)
    assert info.status == "failed"
    assert info.metrics == {"loss": 0.5}


def test_ctrl_c_kills_the_run(client: Client) -> None:
    with pytest.raises(KeyboardInterrupt), client.start_run("demo", capture=False) as run:
        raise KeyboardInterrupt
    assert client.get_run(run.id).status == "killed"


def test_a_handle_ends_with_end(client: Client) -> None:
    run = client.start_run("demo", capture=False)
    run.log_param("model", "rf")
    run.set_tags({"team": "a"})
    run.end()
    run.end()  # twice: nothing happens
    assert run.status == "finished"
    with pytest.raises(LooplineError, match="has ended"):
        run.log_metric("late", 1.0)
    assert client.get_run(run.id).params == {"model": "rf"}


def test_bad_metric_calls_fail_at_the_call(client: Client) -> None:
    with client.start_run("demo", capture=False) as run:
        with pytest.raises(InvalidInput, match="must be a number"):
            run.log_metric("acc", "0.9")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="Invalid metric key"):
            run.log_metric("bad\tkey", 1.0)
        with pytest.raises(InvalidInput, match="whole number"):
            run.log_metric("acc", 1.0, step=1.5)  # type: ignore[arg-type]
        run.log_metric("acc", 1)  # ints and numpy-like numbers are fine
    assert client.get_run(run.id).metrics == {"acc": 1.0}


def test_a_storage_error_in_the_writer_reaches_the_caller(client: Client) -> None:
    run = client.start_run("demo", capture=False)
    run.log_metric("loss", 1.0)
    run.flush()
    client._backend.end_run(run.id, "finished")  # ended behind the writer's back
    run.log_metric("loss", 2.0)
    with pytest.raises(Conflict, match="is finished"):
        run.flush()


def test_nested_runs(client: Client) -> None:
    with (
        client.start_run("demo", name="parent", capture=False) as parent,
        client.start_run("demo", name="child", parent=parent, capture=False) as child,
    ):
        child.log_metric("x", 1.0)
    assert client.get_run(child.id).parent_id == parent.id


def test_artifacts_from_the_sdk(client: Client, tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    folder = tmp_path / "out"
    (folder / "plots").mkdir(parents=True)
    (folder / "plots" / "a.txt").write_text("a")
    (folder / "b.txt").write_text("b")
    with client.start_run("demo", capture=False) as run:
        run.log_artifact(folder)
        run.log_text("hello", "notes/hello.txt")
        run.log_dict({"lr": 0.1}, "config.json")
        with pytest.raises(InvalidInput, match="no such file"):
            run.log_artifact(tmp_path / "missing")
    paths = [a.path for a in client.list_artifacts(run.id)]
    assert paths == ["config.json", "notes/hello.txt", "out/b.txt", "out/plots/a.txt"]


def _has_project(client: Client) -> bool:
    return "demo" in [p.name for p in client.list_projects()]


def test_search_runs_answers_a_dataframe(client: Client) -> None:
    for i, model in enumerate(["rf", "rf", "xgb"]):
        with client.start_run("search", name=f"r{i}", params={"model": model}, capture=False) as r:
            r.log_metric("acc", 0.8 + i / 20)
    frame = client.search_runs(
        "search", filter="params.model = 'rf'", order_by=["metrics.acc desc"]
    )
    assert frame["name"].tolist() == ["r1", "r0"]
    assert {"run_id", "status", "params.model", "metrics.acc"} <= set(frame.columns)
    empty = client.search_runs("search", filter="metrics.acc > 5")
    assert len(empty) == 0
    assert "run_id" in empty.columns


def test_log_figure_stores_a_real_image(client: Client) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots()
    axes.plot([0, 1, 2], [3, 1, 2])
    with client.start_run("demo", capture=False) as run:
        png = run.log_figure(figure, "plots/loss.png")
        svg = run.log_figure(figure, "plots/loss.svg")
        with pytest.raises(InvalidInput, match="matplotlib Figure"):
            run.log_figure("not a figure", "x.png")
    plt.close(figure)
    assert client._backend.get_blob(png.digest).startswith(b"\x89PNG\r\n")
    assert b"<svg" in client._backend.get_blob(svg.digest)[:500]
