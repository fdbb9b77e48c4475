"""Loopline: close the machine-learning loop, from a laptop to a cluster, with one API.

Example:
    >>> import loopline as ll
    >>> client = ll.Client()          # the embedded store, or whatever LOOPLINE_URI names
    >>> client.list_projects()
    []
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopline._version import __version__
from loopline.config import Settings
from loopline.errors import (
    Conflict,
    CorruptBlob,
    InvalidInput,
    LooplineError,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    SchemaOutOfDate,
    ServerUnreachable,
    StorageError,
)

if TYPE_CHECKING:
    from loopline._client import Client
    from loopline.projects import Project

__all__ = [
    "__version__",
    "Client",
    "Settings",
    "Project",
    "LooplineError",
    "InvalidInput",
    "NotFound",
    "Conflict",
    "PermissionDenied",
    "QuotaExceeded",
    "StorageError",
    "SchemaOutOfDate",
    "CorruptBlob",
    "ServerUnreachable",
]

# `import loopline` stays cheap (settings and errors only): the database driver, SQLAlchemy and
# the HTTP client load when the first Client is made, and only the ones its mode needs.
_LAZY = {"Client": "loopline._client", "Project": "loopline.projects"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'loopline' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
