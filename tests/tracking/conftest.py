"""Tracking fixtures: a Client on each backend (in-process and over HTTP), each database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopline import Client
from loopline.config import Settings


@pytest.fixture(params=["local", "remote"])
def client(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Client]:
    if request.param == "local":
        c = Client(settings=settings)
    else:
        url: str = request.getfixturevalue("server_url")
        c = Client(
            settings=Settings.from_env({"LOOPLINE_URI": url, "LOOPLINE_HOME": str(settings.home)})
        )
    yield c
    c.close()
