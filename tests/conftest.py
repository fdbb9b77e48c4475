"""Fixtures every test area shares: a clean environment, databases, backends, servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from hypothesis.database import DirectoryBasedExampleDatabase

from loopline.backends import Backend, LocalBackend, RemoteBackend
from loopline.config import Settings
from loopline.server import create_app
from tests.fixtures.server import serving

pytest_plugins = ["tests.fixtures.databases", "tests.fixtures.s3"]

# One example database at a fixed place (tests chdir into temporary homes, and hypothesis would
# otherwise look for `.hypothesis` in each), and no per-example deadline: speed is measured in
# benchmarks/, and a deadline only makes tests flaky on a busy 2-core CI machine.
hypothesis_settings.register_profile(
    "loopline",
    database=DirectoryBasedExampleDatabase(Path(__file__).resolve().parents[1] / ".hypothesis"),
    deadline=None,
)
hypothesis_settings.load_profile("loopline")


@pytest.fixture(autouse=True)
def clean_environ(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """No test sees the developer's LOOPLINE_* settings or home folder, or leaves files in them,
    and each test's one-liners (ll.start_run...) get a default client of their own."""
    from loopline._client import reset_default_client

    for name in list(os.environ):
        if name.startswith("LOOPLINE_"):
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home)
    reset_default_client()
    yield home
    reset_default_client()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Local-mode settings on a fresh database (SQLite or PostgreSQL) and a fresh blob folder."""
    return Settings.from_env(
        {
            "LOOPLINE_HOME": str(tmp_path / "home"),
            "LOOPLINE_URI": database_url,
            "LOOPLINE_ARTIFACTS": str(tmp_path / "blobs"),
            # Tests migrate PostgreSQL on first use too; production asks for `loopline db upgrade`.
            "LOOPLINE_AUTO_UPGRADE": "1",
        }
    )


@pytest.fixture
def local_backend(settings: Settings) -> Iterator[LocalBackend]:
    backend = LocalBackend.open(settings)
    yield backend
    backend.close()


@pytest.fixture
def server_url(local_backend: LocalBackend) -> Iterator[str]:
    """A real server over ``local_backend``, on a free loopback port."""
    with serving(create_app(backend=local_backend)) as url:
        yield url


@pytest.fixture(params=["local", "remote"])
def backend(request: pytest.FixtureRequest, local_backend: LocalBackend) -> Iterator[Backend]:
    """The same store reached in-process and through the HTTP server: tests run on both."""
    if request.param == "local":
        yield local_backend
        return
    url: str = request.getfixturevalue("server_url")
    remote = RemoteBackend.open(
        Settings.from_env({"LOOPLINE_URI": url, "LOOPLINE_HTTP_RETRIES": "2"})
    )
    yield remote
    remote.close()
