"""The seam between the blob store and the places blobs live: four methods on raw keys."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

__all__ = ["BlobBackend"]


@runtime_checkable
class BlobBackend(Protocol):
    """Where blob bytes live: a local folder, an S3 bucket, any fsspec file system.

    A backend knows nothing about digests or hashing; :class:`~loopline.blobs.BlobStore` does
    that and hands the backend raw keys such as ``"sha256/ab/abcd…"``. A backend must refuse
    a key that would leave its root (``"../x"``, ``"/etc/passwd"``) with
    :class:`~loopline.errors.InvalidInput`, and translate its own library's errors into Loopline
    errors (:class:`~loopline.errors.NotFound`, :class:`~loopline.errors.StorageError`).

    Besides the four methods, a backend has a ``url`` attribute: where its blobs live, as a
    person would write it (``/home/me/.loopline/blobs``, ``s3://bucket/prefix``). Error messages
    show it.

    Example: a backend that keeps blobs in a dict (good enough for a test)::

        import io
        from pathlib import Path
        from typing import BinaryIO

        from loopline.blobs import BlobStore
        from loopline.errors import NotFound


        class DictBackend:
            url = "memory://blobs"

            def __init__(self) -> None:
                self.data: dict[str, bytes] = {}

            def size(self, key: str) -> int | None:
                blob = self.data.get(key)
                return None if blob is None else len(blob)

            def open(self, key: str) -> BinaryIO:
                if key not in self.data:
                    raise NotFound(f"No blob at {key!r}.", details={"key": key})
                return io.BytesIO(self.data[key])

            def publish(self, key: str, staged: Path) -> None:
                self.data[key] = staged.read_bytes()  # one assignment: all or nothing
                staged.unlink()

            def delete(self, key: str) -> bool:
                return self.data.pop(key, None) is not None


        store = BlobStore(DictBackend(), staging_dir=Path("staging"))
        ref = store.put_bytes(b"hello")
        assert store.get_bytes(ref.digest) == b"hello"
    """

    @property
    def url(self) -> str:
        """Where the blobs live, for messages: a folder path or a URL such as ``s3://b/p``."""
        ...

    def size(self, key: str) -> int | None:
        """Return the size in bytes of the object at ``key``, or ``None`` when there is none."""
        ...

    def open(self, key: str) -> BinaryIO:
        """Open the object at ``key`` for reading from its start.

        Raises:
            NotFound: there is no object at ``key``. Put ``details={"key": key}`` on it when
                that is all there is to say, and the store names the missing digest instead; a
                NotFound without it (a missing bucket, say) reaches the caller unchanged.
        """
        ...

    def publish(self, key: str, staged: Path) -> None:
        """Make the complete local file ``staged`` visible under ``key``, atomically.

        The backend takes ownership of ``staged``: on success the file is gone (moved or
        uploaded, then deleted). Readers of ``key`` see the old object or the new one, never a
        part of it. An existing object at ``key`` is replaced.
        """
        ...

    def delete(self, key: str) -> bool:
        """Delete the object at ``key``; return whether there was one."""
        ...
