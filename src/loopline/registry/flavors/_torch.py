"""PyTorch: a TorchScript module (``torch.jit.script`` / ``trace``), or an ``nn.Module`` saved as
its state dict plus the import path of its class.

The state-dict form loads with ``torch.load(weights_only=True)``: no pickle runs. Its class must
be importable where the model is loaded, and is built with the keyword arguments given as
``options={"init": {...}}`` at log time.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from loopline.errors import InvalidInput
from loopline.registry.flavors._base import class_modules

__all__ = ["TorchFlavor"]

SCRIPT = "model.pt"
WEIGHTS = "weights.pt"


class TorchPredictor:
    def __init__(self, native: Any) -> None:
        self.native = native

    def predict(self, data: Any) -> Any:
        import numpy as np
        import torch

        array = np.asarray(data)
        tensor = torch.as_tensor(array)
        if tensor.is_floating_point():
            tensor = tensor.to(_parameter_dtype(self.native))
        with torch.no_grad():
            out = self.native(tensor)
        if isinstance(out, tuple | list):
            out = out[0]
        return out.detach().cpu().numpy()


class TorchFlavor:
    name = "torch"
    libraries = ("torch",)

    def handles(self, model: object) -> bool:
        return "torch" in class_modules(model) and callable(model)

    def save(self, model: Any, folder: Path, options: Mapping[str, Any]) -> dict[str, Any]:
        import torch

        if isinstance(model, torch.jit.ScriptModule):
            with _quiet_jit():
                torch.jit.save(model, str(folder / SCRIPT))
            return {"file": SCRIPT, "format": "torchscript"}
        if not isinstance(model, torch.nn.Module):
            raise InvalidInput(
                f"The torch flavor saves an nn.Module, not a {type(model).__name__}."
            )
        kind = type(model)
        if kind.__module__ == "__main__" or "<locals>" in kind.__qualname__:
            raise InvalidInput(
                f"{kind.__qualname__} is defined in the script itself, so no other process can "
                f"import it to rebuild the model. Move the class into a module, or log "
                f"torch.jit.script(model) (TorchScript needs no class to load)."
            )
        init = dict(options.get("init") or {})
        torch.save(model.state_dict(), folder / WEIGHTS)
        return {
            "file": WEIGHTS,
            "format": "state_dict",
            "class": f"{kind.__module__}:{kind.__qualname__}",
            "init": init,
        }

    def load(self, folder: Path, meta: Mapping[str, Any]) -> TorchPredictor:
        import torch

        path = folder / meta.get("file", SCRIPT)
        if meta.get("format") == "torchscript":
            with _quiet_jit():
                module = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
        else:
            module_name, _, name = str(meta["class"]).partition(":")
            try:
                cls: Any = importlib.import_module(module_name)
                for part in name.split("."):
                    cls = getattr(cls, part)
            except (ImportError, AttributeError) as exc:
                raise InvalidInput(
                    f"Cannot import {meta['class']}, the class of this torch model: {exc}. "
                    f"Install the module that defines it where the model is loaded."
                ) from exc
            module = cls(**dict(meta.get("init") or {}))
            module.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        module.eval()
        return TorchPredictor(module)


@contextmanager
def _quiet_jit() -> Iterator[None]:
    """TorchScript is deprecated in recent PyTorch, which warns at every save and load; whoever
    logged a TorchScript model chose it, so the registry does not repeat that at each use."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch(\.|$)")
        yield


def _parameter_dtype(module: Any) -> Any:
    import torch

    for parameter in module.parameters():
        return parameter.dtype
    return torch.float32
