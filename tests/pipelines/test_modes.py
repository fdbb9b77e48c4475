"""Debug and run modes, caching and partial runs, over both databases and both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

import loopline as ll
from loopline.errors import InvalidInput
from loopline.pipelines import PipelineFailed
from tests.pipelines import flows
from tests.pipelines.conftest import executed


def test_debug_runs_in_process_and_records_each_step(client: ll.Client, calls: Path) -> None:
    result = flows.training.debug(client=client, project="p", n=10)
    assert result.status == "succeeded"
    assert result.ran == ["load", "split", "train", "evaluate", "ship"]
    assert result.output("split", "train") == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert result.output("ship") == "shipped 1.000"
    train = result.record.step("train")
    run = client.get_run(train.run_id or "")
    assert run.parent_id == result.id
    assert run.params == {"lr": "0.1"}
    assert run.metrics["loss"] == pytest.approx(0.9)
    assert executed(calls) == ["load", "split", "train", "evaluate", "ship"]


def test_debug_exceptions_propagate(client: ll.Client) -> None:
    with pytest.raises(ValueError, match="bad value 7"):
        flows.failing.debug(client=client, project="p", x=7)
    (failed,) = client._backend.list_pipeline_runs("p", "failing")
    assert failed.status == "failed"
    assert "bad value 7" in (failed.step("boom").error or "")


def test_step_through_lets_you_look_between_steps(client: ll.Client) -> None:
    session = flows.training.debug(step_through=True, client=client, project="p", n=4)
    assert isinstance(session, ll.pipelines.DebugSession)
    assert session.next() == "load"
    assert session.outputs == {"load": [0.0, 1.0, 2.0, 3.0]}
    assert session.upcoming == ["split"]
    assert session.next() == "split"
    assert session.outputs["split"] == ([0.0, 1.0], [2.0, 3.0])
    result = session.finish()
    assert result.status == "succeeded"
    assert session.done
    with pytest.raises(InvalidInput, match="is over"):
        session.next()


def test_run_mode_executes_in_workers_then_caches(client: ll.Client) -> None:
    first = flows.training.run(client=client, project="p", n=10, lr=0.2)
    assert first.status == "succeeded"
    assert first.ran == ["load", "split", "train", "evaluate", "ship"]
    assert first.output("ship") == "shipped 2.000"
    train = client.get_run(first.record.step("train").run_id or "")
    assert train.metrics["loss"] == pytest.approx(0.8)
    console = client.read_console(train.id).text
    assert "training on 5 rows" in console

    again = flows.training.run(client=client, project="p", n=10, lr=0.2)
    assert again.ran == []
    assert again.cached == first.ran
    assert again.record.step("train").source_run == first.record.step("train").run_id
    assert again.output("ship") == "shipped 2.000"

    changed = flows.training.run(client=client, project="p", n=10, lr=0.3)
    assert changed.cached == ["load", "split"]
    assert changed.ran == ["train", "evaluate", "ship"]

    uncached = flows.training.run(client=client, project="p", n=10, lr=0.3, cache=False)
    assert uncached.cached == []
    assert uncached.ran == ["load", "split", "train", "evaluate", "ship"]


def test_fan_out_fan_in_and_conditions(client: ll.Client) -> None:
    assert flows.fan.run(client=client, project="p").output("total") == 0 + 1 + 4 + 9
    gated = flows.training.run(client=client, project="p", n=2, lr=0.0)
    assert gated.output("evaluate", 1) is False
    assert gated.skipped == ["ship"]
    assert gated.status == "succeeded"


def test_partial_runs_reuse_an_earlier_run_or_the_cache(client: ll.Client) -> None:
    whole = flows.training.run(client=client, project="p", n=10)
    part = flows.training.run(
        client=client, project="p", n=10, lr=0.5, only=["train", "evaluate"], reuse="latest"
    )
    assert part.ran == ["train", "evaluate"]
    assert part.reused == ["load", "split", "ship"]
    assert part.record.step("load").source_run == whole.record.step("load").run_id
    assert part.record.step("train").run_id != whole.record.step("train").run_id

    tail = flows.training.run(client=client, project="p", n=10, from_step="train", cache=False)
    assert tail.ran == ["train", "evaluate", "ship"]
    assert tail.cached == ["load", "split"]

    with pytest.raises(InvalidInput, match="Run it too, or pass reuse="):
        flows.training.run(client=client, project="p", n=11, only=["train"])


def test_a_failed_step_fails_the_run_and_names_the_error(client: ll.Client) -> None:
    with pytest.raises(PipelineFailed, match="bad value 3") as info:
        flows.failing.run(client=client, project="p", x=3)
    assert info.value.result.failed.keys() == {"boom"}
    result = flows.failing.run(client=client, project="p", x=3, raise_on_failure=False)
    assert result.status == "failed"
    assert client.get_run(result.id).status == "failed"


def test_retries_run_a_failing_step_again(client: ll.Client, tmp_path: Path) -> None:
    result = flows.retrying.run(client=client, project="p", marker=str(tmp_path / "m"))
    assert result.output("flaky") == "ok after 3"
    assert result.record.step("flaky").attempt == 3


def test_a_non_serialisable_output_names_step_and_type(client: ll.Client) -> None:
    with pytest.raises(PipelineFailed, match=r"lock.*lock.*register_materializer"):
        flows.unstorable.run(client=client, project="p")
