"""Pipelines the agent tests run (importable by module and name; agents get a code snapshot)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import loopline as ll

GATE = "LL_TEST_GATE"
"""An env var naming a folder: `slow` writes `started-<pid>` there and waits for `release`."""


@ll.step
def numbers(n: int) -> list[int]:
    return list(range(n))


@ll.step
def total(values: list[int]) -> int:
    ll.log_metric("total", float(sum(values)))
    print(f"summing {len(values)} values")
    return sum(values)


@ll.step
def slow(values: list[int]) -> int:
    folder = Path(os.environ[GATE])
    (folder / f"started-{os.getpid()}").touch()
    while not (folder / "release").exists():
        time.sleep(0.05)
    return len(values)


@ll.step
def report(count: int, summed: int) -> str:
    return f"{count} values, total {summed}"


@ll.pipeline
def summing(n: int = 5) -> None:
    values = numbers(n)
    report(slow(values), total(values))


@ll.pipeline
def quick(n: int = 5) -> None:
    total(numbers(n))


@ll.step(resources={"gpu": 1})
def on_gpu(values: list[int]) -> str:
    return f"gpu step saw {len(values)} values"


@ll.pipeline
def mixed(n: int = 3) -> None:
    values = numbers(n)
    on_gpu(values)
    total(values)


@ll.step(timeout=1)
def sleepy(values: list[int]) -> int:
    time.sleep(60)
    return len(values)


@ll.pipeline
def hangs(n: int = 2) -> None:
    sleepy(numbers(n))


@ll.step
def chatty(values: list[int]) -> int:
    """Prints, then waits at the gate: its output must reach the run before it ends."""
    folder = Path(os.environ[GATE])
    print(f"working on {len(values)} values", flush=True)
    while not (folder / "release").exists():
        time.sleep(0.05)
    print("done")
    return len(values)


@ll.pipeline
def talks(n: int = 3) -> None:
    chatty(numbers(n))
