"""Content-addressed blob store: SHA-256 keys, atomic writes, verified reads; folder or S3."""

from loopline.blobs._fsspec import FsspecBackend
from loopline.blobs._local import LocalFolderBackend
from loopline.blobs._protocol import BlobBackend
from loopline.blobs._registry import open_blob_store
from loopline.blobs._store import BlobRef, BlobStore, validate_digest

__all__ = [
    "open_blob_store",
    "BlobStore",
    "BlobRef",
    "BlobBackend",
    "LocalFolderBackend",
    "FsspecBackend",
    "validate_digest",
]
