"""The Executor protocol: four methods between the runner and wherever steps execute."""

from __future__ import annotations

from typing import Protocol

from loopline.pipelines._worker import Outcome, Task

__all__ = ["Executor"]


class Executor(Protocol):
    """Runs tasks somewhere and reports their outcomes; the runner decides everything else.

    A queue or Ray executor implements the same four methods. Example (a sequential one, the
    whole of it)::

        class InlineExecutor:
            def __init__(self):
                self.done = []
            def submit(self, task):
                self.done.append(execute(task))
            def wait(self, timeout):
                done, self.done = self.done, []
                return done
            def cancel(self, step):
                pass
            def release(self):
                pass
    """

    def submit(self, task: Task) -> None:
        """Start ``task`` (or queue it until a worker is free)."""
        ...

    def wait(self, timeout: float | None) -> list[Outcome]:
        """Outcomes that arrived, waiting up to ``timeout`` seconds for the first one. A task
        past its timeout, or whose worker died, comes back as a failed outcome."""
        ...

    def cancel(self, step: str) -> None:
        """Stop the task of ``step``: SIGTERM, then SIGKILL after a grace period."""
        ...

    def release(self) -> None:
        """The run is over: give the workers back (a shared pool keeps them alive)."""
        ...
