"""Pipelines the tests run: importable by module and name, as worker processes need."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import NamedTuple

import loopline as ll

CALLS_FILE = "LL_TEST_CALLS"  # an env var naming a file each execution appends to


def _note(name: str) -> None:
    path = os.environ.get(CALLS_FILE)
    if path:
        with Path(path).open("a", encoding="utf-8") as out:
            out.write(name + "\n")


@ll.step
def load(n: int) -> list[float]:
    _note("load")
    return [float(i) for i in range(n)]


class Split(NamedTuple):
    train: list[float]
    test: list[float]


@ll.step
def split(data: list[float]) -> Split:
    _note("split")
    half = len(data) // 2
    return Split(data[:half], data[half:])


@ll.step
def train(data: list[float], lr: float = 0.1) -> float:
    _note("train")
    ll.log_metric("loss", 1.0 - lr)
    print(f"training on {len(data)} rows")
    return sum(data) * lr


@ll.step
def evaluate(model: float, test: list[float]) -> tuple[float, bool]:
    _note("evaluate")
    score = model / (1 + sum(test))
    return score, score > 0.01


@ll.step
def ship(model: float) -> str:
    _note("ship")
    return f"shipped {model:.3f}"


@ll.pipeline
def training(n: int = 10, lr: float = 0.1) -> None:
    data = load(n)
    parts = split(data)
    model = train(parts.train, lr)
    _score, good = evaluate(model, parts.test)
    with ll.when(good):
        ship(model)


@ll.step
def square(x: int) -> int:
    return x * x


@ll.step
def total(values: list[int]) -> int:
    return sum(values)


@ll.pipeline
def fan(k: int = 4) -> None:
    total([square(i) for i in range(4)])


@ll.step
def noop() -> None:
    pass


@ll.pipeline
def chain() -> None:
    for _ in range(5):
        noop()


@ll.step
def boom(x: int) -> int:
    raise ValueError(f"bad value {x}")


@ll.pipeline
def failing(x: int = 1) -> None:
    boom(x)


@ll.step(timeout=0.5)
def hang() -> None:
    time.sleep(60)


@ll.pipeline
def hanging() -> None:
    hang()


@ll.step
def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@ll.pipeline
def dying() -> None:
    die()


@ll.step(retries=2)
def flaky(marker: str) -> str:
    # Fails until the marker file has two lines: the third attempt succeeds.
    with Path(marker).open("a+", encoding="utf-8") as f:
        f.write("x\n")
        f.seek(0)
        tries = len(f.read().splitlines())
    if tries < 3:
        raise RuntimeError(f"attempt {tries} fails")
    return f"ok after {tries}"


@ll.pipeline
def retrying(marker: str) -> None:
    flaky(marker)


@ll.step
def lock() -> object:
    import threading

    return threading.Lock()


@ll.pipeline
def unstorable() -> None:
    lock()


@ll.step
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@ll.pipeline
def sleepy(seconds: float = 60.0) -> None:
    nap(seconds)


@ll.step
def fragile(data: list[float], marker: str) -> float:
    # Fails until the marker file exists: a failure the user fixes, then retries.
    _note("fragile")
    if not Path(marker).exists():
        raise RuntimeError("the marker is missing")
    return sum(data)


@ll.step
def report(total: float) -> str:
    _note("report")
    return f"total {total:g}"


@ll.pipeline
def mending(marker: str, n: int = 4) -> None:
    report(fragile(load(n), marker))
