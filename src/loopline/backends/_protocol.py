"""The Backend protocol: what the SDK needs from a store, wherever the store is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from loopline.blobs import BlobRef
    from loopline.projects import Project
    from loopline.tracking import Artifact, MetricPoint, MetricSummary, Run, RunStatus

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

    # -- tracking --

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
    ) -> Run: ...

    def end_run(self, run_id: str, status: RunStatus = "finished") -> Run: ...

    def get_run(self, run_id: str) -> Run: ...

    def delete_run(self, run_id: str) -> None: ...

    def log_params(self, run_id: str, params: Mapping[str, object]) -> None: ...

    def set_tags(self, run_id: str, tags: Mapping[str, object]) -> None: ...

    def log_metrics(self, run_id: str, points: Sequence[MetricPoint]) -> None: ...

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]: ...

    def metric_summaries(self, run_id: str) -> list[MetricSummary]: ...

    def search_runs(
        self,
        project: str,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int = 1000,
        offset: int = 0,
    ) -> list[Run]: ...

    def log_artifact(self, run_id: str, path: str, source: Path | bytes) -> Artifact: ...

    def list_artifacts(self, run_id: str) -> list[Artifact]: ...

    def close(self) -> None: ...
