"""Helpers for the blob store tests: settings for each backend, inspecting and damaging a store."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.s3 import S3Server

from loopline.blobs import BlobStore, FsspecBackend, LocalFolderBackend
from loopline.config import Settings


def blob_key(digest: str) -> str:
    """The documented key layout, spelled out independently of the code under test."""
    return f"sha256/{digest[:2]}/{digest}"


def local_settings(tmp_path: Path, **extra: str) -> Settings:
    return Settings.from_env(
        {
            "LOOPLINE_HOME": str(tmp_path / "home"),
            "LOOPLINE_ARTIFACTS": str(tmp_path / "blobs"),
            **extra,
        }
    )


def s3_settings(tmp_path: Path, server: S3Server, bucket: str, **extra: str) -> Settings:
    return Settings.from_env(
        {
            "LOOPLINE_HOME": str(tmp_path / "home"),
            "LOOPLINE_ARTIFACTS": f"s3://{bucket}/blobs",
            "LOOPLINE_S3_ENDPOINT_URL": server.endpoint_url,
            "LOOPLINE_S3_KEY": server.key,
            "LOOPLINE_S3_SECRET": server.secret,
            **extra,
        }
    )


def stored_keys(store: BlobStore) -> list[str]:
    """Every object the backend holds under its root, as keys (staging files excluded)."""
    backend = store.backend
    if isinstance(backend, LocalFolderBackend):
        if not backend.root.exists():
            return []
        return sorted(
            p.relative_to(backend.root).as_posix()
            for p in backend.root.rglob("*")
            if p.is_file() and not p.relative_to(backend.root).as_posix().startswith(".staging/")
        )
    assert isinstance(backend, FsspecBackend)
    root = backend.url.split("://", 1)[1]
    found = backend.fs.find(root, detail=True)
    return sorted(
        path.removeprefix(root + "/") for path, info in found.items() if info["type"] == "file"
    )


def staged_files(store: BlobStore, tmp_path: Path) -> list[Path]:
    """Files left in any staging folder this store may use."""
    folders = [tmp_path / "home" / "staging"]
    if isinstance(store.backend, LocalFolderBackend):
        folders.append(store.backend.staging_dir)
    return [p for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()]


def overwrite_blob(store: BlobStore, digest: str, data: bytes) -> None:
    """Damage a stored blob: put other bytes at its key, straight through the backend."""
    backend = store.backend
    if isinstance(backend, LocalFolderBackend):
        (backend.root / blob_key(digest)).write_bytes(data)  # in place, as bit rot would
        return
    assert isinstance(backend, FsspecBackend)
    backend.fs.pipe_file(f"{backend.url.split('://', 1)[1]}/{blob_key(digest)}", data)
