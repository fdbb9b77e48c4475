"""XGBoost: a Booster, or a scikit-learn-style model (XGBClassifier, XGBRegressor...), saved in
XGBoost's own format (UBJSON): no pickle, and readable by later XGBoost versions."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopline.errors import InvalidInput
from loopline.registry.flavors._base import class_modules

__all__ = ["XGBoostFlavor"]

FILE = "model.ubj"


class XGBoostPredictor:
    def __init__(self, native: Any, *, booster: bool) -> None:
        self.native = native
        self._booster = booster
        if not booster and hasattr(native, "predict_proba"):
            self.predict_proba = native.predict_proba

    def predict(self, data: Any) -> Any:
        if self._booster:
            import xgboost

            return self.native.predict(xgboost.DMatrix(data))
        return self.native.predict(data)


class XGBoostFlavor:
    name = "xgboost"
    libraries = ("xgboost",)

    def handles(self, model: object) -> bool:
        return type(model).__module__.partition(".")[0] == "xgboost" or (
            "xgboost" in class_modules(model) and hasattr(model, "save_model")
        )

    def save(self, model: Any, folder: Path, options: Mapping[str, Any]) -> dict[str, Any]:
        import xgboost

        booster = isinstance(model, xgboost.Booster)
        if not booster and not isinstance(model, xgboost.XGBModel):
            raise InvalidInput(
                f"The xgboost flavor saves a Booster or an XGBModel, not a {type(model).__name__}."
            )
        model.save_model(str(folder / FILE))
        kind = type(model)
        return {
            "file": FILE,
            "format": "ubj",
            "booster": booster,
            "class": f"{kind.__module__}:{kind.__qualname__}",
        }

    def load(self, folder: Path, meta: Mapping[str, Any]) -> XGBoostPredictor:
        import xgboost

        path = str(folder / meta.get("file", FILE))
        if meta.get("booster", True):
            booster = xgboost.Booster()
            booster.load_model(path)
            return XGBoostPredictor(booster, booster=True)
        module, _, name = str(meta["class"]).partition(":")
        cls = getattr(importlib.import_module(module), name)
        model = cls()
        model.load_model(path)
        return XGBoostPredictor(model, booster=False)
