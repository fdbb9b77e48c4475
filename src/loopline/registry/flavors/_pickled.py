"""Pickle files for the flavors that have no safer format. Loading one runs code from the file:
the registry only loads models that were logged into this store (see docs/registry.md)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from loopline.errors import InvalidInput

__all__ = ["dump", "load"]


def dump(model: Any, path: Path) -> None:
    try:
        with path.open("wb") as f:
            pickle.dump(model, f, protocol=5)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise InvalidInput(
            f"Cannot save the {type(model).__name__} with pickle ({exc}). A class defined "
            f"inside a function cannot be pickled; define it at the top level of a module."
        ) from exc


def load(path: Path) -> Any:
    try:
        with path.open("rb") as f:
            return pickle.load(f)  # noqa: S301 - the registry's documented trust model
    except (AttributeError, ModuleNotFoundError) as exc:
        raise InvalidInput(
            f"Cannot load the model in {path.name}: {exc}. Its class must be importable here "
            f"under the name it had when it was logged (define it in a module, not in the "
            f"script's __main__, and install that module where the model is loaded)."
        ) from exc
