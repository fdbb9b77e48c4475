"""Worker processes: a hanging step times out, a dying worker fails its step (local backend:
these are about processes, not stores)."""

from __future__ import annotations

import loopline as ll
from loopline.config import Settings
from tests.pipelines import flows


def test_a_hanging_step_is_stopped_at_its_timeout(settings: Settings) -> None:
    with ll.Client(settings=settings) as client:
        result = flows.hanging.run(client=client, project="p", raise_on_failure=False)
    assert result.status == "failed"
    assert "timed out after 0.5 s" in result.failed["hang"]


def test_a_dying_worker_fails_its_step_with_the_signal(settings: Settings) -> None:
    with ll.Client(settings=settings) as client:
        result = flows.dying.run(client=client, project="p", raise_on_failure=False)
        assert "died (killed by SIGKILL)" in result.failed["die"]
        # The pool replaced the worker: the next run works.
        assert flows.fan.run(client=client, project="p").output("total") == 14


def test_steps_defined_in_a_script_ship_by_value(settings: Settings) -> None:
    # A step made here (not importable by module and name) is pickled for the workers.
    @ll.step
    def double(x: int) -> int:
        return 2 * x

    @ll.pipeline
    def local_flow(x: int = 4) -> None:
        double(x)

    with ll.Client(settings=settings) as client:
        assert local_flow.run(client=client, project="p").output("double") == 8
