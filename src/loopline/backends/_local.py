"""LocalBackend: the domain services, called in this process."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path

from loopline.blobs import BlobRef, BlobStore, open_blob_store
from loopline.config import Settings
from loopline.db import Database
from loopline.errors import InvalidInput
from loopline.projects import Project, ProjectService
from loopline.tracking import (
    Artifact,
    MetricPoint,
    MetricSummary,
    Run,
    RunStatus,
    TrackingService,
)

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
        self.tracking = TrackingService(db, self.projects)

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

    def create_run(
        self,
        project: str,
        *,
        name: str | None = None,
        params: Mapping[str, object] | None = None,
        tags: Mapping[str, object] | None = None,
        parent_id: str | None = None,
        environment_digest: str | None = None,
        cloned_from: str | None = None,
    ) -> Run:
        return self.tracking.create_run(
            project,
            name=name,
            params=params,
            tags=tags,
            parent_id=parent_id,
            environment_digest=environment_digest,
            cloned_from=cloned_from,
        )

    def end_run(self, run_id: str, status: RunStatus = "finished") -> Run:
        return self.tracking.end_run(run_id, status)

    def get_run(self, run_id: str) -> Run:
        return self.tracking.get_run(run_id)

    def delete_run(self, run_id: str) -> None:
        self.tracking.delete_run(run_id)

    def log_params(self, run_id: str, params: Mapping[str, object]) -> None:
        self.tracking.log_params(run_id, params)

    def set_tags(self, run_id: str, tags: Mapping[str, object]) -> None:
        self.tracking.set_tags(run_id, tags)

    def log_metrics(self, run_id: str, points: Sequence[MetricPoint]) -> None:
        self.tracking.log_metrics(run_id, points)

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        return self.tracking.metric_history(run_id, key)

    def metric_summaries(self, run_id: str) -> list[MetricSummary]:
        return self.tracking.metric_summaries(run_id)

    def search_runs(
        self,
        project: str,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int = 1000,
        offset: int = 0,
    ) -> list[Run]:
        return self.tracking.search(project, filter, order_by, limit, offset)

    def log_artifact(self, run_id: str, path: str, source: Path | bytes) -> Artifact:
        self.tracking.get_run(run_id)  # an unknown run fails before any upload
        ref = self.put_blob(source)
        return self.tracking.add_artifact(run_id, path, ref.digest, ref.size)

    def attach_artifact(self, run_id: str, path: str, digest: str, size: int) -> Artifact:
        """Record an artifact whose blob was uploaded already (the server's half of
        :meth:`RemoteBackend.log_artifact`); refuses a blob that is missing or of another size."""
        actual = self.blobs.size(digest)  # NotFound when it was not uploaded
        if actual != size:
            raise InvalidInput(f"Blob {digest} holds {actual} bytes, not {size}: upload it first.")
        return self.tracking.add_artifact(run_id, path, digest, size)

    def list_artifacts(self, run_id: str) -> list[Artifact]:
        return self.tracking.list_artifacts(run_id)

    def close(self) -> None:
        self.db.close()
