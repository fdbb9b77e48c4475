"""The Backend protocol: what the SDK needs from a store, wherever the store is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from loopline.blobs import BlobRef
    from loopline.projects import Project

__all__ = ["Backend"]


class Backend(Protocol):
    """Everything the SDK asks of a store. Two implementations, one behaviour.

    :class:`~loopline.backends.LocalBackend` calls the domain services in this process;
    :class:`~loopline.backends.RemoteBackend` calls a Loopline server over HTTP, which calls the
    same services. One test suite runs through both, so the two cannot drift apart. Domains add
    their methods here as they arrive.

    Example:
        >>> backend = open_backend(Settings.from_env())
        >>> backend.create_project("demo").name
        'demo'
    """

    @property
    def location(self) -> str:
        """Where the data lives, for people: a database URL or a server URL."""
        ...

    def create_project(self, name: str, description: str = "") -> Project: ...

    def get_project(self, name: str) -> Project: ...

    def list_projects(self) -> list[Project]: ...

    def put_blob(self, source: Path | bytes) -> BlobRef:
        """Store a file's or a byte string's content; return its digest and size."""
        ...

    def blob_exists(self, digest: str) -> bool: ...

    def get_blob(self, digest: str) -> bytes:
        """A blob's bytes, verified against its digest."""
        ...

    def download_blob(self, digest: str, dest: Path) -> Path:
        """Copy a blob to the file ``dest`` (verified first, then renamed into place)."""
        ...

    def close(self) -> None: ...
