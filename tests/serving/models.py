"""Models for serving tests, importable by name (pickled pyfunc classes must be)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


class Echo:
    """Answers ``x * factor``; raises on a negative ``x`` (a model that fails on some input)."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def load_context(self, context: Any) -> None:
        return None

    def predict(self, data: pd.DataFrame) -> np.ndarray[Any, Any]:
        x = np.asarray(data["x"], dtype=float)
        if (x < 0).any():
            raise ValueError("x must not be negative")
        return x * self.factor


class Broken(Echo):
    """Logs fine; refuses to load (its weights are "missing")."""

    def load_context(self, context: Any) -> None:
        raise RuntimeError("weights file is missing")
