"""Dataset fixtures: a Client on each backend (in-process and over HTTP), each database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loopline import Client
from loopline.config import Settings


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
def files(tmp_path: Path) -> Path:
    """A small folder to commit: three text files, one in a sub-folder."""
    root = tmp_path / "src"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "b.txt").write_text("beta\n")
    (root / "sub" / "c.txt").write_text("gamma\n")
    return root


def blob_files(settings: Settings) -> list[Path]:
    """Every blob in the local blob folder the settings name (the server's too, in tests)."""
    root = Path(settings.artifacts) / "sha256"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def blob_path(settings: Settings, digest: str) -> Path:
    return Path(settings.artifacts) / "sha256" / digest[:2] / digest
