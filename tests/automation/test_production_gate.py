"""``ll.gate(..., production=endpoint)``: the labelled predictions an endpoint logged are judged
as a data set of their own, next to the holdout; too few of them are left out with a note."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

import loopline as ll
from loopline import Client
from loopline.backends import LocalBackend
from loopline.errors import InvalidInput
from loopline.monitoring._evaluation import table_to_parquet
from tests.fixtures.automation_ui_data import MODEL, register_version
from tests.monitoring.helpers import predictions


def frame(seed: int, n: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    return x, (x.a + x.b > 0).astype(int)


def test_production_data_is_judged_as_its_own_set(embedded: Client) -> None:
    backend = embedded._backend
    assert isinstance(backend, LocalBackend)
    register_version(embedded, "loop", 0)
    backend.registry.set_alias("loop", MODEL, "champion", 1, actor="ada")
    # The endpoint logged 60 predictions an hour ago; 50 of them got labels since. In
    # production the truth is "a > 0" (the world moved): the champion learnt "a + b > 0".
    live, _ = frame(5, 60)
    truth = (live.a > 0).astype(int)
    ids = [f"r{i}" for i in range(60)]
    table = predictions(ids, start=datetime.now(UTC) - timedelta(hours=1), step=timedelta(
        seconds=1), model=MODEL, inputs={c: live[c].tolist() for c in live.columns})  # fmt: skip
    backend.append_predictions("loop", "api", table_to_parquet(table))
    ll.log_labels("api", {i: int(v) for i, v in zip(ids[:50], truth, strict=False)},
                  project="loop", client=embedded)  # fmt: skip

    x, y = frame(1, 200)
    retrained = LogisticRegression().fit(live, truth)  # learnt the new world
    with embedded.start_run(project="loop"):
        judged = ll.gate(retrained, "champion", (x, y), model=MODEL, register=False,
                         metrics={"accuracy": "abs >= 0.5"}, production="api",
                         client=embedded)  # fmt: skip
        stale = ll.gate(DummyClassifier(strategy="constant", constant=0).fit(x, y),
                        "champion", (x, y), model=MODEL, register=False,
                        metrics={"accuracy": "abs >= 0.6"},
                        production={"endpoint": "api", "since": "2h", "min_rows": 10},
                        client=embedded)  # fmt: skip
        sparse = ll.gate(retrained, "champion", (x, y), model=MODEL, register=False,
                         metrics={"accuracy": "abs >= 0.5"},
                         production={"endpoint": "api", "min_rows": 500},
                         client=embedded)  # fmt: skip
    production = [f for f in judged.figures if f.data == "production"]
    assert [f.metric for f in production] == ["accuracy"]
    assert production[0].challenger is not None
    assert production[0].challenger > 0.9
    assert production[0].champion is not None
    assert production[0].champion < production[0].challenger
    assert judged.passed
    assert not stale.passed  # judged on both sets; the constant model fails
    assert {f.data for f in stale.figures} == {"holdout", "production"}
    assert sparse.passed
    assert {f.data for f in sparse.figures} == {"holdout"}
    assert "50 labelled predictions of api" in sparse.message
    with pytest.raises(InvalidInput, match="production"):
        ll.gate(retrained, "champion", (x, y), model=MODEL, register=False,
                metrics={"accuracy": 0.1}, production={"endpoint": "api", "window": 3},
                client=embedded)  # fmt: skip
