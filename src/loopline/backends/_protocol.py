"""The Backend protocol: what the SDK needs from a store, wherever the store is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
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

    def close(self) -> None: ...
