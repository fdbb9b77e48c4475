"""Client: the explicit entry point under the one-liners of the facade."""

from __future__ import annotations

from loopline.backends import Backend, open_backend
from loopline.config import Settings
from loopline.projects import Project

__all__ = ["Client"]


class Client:
    """A connection to a Loopline store: the embedded default, a database, or a server.

    Args:
        uri: overrides ``LOOPLINE_URI`` (``sqlite:///...``, ``postgresql://...``,
            ``http(s)://...``); other settings still come from the environment.
        settings: fully resolved settings (wins over ``uri``).

    Example:
        >>> import loopline as ll
        >>> with ll.Client() as client:
        ...     client.create_project("churn", description="who leaves, and why")
        Project(id='...', name='churn', ...)
    """

    def __init__(self, uri: str | None = None, *, settings: Settings | None = None) -> None:
        if settings is None:
            settings = Settings.from_env(overrides={"LOOPLINE_URI": uri})
        self.settings = settings
        self._backend: Backend = open_backend(settings)

    @property
    def location(self) -> str:
        """Where this client's data lives (a database or server URL, password hidden)."""
        return self._backend.location

    def create_project(self, name: str, description: str = "") -> Project:
        """Create a project. Raises :class:`~loopline.errors.Conflict` if the name is taken."""
        return self._backend.create_project(name, description)

    def get_project(self, name: str) -> Project:
        """A project by name. Raises :class:`~loopline.errors.NotFound` (with a suggestion)."""
        return self._backend.get_project(name)

    def list_projects(self) -> list[Project]:
        """Every project, by name."""
        return self._backend.list_projects()

    def close(self) -> None:
        """Release connections. The client is unusable afterwards."""
        self._backend.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.location!r})"
