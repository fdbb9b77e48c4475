"""Pipeline fixtures: a Client on each backend (in-process and over HTTP), each database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loopline import Client
from loopline.config import Settings
from tests.pipelines.flows import CALLS_FILE


@pytest.fixture(params=["local", "remote"])
def client(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Client]:
    """A client of the store ``settings`` describe, direct or through a server over it."""
    if request.param == "local":
        c = Client(settings=settings)
    else:
        url: str = request.getfixturevalue("server_url")
        c = Client(
            settings=Settings.from_env(
                {"LOOPLINE_URI": url, "LOOPLINE_HOME": str(settings.home / "remote-client")}
            )
        )
    yield c
    c.close()


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file each step execution appends its name to (worker processes inherit the path)."""
    path = tmp_path / "calls.txt"
    path.touch()
    monkeypatch.setenv(CALLS_FILE, str(path))
    return path


def executed(calls: Path) -> list[str]:
    return calls.read_text().splitlines()
