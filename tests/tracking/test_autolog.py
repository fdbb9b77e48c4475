"""ll.autolog(): a scikit-learn fit records itself, once, without ever breaking training."""

from __future__ import annotations

import pickle
from collections.abc import Iterator

import pytest

pytest.importorskip("sklearn", reason="autolog records scikit-learn; install loopline[sklearn]")

from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import loopline as ll
from loopline import Client


@pytest.fixture
def autologging() -> Iterator[Client]:
    ll.autolog()
    yield ll.Client()
    ll.autolog(disable=True)


def test_a_fit_outside_a_run_becomes_a_run(autologging: Client) -> None:
    X, y = make_classification(n_samples=200, random_state=0)
    model = LogisticRegression(C=0.5, max_iter=200).fit(X, y)
    (run,) = autologging.list_runs("default")
    assert run.name == "LogisticRegression"
    assert run.status == "finished"
    assert run.params["C"] == "0.5"
    assert 0.5 < run.metrics["training_accuracy"] <= 1.0
    assert {"training_precision", "training_recall", "training_f1"} <= set(run.metrics)
    (artifact,) = autologging.list_artifacts(run.id)
    assert artifact.path == "model/model.pkl"
    restored = pickle.loads(autologging._backend.get_blob(artifact.digest))  # noqa: S301
    assert (restored.predict(X) == model.predict(X)).all()


def test_a_pipeline_records_one_fit_with_its_steps_params(autologging: Client) -> None:
    X, y = make_regression(n_samples=100, n_features=3, random_state=0)
    with ll.start_run(project="pipe", name="mine", capture=False) as run:
        make_pipeline(StandardScaler(), LinearRegression()).fit(X, y)
    info = autologging.get_run(run.id)
    assert info.params["steps"].startswith("[(")
    assert info.params["linearregression__fit_intercept"] == "True"
    assert info.metrics["training_r2"] > 0.9
    assert [r.name for r in autologging.list_runs("pipe")] == ["mine"], "no run per step"


def test_a_param_conflict_warns_but_training_goes_on(autologging: Client) -> None:
    X, y = make_classification(n_samples=50, random_state=0)
    with (
        ll.start_run(project="conflict", params={"C": "my own"}, capture=False),
        pytest.warns(RuntimeWarning, match="could not record"),
    ):
        model = LogisticRegression(C=2.0).fit(X, y)
    assert model.coef_.shape == (1, 20)


def test_an_inherited_fit_is_recorded_too(autologging: Client) -> None:
    from sklearn.ensemble import RandomForestRegressor

    X, y = make_regression(n_samples=60, n_features=3, random_state=0)
    RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)  # fit lives on BaseForest
    (run,) = autologging.list_runs("default")
    assert run.name == "RandomForestRegressor"
    assert run.params["n_estimators"] == "5"


def test_disable_restores_the_original_fit(autologging: Client) -> None:
    ll.autolog(disable=True)
    assert not hasattr(LogisticRegression.fit, "__loopline_autolog__")
    X, y = make_classification(n_samples=50, random_state=0)
    LogisticRegression().fit(X, y)
    assert autologging.list_projects() == []
