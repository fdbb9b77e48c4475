"""RemoteBackend: the same operations, sent to a Loopline server."""

from __future__ import annotations

from loopline.client import ApiClient
from loopline.config import Settings
from loopline.projects import Project

__all__ = ["RemoteBackend"]


class RemoteBackend:
    """Calls a Loopline server over HTTP; errors come back as the same exception types."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    @classmethod
    def open(cls, settings: Settings) -> RemoteBackend:
        if settings.server_url is None:
            raise ValueError("RemoteBackend needs settings in remote mode (a server URL)")
        return cls(
            ApiClient(
                settings.server_url,
                token=settings.token,
                timeout=settings.http_timeout,
                retries=settings.http_retries,
            )
        )

    @property
    def location(self) -> str:
        return self.api.base_url

    def create_project(self, name: str, description: str = "") -> Project:
        data = self.api.post("/api/v1/projects", json={"name": name, "description": description})
        return self.api.decode(Project, data)

    def get_project(self, name: str) -> Project:
        return self.api.decode(Project, self.api.get(f"/api/v1/projects/{self.api.quote(name)}"))

    def list_projects(self) -> list[Project]:
        return self.api.decode(list[Project], self.api.get("/api/v1/projects"))

    def close(self) -> None:
        self.api.close()
