"""ONNX: an ``onnx.ModelProto``, run with ONNX Runtime on the CPU."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopline.registry.flavors._base import class_modules

__all__ = ["OnnxFlavor"]

FILE = "model.onnx"
_NUMPY_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


class OnnxPredictor:
    def __init__(self, session: Any) -> None:
        self.native = session
        self._inputs = session.get_inputs()
        self._outputs = [o.name for o in session.get_outputs()]

    def _feed(self, data: Any) -> dict[str, Any]:
        import numpy as np
        import pandas as pd

        names = [i.name for i in self._inputs]
        if isinstance(data, pd.DataFrame) and len(names) > 1 and set(names) <= set(data.columns):
            return {
                i.name: data[i.name]
                .to_numpy()
                .astype(_NUMPY_TYPES.get(i.type, "float32"))
                .reshape(-1, 1)
                for i in self._inputs
            }
        if isinstance(data, pd.DataFrame):
            data = data.to_numpy()
        first = self._inputs[0]
        return {first.name: np.asarray(data).astype(_NUMPY_TYPES.get(first.type, "float32"))}

    def _run(self, data: Any) -> list[Any]:
        return list(self.native.run(self._outputs, self._feed(data)))

    def predict(self, data: Any) -> Any:
        return self._run(data)[0]

    def predict_proba(self, data: Any) -> Any:
        import numpy as np

        outputs = self._run(data)
        if len(outputs) < 2:
            raise AttributeError("this ONNX model has a single output: no probabilities")
        probabilities = outputs[1]
        if isinstance(probabilities, list) and probabilities and isinstance(probabilities[0], dict):
            # A ZipMap output (one {label: probability} per row): columns in label order.
            labels = sorted(probabilities[0])
            return np.array([[row[k] for k in labels] for row in probabilities])
        return np.asarray(probabilities)


class OnnxFlavor:
    name = "onnx"
    libraries = ("onnx", "onnxruntime")

    def handles(self, model: object) -> bool:
        return "onnx" in class_modules(model) and hasattr(model, "SerializeToString")

    def save(self, model: Any, folder: Path, options: Mapping[str, Any]) -> dict[str, Any]:
        (folder / FILE).write_bytes(model.SerializeToString())
        return {"file": FILE, "format": "onnx"}

    def load(self, folder: Path, meta: Mapping[str, Any]) -> OnnxPredictor:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: no warnings on stderr for every load
        session = onnxruntime.InferenceSession(
            str(folder / meta.get("file", FILE)), options, providers=["CPUExecutionProvider"]
        )
        return OnnxPredictor(session)
