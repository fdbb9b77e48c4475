"""scikit-learn: any estimator or pipeline, pickled."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopline.registry.flavors import _pickled
from loopline.registry.flavors._base import class_modules

__all__ = ["SklearnFlavor"]

FILE = "model.pkl"


class SklearnPredictor:
    def __init__(self, native: Any) -> None:
        self.native = native
        if hasattr(native, "predict_proba"):
            self.predict_proba = native.predict_proba

    def predict(self, data: Any) -> Any:
        return self.native.predict(data)


class SklearnFlavor:
    name = "sklearn"
    libraries = ("sklearn",)

    def handles(self, model: object) -> bool:
        return "sklearn" in class_modules(model) and hasattr(model, "predict")

    def save(self, model: Any, folder: Path, options: Mapping[str, Any]) -> dict[str, Any]:
        _pickled.dump(model, folder / FILE)
        return {"file": FILE, "format": "pickle", "class": _qualified(model)}

    def load(self, folder: Path, meta: Mapping[str, Any]) -> SklearnPredictor:
        return SklearnPredictor(_pickled.load(folder / meta.get("file", FILE)))


def _qualified(model: object) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"
