"""Real processes for the agent tests: a `loopline server` and `loopline agent`s, by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tests.fixtures.server import free_port, wait_until_answers

T = TypeVar("T")


class Processes:
    """Starts the processes of one test and stops every one it started (only those)."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.started: list[subprocess.Popen[bytes]] = []
        self.server: subprocess.Popen[bytes] | None = None

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "loopline", *args],
            env=self.env,
            cwd=self.folder,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.started.append(process)
        return process

    def start_server(self) -> None:
        self.server = self._spawn(
            "server",
            [
                "server",
                "--port",
                str(self.port),
                "--db",
                f"sqlite:///{self.folder / 'server.db'}",
                "--artifacts",
                str(self.folder / "blobs"),
                "--log-level",
                "warning",
            ],
        )
        wait_until_answers(f"{self.url}/healthz", timeout=60)

    def stop_server(self) -> None:
        assert self.server is not None
        stop(self.server)
        self.server = None

    def start_agent(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        return self._spawn(
            f"agent-{name}",
            ["agent", "--server", self.url, "--name", name, "--poll", "0.1", *args],
        )

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        for process in self.started:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(OSError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.kill(process.pid, signal.SIGKILL)
            process.wait()


def eventually(check: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    """Poll ``check`` until it answers something truthy (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
