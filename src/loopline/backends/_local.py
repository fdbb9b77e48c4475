"""LocalBackend: the domain services, called in this process."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from loopline.blobs import BlobRef, BlobStore, open_blob_store
from loopline.config import Settings
from loopline.db import Database
from loopline.projects import Project, ProjectService

__all__ = ["LocalBackend"]


class LocalBackend:
    """Talks to the metadata database and the blob store directly.

    Used by the embedded default (SQLite + a local folder), by scripts pointed at a shared
    PostgreSQL, and by the server itself, which is an HTTP face over a LocalBackend.
    """

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.projects = ProjectService(db)

    @classmethod
    def open(cls, settings: Settings) -> LocalBackend:
        """Open the database named by ``settings`` (migrating it when ``auto_upgrade`` is on)."""
        if settings.db_url is None:
            raise ValueError("LocalBackend needs settings in local mode (a database URL)")
        return cls(settings, Database.open(settings.db_url, auto_upgrade=settings.auto_upgrade))

    @cached_property
    def blobs(self) -> BlobStore:
        """The blob store, opened on first use (S3 clients are not free to create)."""
        return open_blob_store(self.settings)

    @property
    def location(self) -> str:
        return self.db.url

    def create_project(self, name: str, description: str = "") -> Project:
        return self.projects.create(name, description)

    def get_project(self, name: str) -> Project:
        return self.projects.get(name)

    def list_projects(self) -> list[Project]:
        return self.projects.list()

    def put_blob(self, source: Path | bytes) -> BlobRef:
        if isinstance(source, bytes):
            return self.blobs.put_bytes(source)
        return self.blobs.put_file(source)

    def blob_exists(self, digest: str) -> bool:
        return self.blobs.exists(digest)

    def get_blob(self, digest: str) -> bytes:
        return self.blobs.get_bytes(digest)

    def download_blob(self, digest: str, dest: Path) -> Path:
        return self.blobs.local_copy(digest, dest)

    def close(self) -> None:
        self.db.close()
