"""The UI's route tests: one server over SDK-made data for the whole module set."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.fixtures.ui_data import UiData, ui_server

from loopline.backends import LocalBackend


@pytest.fixture(scope="session")
def ui_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, UiData, LocalBackend]]:
    with ui_server(tmp_path_factory.mktemp("ui")) as site:
        yield site


@pytest.fixture(scope="session")
def ui_data(ui_site: tuple[str, UiData, LocalBackend]) -> UiData:
    return ui_site[1]


@pytest.fixture
def web(ui_site: tuple[str, UiData, LocalBackend]) -> Iterator[httpx.Client]:
    """An HTTP client on the UI server that does not follow redirects."""
    with httpx.Client(base_url=ui_site[0], timeout=30) as client:
        yield client
