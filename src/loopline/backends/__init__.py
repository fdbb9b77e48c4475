"""Backend selection: the only place that knows whether Loopline is local or remote."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopline.backends._protocol import Backend
from loopline.config import Settings

if TYPE_CHECKING:
    from loopline.backends._local import LocalBackend
    from loopline.backends._remote import RemoteBackend

__all__ = ["Backend", "LocalBackend", "RemoteBackend", "open_backend"]


def open_backend(settings: Settings) -> Backend:
    """The backend ``settings`` select: remote for an http(s) URI, local otherwise.

    Each is imported only when selected, so a remote client never loads SQLAlchemy and a local
    one never loads the HTTP client.
    """
    if settings.mode == "remote":
        from loopline.backends._remote import RemoteBackend

        return RemoteBackend.open(settings)
    from loopline.backends._local import LocalBackend

    return LocalBackend.open(settings)


def __getattr__(name: str) -> Any:
    if name == "LocalBackend":
        from loopline.backends._local import LocalBackend

        return LocalBackend
    if name == "RemoteBackend":
        from loopline.backends._remote import RemoteBackend

        return RemoteBackend
    raise AttributeError(f"module 'loopline.backends' has no attribute {name!r}")
