"""Registry fixtures: a Client on each backend (in-process and over HTTP), each database, and
tiny models that train in milliseconds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopline import Client
from loopline.config import Settings


@pytest.fixture(params=["local", "remote"])
def client(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Client]:
    """A client of the store ``settings`` describe, direct or through a server over it."""
    if request.param == "local":
        c = Client(settings=settings.with_(user="ada"))
    else:
        url: str = request.getfixturevalue("server_url")
        c = Client(
            settings=Settings.from_env(
                {
                    "LOOPLINE_URI": url,
                    "LOOPLINE_HOME": str(settings.home / "remote-client"),
                    "LOOPLINE_USER": "ada",
                }
            )
        )
    yield c
    c.close()


@pytest.fixture
def frame() -> tuple[pd.DataFrame, pd.Series]:
    """A small classification table: two numeric columns and a label."""
    rng = np.random.default_rng(7)
    x = pd.DataFrame({"width": rng.normal(size=60), "height": rng.normal(size=60)})
    y = pd.Series((x.width + x.height > 0).astype(int), name="label")
    return x, y


def blob_path(settings: Settings, digest: str) -> Path:
    """Where the local blob folder keeps ``digest`` (the server's too, in tests)."""
    return Path(settings.artifacts) / "sha256" / digest[:2] / digest
