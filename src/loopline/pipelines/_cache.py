"""Cache keys: a step's code (with its local dependencies), its parameters and its inputs.

The code part hashes the step function's source and, recursively, the source of the functions
and classes it refers to by global name that live in the user's own modules (not the standard
library or installed packages), plus simple module-level constants it reads. Editing a helper
the step calls therefore changes the key; upgrading pandas does not.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
import sysconfig
import types
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["source_digest", "cache_key"]

_SCALARS = (bool, int, float, str, bytes, type(None))


@cache
def _installed_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths.get(k, "") for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots |= {sys.prefix, sys.base_prefix, sys.exec_prefix}
    return tuple(str(Path(r).resolve()) for r in roots if r)


def _is_local(obj: Any) -> bool:
    module = sys.modules.get(getattr(obj, "__module__", "") or "")
    if module is None:
        return False
    if module.__name__ == "__main__":
        return True
    file = getattr(module, "__file__", None)
    if file is None:
        return False
    if module.__name__.partition(".")[0] == "loopline":
        return False  # the platform's own code is versioned by its release, not per step
    resolved = str(Path(file).resolve())
    return not resolved.startswith(_installed_roots())


def _source(obj: Any) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        if code is not None:  # defined where no source survives (exec, a REPL)
            return repr((code.co_code, code.co_consts, code.co_names))
        return repr(obj)


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _unwrap(obj: Any) -> Any:
    # A decorated step (ll.step) keeps its plain function in ``func``.
    inner = getattr(obj, "func", None)
    return inner if callable(inner) and getattr(obj, "_loopline_step", False) else obj


def source_digest(func: Any) -> str:
    """SHA-256 over ``func``'s source and the local code and constants it depends on.

    Example:
        >>> source_digest(train) != source_digest(evaluate)
        True
    """
    hasher = hashlib.sha256()
    seen: set[int] = set()
    todo: list[Any] = [_unwrap(func)]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        hasher.update(_source(obj).encode())
        hasher.update(b"\0")
        namespace: Mapping[str, Any] = getattr(obj, "__globals__", None) or vars(
            sys.modules.get(getattr(obj, "__module__", ""), types.SimpleNamespace())
        )
        code = getattr(obj, "__code__", None)
        if code is None:
            continue
        for name in sorted(_global_names(code)):
            if name not in namespace:
                continue
            value = _unwrap(namespace[name])
            if isinstance(value, _SCALARS):
                hasher.update(f"{name}={value!r}\0".encode())
            elif isinstance(value, types.FunctionType | type) and _is_local(value):
                if isinstance(value, type):
                    hasher.update(_source(value).encode())
                else:
                    todo.append(value)
    return hasher.hexdigest()


def cache_key(
    code_digest: str,
    params: Mapping[str, Any],
    inputs: Iterable[tuple[str, str]],
) -> str:
    """The key of one step execution: code, parameter values and input blobs.

    ``inputs`` holds ``(digest, "materializer:version")`` for every upstream output read, in
    argument order, so a materializer's new version invalidates the steps that read with it.
    """
    payload = json.dumps(
        {"code": code_digest, "params": params, "inputs": list(inputs)},
        sort_keys=True,
        separators=(",", ":"),
        default=repr,
    )
    return hashlib.sha256(payload.encode()).hexdigest()
