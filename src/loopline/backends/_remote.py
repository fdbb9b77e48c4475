"""RemoteBackend: the same operations, sent to a Loopline server."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from loopline.blobs import BlobRef, validate_digest
from loopline.client import ApiClient, Sink
from loopline.config import Settings
from loopline.errors import CorruptBlob, NotFound
from loopline.projects import Project, validate_project_name
from loopline.tracking import (
    Artifact,
    MetricPoint,
    MetricSummary,
    Run,
    RunStatus,
    decode_float,
    encode_float,
    validate_run_id,
)

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
        # Validated here too: a name like ".." would otherwise be folded out of the URL.
        validate_project_name(name)
        return self.api.decode(Project, self.api.get(f"/api/v1/projects/{self.api.quote(name)}"))

    def list_projects(self) -> list[Project]:
        return self.api.decode(list[Project], self.api.get("/api/v1/projects"))

    def put_blob(self, source: Path | bytes) -> BlobRef:
        """Hash locally, skip the upload when the server has the blob, else stream it."""
        if isinstance(source, bytes):
            ref = BlobRef(hashlib.sha256(source).hexdigest(), len(source))
        else:
            ref = _hash_file(source)
        if self.blob_exists(ref.digest):
            return ref
        path = f"/api/v1/blobs/{ref.digest}"
        if isinstance(source, bytes):
            data = self.api.request("PUT", path, content=source, idempotent=True)
        else:
            data = self.api.upload(path, source)
        return self.api.decode(BlobRef, data)

    def blob_exists(self, digest: str) -> bool:
        return self.api.exists(f"/api/v1/blobs/{validate_digest(digest)}")

    def get_blob(self, digest: str) -> bytes:
        sink = io.BytesIO()
        self._download_verified(digest, sink)
        return sink.getvalue()

    def download_blob(self, digest: str, dest: Path) -> Path:
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        temp = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:12]}.part"
        try:
            with temp.open("wb") as sink:
                self._download_verified(digest, sink)
            temp.replace(dest)
        finally:
            temp.unlink(missing_ok=True)
        return dest

    def _download_verified(self, digest: str, sink: Sink) -> None:
        validate_digest(digest)
        hasher = _HashingSink(sink)
        try:
            self.api.download(f"/api/v1/blobs/{digest}", hasher)
        except NotFound as exc:
            raise NotFound(f"No blob {digest} on {self.location}.") from exc
        if hasher.hexdigest() != digest:
            raise CorruptBlob(
                f"Blob {digest} arrived from {self.location} with bytes that hash to "
                f"{hasher.hexdigest()}: damaged in transit or on the server. Retry; if it "
                f"persists, the server's copy is corrupt.",
                details={"digest": digest, "actual": hasher.hexdigest()},
            )

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
    ) -> Run:
        body = {
            "project": project,
            "name": name,
            "params": _texts(params),
            "tags": _texts(tags),
            "parent_id": parent_id,
            "environment_digest": environment_digest,
            "cloned_from": cloned_from,
        }
        return self._run(self.api.post("/api/v1/runs", json=body))

    def end_run(self, run_id: str, status: RunStatus = "finished") -> Run:
        return self._run(self.api.post(f"{self._at(run_id)}/end", json={"status": status}))

    def get_run(self, run_id: str) -> Run:
        return self._run(self.api.get(self._at(run_id)))

    def delete_run(self, run_id: str) -> None:
        self.api.delete(self._at(run_id))

    def log_params(self, run_id: str, params: Mapping[str, object]) -> None:
        self.api.post(f"{self._at(run_id)}/params", json={"params": _texts(params)})

    def set_tags(self, run_id: str, tags: Mapping[str, object]) -> None:
        self.api.post(f"{self._at(run_id)}/tags", json={"tags": _texts(tags)})

    def log_metrics(self, run_id: str, points: Sequence[MetricPoint]) -> None:
        # Compact rows, not objects: a batch of 10,000 points is a third of the bytes.
        rows = [[p.key, encode_float(p.value), p.step, p.timestamp_ms] for p in points]
        self.api.post(f"{self._at(run_id)}/metrics", json={"points": rows})

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        data = self.api.get(f"{self._at(run_id)}/metrics/history", params={"key": key})
        return [MetricPoint(key, decode_float(v), int(s), int(t)) for v, s, t in data["points"]]

    def metric_summaries(self, run_id: str) -> list[MetricSummary]:
        data = self.api.get(f"{self._at(run_id)}/metrics")
        return [
            MetricSummary(
                key=m["key"],
                latest=decode_float(m["latest"]),
                latest_step=m["latest_step"],
                min=m["min"],
                max=m["max"],
                count=m["count"],
            )
            for m in data["metrics"]
        ]

    def search_runs(
        self,
        project: str,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int = 1000,
        offset: int = 0,
    ) -> list[Run]:
        body = {
            "project": project,
            "filter": filter,
            "order_by": list(order_by),
            "limit": limit,
            "offset": offset,
        }
        data = self.api.request("POST", "/api/v1/runs/search", json=body, idempotent=True)
        return [self._run(r) for r in data["runs"]]

    def log_artifact(self, run_id: str, path: str, source: Path | bytes) -> Artifact:
        self.get_run(run_id)  # an unknown run fails before any upload
        ref = self.put_blob(source)
        body = {"path": path, "digest": ref.digest, "size": ref.size}
        return self.api.decode(Artifact, self.api.post(f"{self._at(run_id)}/artifacts", json=body))

    def list_artifacts(self, run_id: str) -> list[Artifact]:
        return self.api.decode(list[Artifact], self.api.get(f"{self._at(run_id)}/artifacts"))

    def _at(self, run_id: str) -> str:
        return f"/api/v1/runs/{validate_run_id(run_id)}"

    def _run(self, data: dict[str, object]) -> Run:
        metrics = data.get("metrics") or {}
        assert isinstance(metrics, dict)
        fixed = {**data, "metrics": {k: decode_float(v) for k, v in metrics.items()}}
        return self.api.decode(Run, fixed)

    def close(self) -> None:
        self.api.close()


def _texts(values: Mapping[str, object] | None) -> dict[str, object]:
    """Values as JSON can carry them; the server applies the same rules as local mode."""
    out: dict[str, object] = {}
    for key, value in (values or {}).items():
        out[key] = (
            value if value is None or isinstance(value, str | bool | int | float) else str(value)
        )
    return out


class _HashingSink:
    """Hashes what is written through it to another sink."""

    def __init__(self, target: Sink) -> None:
        self._target = target
        self._hasher = hashlib.sha256()

    def write(self, data: bytes, /) -> int:
        self._hasher.update(data)
        self._target.write(data)
        return len(data)

    def hexdigest(self) -> str:
        return self._hasher.hexdigest()


def _hash_file(path: Path) -> BlobRef:
    hasher = hashlib.sha256()
    size = 0
    try:
        with Path(path).open("rb") as f:
            while chunk := f.read(1 << 20):
                hasher.update(chunk)
                size += len(chunk)
    except FileNotFoundError as exc:
        raise NotFound(f"Cannot store {str(path)!r}: no such file. Check the path.") from exc
    return BlobRef(hasher.hexdigest(), size)
