"""Every flavor round-trips: train a tiny model, log, register, load in a fresh process,
predictions equal. One fresh process loads every flavor at once, on each backend and database."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.registry import helpers

from loopline import Client, ModelRegistry
from loopline.config import Settings

ROOT = Path(__file__).resolve().parents[2]
HAS = {m: importlib.util.find_spec(m) is not None for m in ("xgboost", "lightgbm", "torch", "onnx")}
MISSING = {
    "xgboost": "xgboost is not installed (make install brings xgboost-cpu)",
    "lightgbm": "lightgbm is not installed (the 'lightgbm' extra)",
    "torch": "torch is not installed (make install adds the CPU wheel from /opt/wheels)",
    "onnx": "onnx/onnxruntime/skl2onnx are not installed (the 'onnx' extra)",
}

# The fresh process: load each model by its registry URI, predict, save the outputs.
LOADER = """
import json, sys
import numpy as np
import loopline as ll

spec = json.loads(open(sys.argv[1]).read())
x = np.load(spec["x"])
for name, item in spec["models"].items():
    model = ll.load_model(item["uri"])
    np.save(item["out"], np.asarray(model.predict(x), dtype=float))
    if item.get("proba"):
        np.save(item["out"] + ".proba.npy", np.asarray(model.predict_proba(x), dtype=float))
print("loaded", len(spec["models"]))
"""


def _data() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(80, 2)).astype(np.float32)
    y = (x[:, 0] - x[:, 1] > 0).astype(np.int64)
    return x, y


def _trainers(
    tmp: Path,
) -> dict[str, Callable[[np.ndarray[Any, Any], np.ndarray[Any, Any]], tuple[Any, dict[str, Any]]]]:
    """name -> trains (x, y) and returns (model, log_model keyword arguments)."""

    def sklearn(x: Any, y: Any) -> tuple[Any, dict[str, Any]]:
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y), {}

    def xgb_booster(x: Any, y: Any) -> tuple[Any, dict[str, Any]]:
        import xgboost

        data = xgboost.DMatrix(x, label=y)
        return xgboost.train({"max_depth": 2, "objective": "binary:logistic"}, data, 5), {}

    def xgb_classifier(x: Any, y: Any) -> tuple[Any, dict[str, Any]]:
        import xgboost

        return xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(x, y), {}

    def lgb_booster(x: Any, y: Any) -> tuple[Any, dict[str, Any]]:
        import lightgbm

        data = lightgbm.Dataset(x, label=y)
        params = {"objective": "binary", "verbose": -1, "min_data_in_leaf": 5}
        return lightgbm.train(params, data, num_boost_round=5), {}

    def lgb_classifier(x: Any, y: Any) -> tuple[Any, dict[str, Any]]:
        import lightgbm

        model = lightgbm.LGBMClassifier(n_estimators=5, min_child_samples=5, verbose=-1)
        return model.fit(x, y), {}

    def torch_script(x: Any, y: Any) -> tuple[Any, dict[str, Any]]:
        import torch

        with warnings.catch_warnings():  # deprecated in recent PyTorch, still what users have
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.script(helpers.tiny_net(hidden=3)), {}

    def torch_state(x: Any, y: Any) -> tuple[Any, dict[str, Any]]:
        return helpers.tiny_net(hidden=5), {"options": {"init": {"hidden": 5}}}

    def onnx(x: Any, y: Any) -> tuple[Any, dict[str, Any]]:
        from skl2onnx import to_onnx
        from sklearn.linear_model import LogisticRegression

        fitted = LogisticRegression().fit(x, y)
        return to_onnx(fitted, x[:1], options={id(fitted): {"zipmap": False}}), {}

    def pyfunc(x: Any, y: Any) -> tuple[Any, dict[str, Any]]:
        factor = tmp / "factor.txt"
        factor.write_text("2.5")
        return helpers.Doubler(), {"flavor": "pyfunc", "artifacts": {"factor": factor}}

    return {
        "sklearn": sklearn,
        "xgboost-booster": xgb_booster,
        "xgboost-classifier": xgb_classifier,
        "lightgbm-booster": lgb_booster,
        "lightgbm-classifier": lgb_classifier,
        "torch-script": torch_script,
        "torch-state-dict": torch_state,
        "onnx": onnx,
        "pyfunc": pyfunc,
    }


def _needs(name: str) -> str | None:
    library = name.split("-")[0]
    return None if HAS.get(library, True) else MISSING[library]


def _child_env(client: Client, settings: Settings, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    env.update({"PYTHONPATH": str(ROOT), "LOOPLINE_HOME": str(home), "LOOPLINE_PROJECT": "zoo"})
    if client.location.startswith("http"):
        env["LOOPLINE_URI"] = client.location
    else:
        assert settings.db_url is not None
        env["LOOPLINE_URI"] = settings.db_url.replace("postgresql+psycopg://", "postgresql://")
        env["LOOPLINE_ARTIFACTS"] = settings.artifacts
    return env


def test_every_flavor_round_trips_through_a_fresh_process(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    x, y = _data()
    registry = ModelRegistry(client)
    expected: dict[str, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]] = {}
    spec: dict[str, Any] = {"x": str(tmp_path / "x.npy"), "models": {}}
    np.save(spec["x"], x)
    skipped = []
    for name, train in _trainers(tmp_path).items():
        why = _needs(name)
        if why is not None:
            skipped.append(why)
            continue
        model, extra = train(x, y)
        with client.start_run("zoo", name=f"train-{name}", capture=False) as run:
            logged = registry.log_model(model, "model", input_example=x[:4], run=run, **extra)
        version = registry.register(logged, name)
        assert version.flavor == name.split("-")[0]
        assert version.signature is not None
        here = registry.load(version.uri)  # the same model, loaded in this process
        proba = here.predict_proba(x) if here.has_predict_proba else None
        expected[name] = (np.asarray(here.predict(x), dtype=float), proba)
        spec["models"][name] = {
            "uri": f"models:/{name}/1",
            "out": str(tmp_path / f"{name}.npy"),
            "proba": proba is not None,
        }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", LOADER, str(tmp_path / "spec.json")],
        env=_child_env(client, settings, tmp_path / "fresh-home"),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name, (predictions, proba) in expected.items():
        np.testing.assert_allclose(np.load(tmp_path / f"{name}.npy"), predictions, rtol=1e-6)
        if proba is not None:
            np.testing.assert_allclose(
                np.load(tmp_path / f"{name}.npy.proba.npy"), proba, rtol=1e-6
            )
    # The pyfunc model read its artifact after loading: 2.5 x the row sums.
    np.testing.assert_allclose(expected["pyfunc"][0], x.astype(float).sum(axis=1) * 2.5, rtol=1e-6)
    if skipped:
        pytest.skip("; ".join(skipped))


def test_the_sklearn_flavor_keeps_a_pipeline_on_a_frame(client: Client) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeRegressor

    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0, 1, 0, 1]})
    target = np.array([1.0, 2.0, 3.0, 4.0])
    pipeline = make_pipeline(StandardScaler(), DecisionTreeRegressor()).fit(frame, target)
    registry = ModelRegistry(client)
    with client.start_run("zoo", capture=False) as run:
        logged = registry.log_model(pipeline, input_example=frame, run=run)
    model = registry.load(logged.uri)
    np.testing.assert_allclose(model.predict(frame), pipeline.predict(frame))
    assert not model.has_predict_proba


@pytest.mark.skipif(not HAS["torch"], reason=MISSING["torch"])
def test_a_torch_class_from_the_script_itself_is_refused(client: Client) -> None:
    import torch

    from loopline.errors import InvalidInput

    class Local(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            return x

    with (
        client.start_run("zoo", capture=False) as run,
        pytest.raises(InvalidInput, match=r"torch\.jit\.script"),
    ):
        ModelRegistry(client).log_model(Local(), run=run)
