"""LightGBM: a Booster in LightGBM's text format (no pickle), or a scikit-learn-style model
(LGBMClassifier, LGBMRegressor...), pickled (its class labels and settings live only there)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopline.registry.flavors import _pickled
from loopline.registry.flavors._base import class_modules

__all__ = ["LightGBMFlavor"]

TEXT = "model.txt"
PICKLE = "model.pkl"


class LightGBMPredictor:
    def __init__(self, native: Any) -> None:
        self.native = native
        if hasattr(native, "predict_proba"):
            self.predict_proba = native.predict_proba

    def predict(self, data: Any) -> Any:
        return self.native.predict(data)


class LightGBMFlavor:
    name = "lightgbm"
    libraries = ("lightgbm",)

    def handles(self, model: object) -> bool:
        return "lightgbm" in class_modules(model)

    def save(self, model: Any, folder: Path, options: Mapping[str, Any]) -> dict[str, Any]:
        import lightgbm

        if isinstance(model, lightgbm.Booster):
            model.save_model(str(folder / TEXT))
            return {"file": TEXT, "format": "text"}
        _pickled.dump(model, folder / PICKLE)
        return {"file": PICKLE, "format": "pickle"}

    def load(self, folder: Path, meta: Mapping[str, Any]) -> LightGBMPredictor:
        if meta.get("format") == "text":
            import lightgbm

            return LightGBMPredictor(lightgbm.Booster(model_file=str(folder / meta["file"])))
        return LightGBMPredictor(_pickled.load(folder / meta.get("file", PICKLE)))
