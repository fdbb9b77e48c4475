"""RemoteBackend: the same operations, sent to a Loopline server."""

from __future__ import annotations

import hashlib
import io
import uuid
from pathlib import Path

from loopline.blobs import BlobRef, validate_digest
from loopline.client import ApiClient, Sink
from loopline.config import Settings
from loopline.errors import CorruptBlob, NotFound
from loopline.projects import Project, validate_project_name

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

    def close(self) -> None:
        self.api.close()


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
