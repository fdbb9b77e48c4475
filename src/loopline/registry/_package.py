"""A model package: the files of a logged model and the manifest that describes them.

``save_package`` asks the flavor to write the model's files into a folder, adds the input
example, infers the signature, records library versions and requirements, hashes every file, and
writes ``loopline-model.json``. ``load_package`` reads such a folder back into a
:class:`LoadedModel`. Neither knows where the files are stored: the SDK uploads and downloads them
as content-addressed blobs.
"""

from __future__ import annotations

import hashlib
import json
import platform
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loopline._version import __version__
from loopline.errors import InvalidInput, LooplineError
from loopline.registry._signature import SchemaMismatch, Signature, infer_schema, infer_signature
from loopline.registry._types import PACKAGE_FILE
from loopline.registry.flavors import Flavor, Predictor, flavor_for, get_flavor, library_version

__all__ = [
    "PackageFile",
    "ModelPackage",
    "LoadedModel",
    "ModelLibraryWarning",
    "save_package",
    "load_package",
    "read_example",
    "FORMAT",
]

FORMAT = 1
"""The manifest's format version; a newer one is refused with a clear message."""
DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "torch": "torch",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "numpy": "numpy",
    "pandas": "pandas",
}
"""Import name -> the distribution that ``pip install`` knows it by."""
_ALWAYS = ("numpy", "pandas")


class ModelLibraryWarning(UserWarning):
    """A model is loaded with another major version of a library than it was saved with."""


@dataclass(frozen=True, slots=True)
class PackageFile:
    """A file of the model: its path in the model's folder, and the blob holding it."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class ModelPackage:
    """What ``loopline-model.json`` says about a logged model."""

    flavor: str
    flavor_meta: dict[str, Any]
    files: list[PackageFile]
    libraries: dict[str, str] = field(default_factory=dict)
    requirements: list[str] = field(default_factory=list)
    signature: Signature | None = None
    input_example: str | None = None
    python: str = ""
    created_at: str = ""
    loopline: str = ""

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> bytes:
        data = {
            "format": FORMAT,
            "flavor": self.flavor,
            "flavor_meta": self.flavor_meta,
            "files": [{"path": f.path, "digest": f.digest, "size": f.size} for f in self.files],
            "libraries": self.libraries,
            "requirements": self.requirements,
            "signature": None if self.signature is None else self.signature.to_dict(),
            "input_example": self.input_example,
            "python": self.python,
            "created_at": self.created_at,
            "loopline": self.loopline,
        }
        return json.dumps(data, indent=2, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes, where: str = "the model") -> ModelPackage:
        try:
            data = json.loads(raw)
            if int(data.get("format", 0)) > FORMAT:
                raise InvalidInput(
                    f"{where} was logged by a newer Loopline (package format {data['format']}); "
                    f"upgrade Loopline to load it."
                )
            signature = data.get("signature")
            return cls(
                flavor=str(data["flavor"]),
                flavor_meta=dict(data.get("flavor_meta") or {}),
                files=[
                    PackageFile(str(f["path"]), str(f["digest"]), int(f["size"]))
                    for f in data["files"]
                ],
                libraries={str(k): str(v) for k, v in (data.get("libraries") or {}).items()},
                requirements=[str(r) for r in data.get("requirements") or []],
                signature=None if signature is None else Signature.from_dict(signature),
                input_example=data.get("input_example"),
                python=str(data.get("python", "")),
                created_at=str(data.get("created_at", "")),
                loopline=str(data.get("loopline", "")),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidInput(f"{where} has a malformed {PACKAGE_FILE}: {exc}") from exc


class LoadedModel:
    """A model loaded from the registry (or a run), ready to predict.

    ``predict`` checks its input against the signature first (when the model has one) and
    raises :class:`~loopline.registry.SchemaMismatch` listing every difference; ``native`` is
    the library's own object.

    Example:
        >>> model = ll.load_model("models:/digits@champion")
        >>> model.predict(frame)
        array([3, 1, 4])
        >>> model.predict_proba(frame).shape
        (3, 10)
    """

    def __init__(
        self, predictor: Predictor, package: ModelPackage, folder: Path, source: str
    ) -> None:
        self._predictor = predictor
        self.package = package
        self.folder = folder
        self.source = source

    @property
    def native(self) -> Any:
        """The underlying model object (an estimator, a Booster, an nn.Module, a session...)."""
        return self._predictor.native

    @property
    def flavor(self) -> str:
        return self.package.flavor

    @property
    def signature(self) -> Signature | None:
        return self.package.signature

    @property
    def has_predict_proba(self) -> bool:
        return callable(getattr(self._predictor, "predict_proba", None))

    def predict(self, data: Any, *, conform: bool = True) -> Any:
        """Predictions for ``data`` (a DataFrame, an array, a dict of columns, records).

        ``conform=False`` skips the signature check, for callers that made ``data`` conform
        already (the inference server checks each request once, before batching).
        """
        return self._predictor.predict(self._conform(data) if conform else data)

    def predict_proba(self, data: Any) -> Any:
        """Class probabilities, for the flavors and models that have them (classifiers)."""
        method = getattr(self._predictor, "predict_proba", None)
        if not callable(method):
            raise InvalidInput(
                f"{self.source} ({self.flavor} flavor, {type(self.native).__name__}) has no "
                f"predict_proba: it is not a classifier that gives probabilities. Use predict."
            )
        return method(self._conform(data))

    def input_example(self) -> Any:
        """The input example logged with the model, or ``None``."""
        if self.package.input_example is None:
            return None
        return read_example(self.folder / self.package.input_example)

    def _conform(self, data: Any) -> Any:
        if self.package.signature is None:
            return data
        try:
            return self.package.signature.inputs.conform(data)
        except SchemaMismatch as exc:
            raise SchemaMismatch(f"{self.source}: {exc.message}", details=exc.details) from None

    def __repr__(self) -> str:
        return f"<LoadedModel {self.source} ({self.flavor}: {type(self.native).__name__})>"


def save_package(
    model: Any,
    folder: Path,
    *,
    flavor: str | None = None,
    signature: Signature | Mapping[str, Any] | bool | None = None,
    input_example: Any = None,
    requirements: Sequence[str] | None = None,
    options: Mapping[str, Any] | None = None,
) -> ModelPackage:
    """Write ``model`` and its manifest into the empty folder ``folder``.

    Args:
        flavor: a flavor name, or ``None`` to detect it from the model's class.
        signature: ``None`` infers it from ``input_example`` (and the model's predictions on
            it); ``False`` records none; a :class:`Signature` or its dict is taken as given.
        input_example: a few rows of input, stored with the model.
        requirements: pip requirements; ``None`` records the flavor's libraries at their
            installed versions.
        options: flavor options (``artifacts`` for pyfunc, ``init`` for torch state dicts).
    """
    chosen: Flavor = flavor_for(model) if flavor is None else get_flavor(flavor)
    opts = dict(options or {})
    meta = chosen.save(model, folder, opts)
    example_file = None if input_example is None else _write_example(input_example, folder)
    libraries = {
        DISTRIBUTIONS.get(m, m): v
        for m in (*chosen.libraries, *_ALWAYS)
        if (v := library_version(m)) is not None
    }
    sig = _signature(signature, input_example, chosen, folder, meta)
    files = [_hashed(folder, p) for p in sorted(folder.rglob("*")) if p.is_file()]
    if requirements is None:
        reqs = [f"{name}=={version}" for name, version in libraries.items()]
        reqs.append(f"loopline=={__version__}")
    else:
        reqs = _requirements(requirements)
    package = ModelPackage(
        flavor=chosen.name,
        flavor_meta=meta,
        files=files,
        libraries=libraries,
        requirements=reqs,
        signature=sig,
        input_example=example_file,
        python=platform.python_version(),
        created_at=datetime.now(UTC).isoformat(),
        loopline=__version__,
    )
    (folder / PACKAGE_FILE).write_bytes(package.to_json())
    return package


def load_package(folder: Path, package: ModelPackage, source: str) -> LoadedModel:
    """The model in ``folder`` (written by :func:`save_package`), as a :class:`LoadedModel`.

    Warns (:class:`ModelLibraryWarning`) when an installed library's major version differs
    from the one the model was saved with. Loading a pickled model runs code from its files.
    """
    flavor = get_flavor(package.flavor)
    _check_libraries(flavor, package, source)
    try:
        predictor = flavor.load(folder, package.flavor_meta)
    except LooplineError:
        raise
    except Exception as exc:
        raise LooplineError(
            f"Loading {source} with the {package.flavor} flavor failed: "
            f"{type(exc).__name__}: {exc}. It was saved with {_libraries_text(package)}."
        ) from exc
    return LoadedModel(predictor, package, folder, source)


def read_example(path: Path) -> Any:
    """An input example as :func:`save_package` wrote it."""
    import numpy as np
    import pandas as pd

    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    return json.loads(path.read_text(encoding="utf-8"))


# -- helpers -------------------------------------------------------------------------------------


def _signature(
    given: Signature | Mapping[str, Any] | bool | None,
    example: Any,
    flavor: Flavor,
    folder: Path,
    meta: dict[str, Any],
) -> Signature | None:
    if given is False:
        return None
    if isinstance(given, Signature):
        return given
    if isinstance(given, Mapping):
        return Signature.from_dict(given)
    if given not in (None, True):
        raise InvalidInput(
            "signature takes a Signature, its dict, None (infer it from input_example) or False."
        )
    if example is None:
        return None
    inputs = infer_schema(example)
    try:
        predictor = flavor.load(folder, meta)
        output = predictor.predict(inputs.conform(example))
    except LooplineError:
        raise
    except Exception as exc:
        raise InvalidInput(
            f"The model failed to predict on its input_example ({type(exc).__name__}: {exc}). "
            f"Give an example it accepts, or pass signature=False and no input_example."
        ) from exc
    try:
        return infer_signature(example, output)
    except InvalidInput:
        return Signature(inputs)  # an output no schema describes: keep the inputs


def _write_example(example: Any, folder: Path) -> str:
    import numpy as np
    import pandas as pd

    if isinstance(example, pd.Series):
        example = example.to_frame()
    if isinstance(example, pd.DataFrame):
        name = "input_example.parquet"
        frame = example.copy()
        frame.columns = [str(c) for c in frame.columns]
        try:
            frame.to_parquet(folder / name, index=False)
        except (ValueError, TypeError, ImportError) as exc:
            raise InvalidInput(f"Cannot store the input example as Parquet: {exc}") from exc
        return name
    if isinstance(example, np.ndarray) and example.dtype.kind != "O":
        name = "input_example.npy"
        np.save(folder / name, example, allow_pickle=False)
        return name
    name = "input_example.json"
    try:
        text = json.dumps(example, default=_plain)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"Cannot store the input example ({type(example).__name__}): {exc}. Give a "
            f"DataFrame, a numpy array, a dict of columns or a list of records."
        ) from exc
    (folder / name).write_text(text, encoding="utf-8")
    return name


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON-able")


def _hashed(folder: Path, path: Path) -> PackageFile:
    hasher = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            hasher.update(chunk)
            size += len(chunk)
    return PackageFile(path.relative_to(folder).as_posix(), hasher.hexdigest(), size)


def _requirements(given: Sequence[str]) -> list[str]:
    if isinstance(given, str):
        raise InvalidInput('requirements is a list of strings, like ["scikit-learn==1.6.1"].')
    out = []
    for item in given:
        if not isinstance(item, str) or not item.strip() or "\n" in item:
            raise InvalidInput(f"Invalid requirement {item!r}: one pip requirement per string.")
        out.append(item.strip())
    return out


def _major(version: str) -> str:
    return version.split(".", 1)[0]


def _check_libraries(flavor: Flavor, package: ModelPackage, source: str) -> None:
    for module in flavor.libraries:
        dist = DISTRIBUTIONS.get(module, module)
        saved = package.libraries.get(dist)
        installed = library_version(module)
        if installed is None:
            wanted = f"{dist}=={saved}" if saved else dist
            raise InvalidInput(
                f"{source} is a {package.flavor} model and needs {dist}, which is not installed "
                f"here. Install it: pip install '{wanted}' (or the loopline extra "
                f"'loopline[{package.flavor}]')."
            )
        if saved and _major(saved) != _major(installed):
            warnings.warn(
                f"{source} was saved with {dist} {saved}; this process has {installed}, another "
                f"major version. Loading may fail or predictions may differ: install "
                f"{dist}=={saved} (the version's requirements list everything it was saved with).",
                ModelLibraryWarning,
                stacklevel=3,
            )


def _libraries_text(package: ModelPackage) -> str:
    return ", ".join(f"{k} {v}" for k, v in package.libraries.items()) or "no recorded libraries"
