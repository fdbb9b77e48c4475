"""pyfunc: any Python class with ``predict(data)`` (and ``load_context(context)``), for models
no other flavor knows and for custom pre- and post-processing around one that it does.

The object is pickled, so its class must be importable where it is loaded. Files it needs
(a vocabulary, a second model) go in ``artifacts={"name": "local/path"}`` at log time; after
loading, ``load_context(context)`` finds them in ``context.artifacts["name"]``.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loopline.errors import InvalidInput
from loopline.registry.flavors import _pickled

__all__ = ["PyfuncFlavor", "ModelContext"]

FILE = "python_model.pkl"
ARTIFACTS = "artifacts"


@dataclass(frozen=True, slots=True)
class ModelContext:
    """What ``load_context`` receives: the local paths of the files logged with the model."""

    artifacts: dict[str, str] = field(default_factory=dict)


class PyfuncPredictor:
    def __init__(self, native: Any) -> None:
        self.native = native
        if callable(getattr(native, "predict_proba", None)):
            self.predict_proba = native.predict_proba

    def predict(self, data: Any) -> Any:
        return self.native.predict(data)


class PyfuncFlavor:
    name = "pyfunc"
    libraries: tuple[str, ...] = ()

    def handles(self, model: object) -> bool:
        return callable(getattr(model, "predict", None)) and callable(
            getattr(model, "load_context", None)
        )

    def save(self, model: Any, folder: Path, options: Mapping[str, Any]) -> dict[str, Any]:
        if not callable(getattr(model, "predict", None)):
            raise InvalidInput(
                f"A pyfunc model needs a predict(self, data) method; {type(model).__name__} "
                f"has none."
            )
        _pickled.dump(model, folder / FILE)
        stored: dict[str, str] = {}
        for key, source in dict(options.get("artifacts") or {}).items():
            path = Path(source)
            if not path.exists():
                raise InvalidInput(f"Artifact {key!r}: {str(source)!r} does not exist.")
            dest = folder / ARTIFACTS / str(key) / path.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                shutil.copytree(path, dest)
            else:
                shutil.copyfile(path, dest)
            stored[str(key)] = dest.relative_to(folder).as_posix()
        return {"file": FILE, "format": "pickle", "artifacts": stored}

    def load(self, folder: Path, meta: Mapping[str, Any]) -> PyfuncPredictor:
        model = _pickled.load(folder / meta.get("file", FILE))
        artifacts = {k: str(folder / v) for k, v in dict(meta.get("artifacts") or {}).items()}
        if callable(getattr(model, "load_context", None)):
            model.load_context(ModelContext(artifacts))
        return PyfuncPredictor(model)
