"""Every error Loopline raises on purpose.

The hierarchy::

    LooplineError                  base: catch this to catch anything Loopline raises on purpose
    ├── InvalidInput               the caller passed something malformed (HTTP 400 / 422)
    │   └── ConfigError            a setting (environment variable or config file) is malformed
    ├── NotFound                   a named thing does not exist (HTTP 404)
    ├── Conflict                   it exists already, or changed under you (HTTP 409)
    ├── PermissionDenied           not allowed for this user (HTTP 401 / 403)
    ├── QuotaExceeded              allowed, but over a quota (HTTP 429)
    ├── StorageError               the stores themselves are in a state we cannot work with
    │   ├── SchemaOutOfDate        the database needs `loopline db upgrade` (or a newer Loopline)
    │   └── CorruptBlob            a blob's bytes no longer match its digest
    └── ServerUnreachable          the remote server did not answer (HTTP client side only)

    ConfigWarning (a UserWarning)  a setting looks wrong, but Loopline can go on

Messages say what happened and what to do about it. Third-party exceptions are translated at the
boundary with ``raise ... from exc`` so the original stays in the traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

__all__ = [
    "LooplineError",
    "InvalidInput",
    "ConfigError",
    "NotFound",
    "Conflict",
    "PermissionDenied",
    "QuotaExceeded",
    "StorageError",
    "SchemaOutOfDate",
    "CorruptBlob",
    "ServerUnreachable",
    "ConfigWarning",
    "did_you_mean",
]


class LooplineError(Exception):
    """Base class of every error Loopline raises on purpose.

    Args:
        message: one or two sentences: what happened and what to do.
        details: machine-readable context that travels with the error over HTTP.
    """

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep errors picklable across process boundaries (executors, agents).
        return (_rebuild, (type(self), self.message, self.details))


def _rebuild(cls: type[LooplineError], message: str, details: dict[str, Any]) -> LooplineError:
    err = cls.__new__(cls)
    LooplineError.__init__(err, message, details=details)
    return err


class InvalidInput(LooplineError):
    """The caller passed something malformed; the message says which part and the expected form."""


class ConfigError(InvalidInput):
    """A setting is malformed; the message names the variable and the expected form."""


class NotFound(LooplineError):
    """A named thing does not exist."""


class Conflict(LooplineError):
    """The thing exists already, or it changed under the caller."""


class PermissionDenied(LooplineError):
    """The caller is not allowed to do this."""


class QuotaExceeded(LooplineError):
    """The caller is allowed to do this, but it would go over a quota."""


class StorageError(LooplineError):
    """The metadata database or the blob store is in a state Loopline cannot work with."""


class SchemaOutOfDate(StorageError):
    """The database schema is not the one this version of Loopline needs."""


class CorruptBlob(StorageError):
    """A blob's bytes do not hash to its digest any more."""


class ServerUnreachable(LooplineError):
    """The Loopline server at the configured URI did not answer."""


class ConfigWarning(UserWarning):
    """A setting looks wrong, but Loopline can go on (an unknown ``LOOPLINE_*`` variable)."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return `` Did you mean 'x'?`` for the closest candidate, or an empty string.

    Example:
        >>> did_you_mean("digit", ["digits", "iris"])
        " Did you mean 'digits'?"
    """
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
