"""Materializers: how a value crosses a step boundary (to bytes in the blob store and back).

Each materializer is named; the registry maps a name to a dotted path, imported only when a
value of its kind appears, so ``import loopline`` never imports numpy, pandas or polars. Values
are offered to the materializers in order (registered ones first) and the first that takes the
value and writes it wins; cloudpickle takes anything it can pickle, last.

Example:
    >>> class TextFile:
    ...     name, version = "textfile", "1"
    ...     def handles(self, value): return isinstance(value, MyText)
    ...     def dump(self, value): return value.body.encode()
    ...     def load(self, data): return MyText(data.decode())
    >>> register_materializer("textfile", "my_pkg.materializers:TextFile")
"""

from __future__ import annotations

import io
import json
import math
from functools import cache
from importlib import import_module
from typing import Any, Protocol

from loopline.errors import InvalidInput, NotFound, did_you_mean

__all__ = [
    "Materializer",
    "register_materializer",
    "materializer",
    "dump_value",
    "load_value",
    "materializer_names",
    "version_of",
]


class Materializer(Protocol):
    """Turns values of some kinds into bytes and back; ``version`` enters cache keys.

    Example:
        >>> m = materializer("json")
        >>> m.load(m.dump({"a": [1, 2]}))
        {'a': [1, 2]}
    """

    name: str
    version: str

    def handles(self, value: Any) -> bool:
        """Whether this materializer wants ``value`` (cheap: no heavy imports)."""
        ...

    def dump(self, value: Any) -> bytes: ...

    def load(self, data: bytes) -> Any: ...


def _module_root(value: Any) -> str:
    return type(value).__module__.partition(".")[0]


class JsonMaterializer:
    """``None``, booleans, numbers, text, and lists / string-keyed dicts of them, as JSON."""

    name = "json"
    version = "1"

    def handles(self, value: Any) -> bool:
        return _plain(value, 0)

    def dump(self, value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), allow_nan=True).encode()

    def load(self, data: bytes) -> Any:
        return json.loads(data)


def _plain(value: Any, depth: int) -> bool:
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return not math.isnan(value)  # NaN != NaN would break "the same output again"
    if depth > 50:
        return False
    if type(value) is list:
        return all(_plain(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _plain(v, depth + 1) for k, v in value.items())
    return False


class NumpyMaterializer:
    """numpy arrays (not of Python objects) as ``.npy``."""

    name = "numpy"
    version = "1"

    def handles(self, value: Any) -> bool:
        return (
            _module_root(value) == "numpy"
            and type(value).__name__ == "ndarray"
            and value.dtype.kind != "O"
        )

    def dump(self, value: Any) -> bytes:
        import numpy as np

        out = io.BytesIO()
        np.save(out, value, allow_pickle=False)
        return out.getvalue()

    def load(self, data: bytes) -> Any:
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)


class PandasMaterializer:
    """pandas DataFrames as Parquet (index kept)."""

    name = "pandas"
    version = "1"

    def handles(self, value: Any) -> bool:
        return _module_root(value) == "pandas" and type(value).__name__ == "DataFrame"

    def dump(self, value: Any) -> bytes:
        out = io.BytesIO()
        value.to_parquet(out, engine="pyarrow")
        return out.getvalue()

    def load(self, data: bytes) -> Any:
        import pandas as pd

        return pd.read_parquet(io.BytesIO(data), engine="pyarrow")


class PolarsMaterializer:
    """polars DataFrames as Parquet."""

    name = "polars"
    version = "1"

    def handles(self, value: Any) -> bool:
        return _module_root(value) == "polars" and type(value).__name__ == "DataFrame"

    def dump(self, value: Any) -> bytes:
        out = io.BytesIO()
        value.write_parquet(out)
        return out.getvalue()

    def load(self, data: bytes) -> Any:
        import polars as pl  # type: ignore[import-not-found, unused-ignore]

        return pl.read_parquet(io.BytesIO(data))


class ModelMaterializer:
    """Models of a registry flavor whose files load back into the same object (scikit-learn,
    XGBoost, LightGBM, PyTorch): written in the flavor's own format, the one registering the
    model stores, as one zip. ONNX and pyfunc models load as predictors, not as the object a
    step returned, so they are left to cloudpickle."""

    name = "model"
    version = "1"
    _FLAVORS = ("xgboost", "lightgbm", "torch", "sklearn")

    def handles(self, value: Any) -> bool:
        return self._flavor(value) is not None

    def dump(self, value: Any) -> bytes:
        import tempfile
        import zipfile
        from pathlib import Path

        flavor = self._flavor(value)
        assert flavor is not None
        out = io.BytesIO()
        with tempfile.TemporaryDirectory(prefix="loopline-model-") as folder:
            meta = flavor.save(value, Path(folder), {})
            with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
                archive.writestr("flavor.json", json.dumps({"flavor": flavor.name, "meta": meta}))
                for path in sorted(Path(folder).rglob("*")):
                    if path.is_file():
                        archive.write(path, path.relative_to(folder).as_posix())
        return out.getvalue()

    def load(self, data: bytes) -> Any:
        import tempfile
        import zipfile
        from pathlib import Path

        from loopline.registry.flavors import get_flavor

        with (
            zipfile.ZipFile(io.BytesIO(data)) as archive,
            tempfile.TemporaryDirectory(prefix="loopline-model-") as folder,
        ):
            head = json.loads(archive.read("flavor.json"))
            names = [n for n in archive.namelist() if n != "flavor.json"]
            for name in names:
                if name.startswith("/") or ".." in name.split("/"):
                    raise InvalidInput(f"A stored model holds an unsafe path {name!r}.")
            archive.extractall(folder, members=names)  # the names were checked above
            predictor = get_flavor(head["flavor"]).load(Path(folder), head["meta"])
            return getattr(predictor, "native", predictor)

    def _flavor(self, value: Any) -> Any:
        from loopline.registry.flavors import class_modules, get_flavor

        modules = class_modules(value)
        if not modules & {"sklearn", "xgboost", "lightgbm", "torch"}:
            return None  # decided without importing any model library
        for name in self._FLAVORS:
            flavor = get_flavor(name)
            if flavor.handles(value):
                return flavor
        return None


class CloudpickleMaterializer:
    """Anything else cloudpickle can pickle. Loading runs code: only load your own outputs."""

    name = "cloudpickle"
    version = "1"

    def handles(self, value: Any) -> bool:
        return True

    def dump(self, value: Any) -> bytes:
        import cloudpickle  # type: ignore[import-untyped, unused-ignore]

        data: bytes = cloudpickle.dumps(value)
        return data

    def load(self, data: bytes) -> Any:
        import pickle

        return pickle.loads(data)  # noqa: S301 - blobs this platform's own steps wrote


_M = "loopline.pipelines._materializers"
_registry: dict[str, str] = {
    "json": f"{_M}:JsonMaterializer",
    "numpy": f"{_M}:NumpyMaterializer",
    "pandas": f"{_M}:PandasMaterializer",
    "polars": f"{_M}:PolarsMaterializer",
    "model": f"{_M}:ModelMaterializer",
    "cloudpickle": f"{_M}:CloudpickleMaterializer",
}
_BUILTIN_ORDER = ("json", "numpy", "pandas", "polars", "model", "cloudpickle")
_custom: list[str] = []


def register_materializer(name: str, path: str) -> None:
    """Add a materializer (``"package.module:ClassName"``), tried before the built-in ones.

    The class is imported when first needed; worker processes import it by the same path, so it
    must live in an importable module.
    """
    if ":" not in path:
        raise InvalidInput(f"A materializer path is 'package.module:ClassName', not {path!r}.")
    _registry[name] = path
    if name not in _custom and name not in _BUILTIN_ORDER:
        _custom.insert(0, name)
    materializer.cache_clear()


def materializer_names() -> list[str]:
    return [*_custom, *_BUILTIN_ORDER]


@cache
def materializer(name: str) -> Materializer:
    """The materializer registered as ``name`` (imported on first use)."""
    try:
        path = _registry[name]
    except KeyError:
        raise NotFound(
            f"No materializer is registered as {name!r}.{did_you_mean(name, _registry)} "
            "Register it with ll.pipelines.register_materializer(name, 'module:Class')."
        ) from None
    module, _, attr = path.partition(":")
    made: Materializer = getattr(import_module(module), attr)()
    return made


def dump_value(value: Any, *, step: str = "?") -> tuple[bytes, str]:
    """``value`` as bytes, and the name of the materializer that wrote them.

    Raises:
        InvalidInput: no materializer can store the value; the message names the step and type.
    """
    failures: list[str] = []
    for name in materializer_names():
        m = materializer(name)
        if not m.handles(value):
            continue
        try:
            return m.dump(value), name
        except Exception as exc:  # noqa: BLE001 - the next materializer may do better
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    raise InvalidInput(
        f"Step {step!r} returned a {kind} that no materializer can store "
        f"({'; '.join(failures) or 'none takes it'}). Return plain data (numbers, lists, dicts, "
        f"arrays, DataFrames), or register a materializer for {type(value).__name__} with "
        "ll.pipelines.register_materializer(name, 'module:Class').",
        details={"step": step, "type": kind},
    )


def load_value(data: bytes, name: str) -> Any:
    return materializer(name).load(data)


def version_of(name: str) -> str:
    return f"{name}:{materializer(name).version}"
