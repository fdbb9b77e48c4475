"""A gate in a run of one project judges against that project's champion, whatever the
client's default project is (a pipeline step's client is not set to the run's project)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import loopline as ll
from loopline import Client
from loopline._models import ModelRegistry
from loopline.config import Settings


def test_the_champion_is_looked_up_in_the_runs_project(tmp_path: Path) -> None:
    client = Client(
        settings=Settings.from_env(
            {
                "LOOPLINE_HOME": str(tmp_path / "home"),
                "LOOPLINE_URI": f"sqlite:///{tmp_path / 'store.db'}",
                "LOOPLINE_PROJECT": "default",
            }
        )
    )
    with client:
        rng = np.random.default_rng(0)
        x = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
        y = (x.a > 0).astype(int)
        registry = ModelRegistry(client)
        with client.start_run(project="lab") as run:
            registry.log_model(LogisticRegression().fit(x, y), input_example=x.head(2))
        registry.register(f"runs:/{run.id}/model", "sign", project="lab")
        registry.set_alias("sign", "champion", 1, project="lab")
        with client.start_run(project="lab"):
            result = ll.gate(
                LogisticRegression(C=0.5).fit(x, y),
                "champion",
                (x, y),
                model="sign",
                metrics={"accuracy": ">= -0.05"},
                client=client,
            )
    assert result.project == "lab"
    assert result.champion_version == 1
    assert result.challenger_version == 2
    assert all(f.champion is not None for f in result.figures)
