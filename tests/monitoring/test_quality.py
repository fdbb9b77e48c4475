"""Live quality: scores per window and model version once labels are joined, and latency."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    precision_score,
    recall_score,
    roc_auc_score,
)
from tests.monitoring.helpers import T0, UTC_US, labels, predictions

from loopline.errors import InvalidInput
from loopline.monitoring import EvaluationStore, live_quality
from loopline.monitoring._quality import classification_scores, guess_task

HOUR = timedelta(hours=1)


def _binary_log(store: EvaluationStore, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two hours of a binary classifier (version 1, then 2), all labelled."""
    rng = np.random.default_rng(seed)
    n = 120
    truth = rng.integers(0, 2, n)
    score = np.clip(truth * 0.3 + rng.uniform(0, 0.7, n), 0, 1)
    output = (score > 0.5).astype(int)
    for version, part in ((1, slice(0, 60)), (2, slice(60, 120))):
        ids = [f"r{i}" for i in range(n)][part]
        batch = predictions(
            ids,
            start=T0 + (version - 1) * HOUR,
            version=version,
            output=output[part].tolist(),
            proba=False,
        ).append_column(
            "proba",
            pa.array([[1 - s, s] for s in score[part]], pa.list_(pa.float64())),
        )
        store.append_predictions("demo", "api", batch)
    store.append_labels("demo", "api", labels({f"r{i}": int(truth[i]) for i in range(n)}))
    return truth, output, score


def test_classification_scores_per_window_match_sklearn(tmp_path: Path) -> None:
    store = EvaluationStore(str(tmp_path))
    truth, output, score = _binary_log(store)
    frame = live_quality(store, "demo", "api", every=HOUR)
    assert list(frame["version"]) == [1, 2]
    assert list(frame["window_start"]) == [T0, T0 + HOUR]
    for row, part in zip(frame.itertuples(), (slice(0, 60), slice(60, 120)), strict=True):
        t, o, s = truth[part], output[part], score[part]
        assert row.labelled == 60
        assert row.accuracy == pytest.approx(accuracy_score(t, o))
        assert row.precision == pytest.approx(precision_score(t, o))
        assert row.recall == pytest.approx(recall_score(t, o))
        assert row.f1 == pytest.approx(f1_score(t, o))
        assert row.auc == pytest.approx(roc_auc_score(t, s))


def test_regression_scores_and_latency(tmp_path: Path) -> None:
    store = EvaluationStore(str(tmp_path))
    ids = [f"r{i}" for i in range(10)]
    out = [float(i) for i in range(10)]
    errors = [None] * 9 + ["timeout"]
    batch = predictions(ids, output=out, errors=errors, proba=False)
    store.append_predictions("demo", "prices", batch)
    truth = {f"r{i}": float(i) + (0.5 if i % 2 else -1.5) for i in range(10)}
    truth["r8"] = 8.0  # a perfect prediction
    store.append_labels("demo", "prices", labels(truth))
    frame = live_quality(store, "demo", "prices", every=timedelta(days=1))
    row = frame.iloc[0]
    # The failed request (r9) is not scored; its latency and its error count.
    assert row["predictions"] == 10
    assert row["errors"] == 1
    assert row["error_rate"] == pytest.approx(0.1)
    predicted = np.array(out[:9])
    actual = np.array([truth[f"r{i}"] for i in range(9)])
    assert row["mae"] == pytest.approx(mean_absolute_error(actual, predicted))
    assert row["rmse"] == pytest.approx(float(np.sqrt(np.mean((predicted - actual) ** 2))))
    latencies = np.array([1.5 + i for i in range(10)])
    assert row["latency_p50"] == pytest.approx(np.quantile(latencies, 0.5))
    assert row["latency_p99"] == pytest.approx(np.quantile(latencies, 0.99))
    assert "accuracy" not in frame.columns


def test_windows_without_labels_have_no_scores_yet(tmp_path: Path) -> None:
    store = EvaluationStore(str(tmp_path))
    store.append_predictions("demo", "api", predictions(["a", "b"]))
    frame = live_quality(store, "demo", "api")
    assert frame["labelled"].tolist() == [0]
    assert math.isnan(frame["accuracy"].iloc[0])
    store.append_labels("demo", "api", labels({"a": 0}))
    frame = live_quality(store, "demo", "api", task="classification")
    assert frame["accuracy"].iloc[0] == 1.0
    assert live_quality(store, "demo", "nothing").empty


def test_multiclass_scores_are_macro_averages() -> None:
    predicted = ["cat", "dog", "dog", "bird", "cat", "bird"]
    actual = ["cat", "dog", "cat", "bird", "cat", "dog"]
    scores = classification_scores(predicted, actual)
    assert scores["accuracy"] == pytest.approx(accuracy_score(actual, predicted))
    assert scores["f1"] == pytest.approx(f1_score(actual, predicted, average="macro"))
    assert scores["precision"] == pytest.approx(precision_score(actual, predicted, average="macro"))
    assert math.isnan(scores["auc"])


def test_labels_of_other_types_match_outputs() -> None:
    # True, 1 and 1.0 are one class; the positive class can be named.
    scores = classification_scores([1, 0, 1], [True, False, False], positive=1)
    assert scores["precision"] == pytest.approx(0.5)
    assert scores["recall"] == pytest.approx(1.0)
    assert guess_task(["yes", "no"]) == "classification"
    assert guess_task([0, 1, 1]) == "classification"
    assert guess_task([0.5, 1.25, 3.0]) == "regression"


def test_a_bad_task_is_refused(tmp_path: Path) -> None:
    store = EvaluationStore(str(tmp_path))
    with pytest.raises(InvalidInput, match="'classification' or 'regression'"):
        live_quality(store, "demo", "api", task="ranking")  # type: ignore[arg-type]
    store.append_predictions("demo", "api", predictions(["a"], output=["x"], proba=False))
    store.append_labels("demo", "api", labels({"a": "y"}))
    with pytest.raises(InvalidInput, match="task='classification'"):
        live_quality(store, "demo", "api", task="regression")
    assert UTC_US.tz == "UTC"


def test_drift_of_an_endpoint_window_against_the_training_reference(tmp_path: Path) -> None:
    from loopline.monitoring import ReferenceProfile, endpoint_drift

    rng = np.random.default_rng(11)
    train = {"age": rng.normal(40, 10, 5000), "plan": rng.choice(["a", "b"], 5000)}
    profile = ReferenceProfile.from_frame(pd.DataFrame(train))
    store = EvaluationStore(str(tmp_path))
    n = 2000
    for day, shift in ((0, 0.0), (1, 5.0)):  # the second day's ages are 0.5 SD higher
        batch = predictions(
            [f"d{day}-{i}" for i in range(n)],
            start=T0 + timedelta(days=day),
            step=timedelta(seconds=1),
            inputs={
                "age": rng.normal(40 + shift, 10, n).tolist(),
                "plan": rng.choice(["a", "b"], n).tolist(),
            },
            proba=False,
        )
        store.append_predictions("demo", "api", batch)
    first = endpoint_drift(store, "demo", "api", profile, start=T0, end=T0 + timedelta(days=1))
    second = endpoint_drift(
        store, "demo", "api", profile, start=T0 + timedelta(days=1), end=T0 + timedelta(days=2)
    )
    assert first.drifted == []
    assert second.drifted == ["age"]
    assert second.current_rows == n
    inputs = store.inputs("demo", "api", start=T0, end=T0 + timedelta(days=1))
    assert list(inputs.columns) == ["age", "plan"]
