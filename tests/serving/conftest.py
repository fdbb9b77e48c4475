"""Serving fixtures: a client on each backend and database, registered models to serve, and
inference servers on free loopback ports."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

import loopline as ll
from loopline import Client
from loopline._endpoints import ClientControlPlane, Endpoints
from loopline.config import Settings
from loopline.serving._server import InferenceServer, ServeOptions
from tests.fixtures.server import serving
from tests.serving.models import Broken, Echo


@pytest.fixture(params=["local", "remote"])
def client(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Client]:
    """A client of the store ``settings`` describe, direct or through a server over it."""
    if request.param == "local":
        c = Client(settings=settings.with_(user="ada", project="shop"))
    else:
        url: str = request.getfixturevalue("server_url")
        c = Client(
            settings=Settings.from_env(
                {
                    "LOOPLINE_URI": url,
                    "LOOPLINE_HOME": str(settings.home / "remote-client"),
                    "LOOPLINE_USER": "ada",
                    "LOOPLINE_PROJECT": "shop",
                }
            )
        )
    yield c
    c.close()


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Client]:
    """The embedded default (SQLite and a local folder): where inference-server behaviour is
    tested (the service beneath is tested on every database and backend)."""
    c = Client(
        settings=Settings.from_env(
            {
                "LOOPLINE_HOME": str(tmp_path / "home"),
                "LOOPLINE_URI": f"sqlite:///{tmp_path / 'store.db'}",
                "LOOPLINE_USER": "ada",
                "LOOPLINE_PROJECT": "shop",
            }
        )
    )
    yield c
    c.close()


def register_echo(client: Client, name: str, factor: float, cls: type = Echo) -> int:
    """Register a pyfunc that answers x * factor; returns its version number."""
    from loopline._models import ModelRegistry

    registry = ModelRegistry(client)
    with client.start_run(project="shop") as run:
        if cls is Broken:  # logging loads a model to check its example: this one cannot load
            registry.log_model(cls(factor), signature=False)
        else:
            registry.log_model(cls(factor), input_example=pd.DataFrame({"x": [1.0, 2.0]}))
    return registry.register(f"runs:/{run.id}/model", name, project="shop").number


def register_sklearn(client: Client, name: str = "iris", seed: int = 0) -> int:
    """Register a 4-feature LogisticRegression (named columns a-d)."""
    from sklearn.linear_model import LogisticRegression

    from loopline._models import ModelRegistry

    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(200, 4)), columns=["a", "b", "c", "d"])
    y = (x.a + x.b > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    registry = ModelRegistry(client)
    with client.start_run(project="shop") as run:
        registry.log_model(model, input_example=x.head(3))
    return registry.register(f"runs:/{run.id}/model", name, project="shop").number


@contextmanager
def inference_server(
    client: Client, endpoint: str, **options: float
) -> Iterator[tuple[httpx.Client, InferenceServer]]:
    """An inference server for ``endpoint`` over ``client``, ready, with an HTTP client."""
    app = InferenceServer(
        ClientControlPlane(client),
        "shop",
        endpoint,
        ServeOptions(poll_seconds=options.get("poll_seconds", 0.1), log_seconds=0.2,
                     stats_seconds=0.2, max_body_bytes=int(options.get("max_body", 1 << 20))),
    )  # fmt: skip
    with serving(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        wait_ready(http)
        yield http, app


def wait_ready(http: httpx.Client, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while http.get("/readyz").status_code != 200:
        if time.monotonic() > deadline:
            raise AssertionError(f"the server never got ready: {http.get('/info').json()}")
        time.sleep(0.05)


def wait_for(predicate: object, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


__all__ = [
    "Broken",
    "Echo",
    "Endpoints",
    "inference_server",
    "ll",
    "register_echo",
    "register_sklearn",
    "wait_for",
    "wait_ready",
]
