"""The Flavor protocol, the name -> class table, and detection of a model's flavor."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from loopline.errors import InvalidInput, did_you_mean

__all__ = [
    "FLAVORS",
    "Flavor",
    "Predictor",
    "flavor_for",
    "flavor_names",
    "get_flavor",
    "class_modules",
    "library_version",
]

FLAVORS: dict[str, str] = {
    # Detection tries them in this order: XGBoost's and LightGBM's scikit-learn-style models
    # are scikit-learn estimators too, so they are asked before scikit-learn.
    "xgboost": "loopline.registry.flavors._xgboost:XGBoostFlavor",
    "lightgbm": "loopline.registry.flavors._lightgbm:LightGBMFlavor",
    "torch": "loopline.registry.flavors._torch:TorchFlavor",
    "onnx": "loopline.registry.flavors._onnx:OnnxFlavor",
    "sklearn": "loopline.registry.flavors._sklearn:SklearnFlavor",
    "pyfunc": "loopline.registry.flavors._pyfunc:PyfuncFlavor",
}
"""Built-in flavors: name -> ``module:Class``."""

ENTRY_POINT_GROUP = "loopline.flavors"


@runtime_checkable
class Predictor(Protocol):
    """A loaded model, as a flavor hands it over: ``predict`` (and ``predict_proba`` where the
    model has one) on data that already matches the signature; ``native`` is the library's own
    object (a scikit-learn estimator, an XGBoost Booster, a torch Module...)."""

    native: Any

    def predict(self, data: Any) -> Any: ...


class Flavor(Protocol):
    """How one kind of model is written to a folder and read back.

    A flavor module imports its library inside its methods, never at module level.

    Example:
        >>> class MyFlavor:
        ...     name = "mine"
        ...     libraries = ("mylib",)
        ...     def handles(self, model): return "mylib" in class_modules(model)
        ...     def save(self, model, folder, options):
        ...         (folder / "model.bin").write_bytes(model.to_bytes())
        ...         return {"file": "model.bin"}
        ...     def load(self, folder, meta): return MyPredictor(folder / meta["file"])
    """

    name: str
    libraries: tuple[str, ...]
    """Import names whose versions are recorded with the model (``("sklearn",)``)."""

    def handles(self, model: object) -> bool:
        """True when this flavor can save ``model``; decided without importing the library."""
        ...

    def save(self, model: Any, folder: Path, options: Mapping[str, Any]) -> dict[str, Any]:
        """Write ``model`` as files in ``folder``; return what :meth:`load` needs (JSON-able)."""
        ...

    def load(self, folder: Path, meta: Mapping[str, Any]) -> Predictor:
        """Read the files :meth:`save` wrote back into a predictor."""
        ...


def class_modules(model: object) -> set[str]:
    """The top-level packages of the classes ``model``'s class derives from (``{"sklearn"}``)."""
    return {(c.__module__ or "").partition(".")[0] for c in type(model).__mro__}


@cache
def _table() -> dict[str, str]:
    table = dict(FLAVORS)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        table.setdefault(point.name, point.value)
    return table


def flavor_names() -> list[str]:
    """Every flavor name: the built-in ones, then any that packages add."""
    return list(_table())


@cache
def get_flavor(name: str) -> Flavor:
    """The flavor called ``name``. InvalidInput (with the closest name) when there is none."""
    path = _table().get(name)
    if path is None:
        raise InvalidInput(
            f"Unknown flavor {name!r}.{did_you_mean(name, _table())} Flavors: "
            f"{', '.join(_table())}."
        )
    module, _, attr = path.partition(":")
    flavor: Flavor = getattr(importlib.import_module(module), attr)()
    return flavor


def flavor_for(model: object) -> Flavor:
    """The flavor that saves ``model``, detected from its class.

    Raises:
        InvalidInput: no flavor knows this kind of object; the message lists the flavors and
            says how to wrap the model in a ``pyfunc`` class.
    """
    for name in _table():
        flavor = get_flavor(name)
        if flavor.handles(model):
            return flavor
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    raise InvalidInput(
        f"No flavor knows how to save a {kind}. Flavors: {', '.join(_table())}. For any other "
        f"model, write a class with load_context(self, context) and predict(self, data) that "
        f"wraps it, and log that with flavor='pyfunc' (see docs/registry.md, 'Custom models').",
        details={"type": kind, "flavors": list(_table())},
    )


def library_version(module_name: str) -> str | None:
    """The installed version of an importable library (``None`` when it is not installed)."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    version = getattr(module, "__version__", None)
    return str(version) if version is not None else None
