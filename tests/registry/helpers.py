"""Model classes the registry tests log: importable (by this module's name) from a fresh process,
as a user's own modules would be."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class Doubler:
    """A pyfunc model: reads a factor from an artifact file, multiplies the input by it."""

    def __init__(self) -> None:
        self.factor = 0.0

    def load_context(self, context: Any) -> None:
        self.factor = float(Path(context.artifacts["factor"]).read_text())

    def predict(self, data: Any) -> Any:
        return np.asarray(data, dtype=float).sum(axis=1) * self.factor


def tiny_net(hidden: int = 4) -> Any:
    """A small torch module (built here so that torch is imported only by the tests that use it)."""
    import torch

    class_ = _net_class()
    torch.manual_seed(0)
    return class_(hidden=hidden)


def _net_class() -> Any:
    return TinyNet


try:  # the class must live at module level to be importable by name from another process
    import torch

    class TinyNet(torch.nn.Module):
        def __init__(self, hidden: int = 4) -> None:
            super().__init__()
            self.layers = torch.nn.Sequential(
                torch.nn.Linear(2, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.layers(x)
            return out

except ImportError:  # torch absent: its tests skip
    pass
