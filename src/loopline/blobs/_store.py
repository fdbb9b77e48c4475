"""BlobStore: content addressing, hashing while writing, and verification while reading."""

from __future__ import annotations

import hashlib
import io
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from loopline.blobs._protocol import BlobBackend
from loopline.errors import CorruptBlob, InvalidInput, LooplineError, NotFound, StorageError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["BlobRef", "BlobStore", "Readable", "blob_key", "validate_digest", "CHUNK_SIZE"]

CHUNK_SIZE = 1 << 20
"""Bytes read, hashed and written at a time: large enough that hashlib releases the GIL."""

_DIGEST = re.compile(r"[0-9a-f]{64}")


class Readable(Protocol):
    """Anything with a binary ``read(size)``: an open file, a socket file, a gzip stream, ..."""

    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A stored blob: its SHA-256 digest (64 lowercase hex characters) and its size in bytes."""

    digest: str
    size: int


class BlobStore:
    """Content-addressed blobs: the key of some bytes is their SHA-256.

    Writes hash and stage in one pass, then publish atomically, so a blob is either complete
    under its digest or absent. Putting the same bytes twice stores them once. Reads are
    verified: a blob whose bytes no longer hash to its digest raises
    :class:`~loopline.errors.CorruptBlob` instead of returning wrong data.

    Use :func:`~loopline.blobs.open_blob_store` to get the store the settings describe; build one
    directly to choose the backend yourself.

    Args:
        backend: where the bytes live (:class:`~loopline.blobs.LocalFolderBackend`,
            :class:`~loopline.blobs.FsspecBackend`, or your own :class:`BlobBackend`).
        staging_dir: a local folder for files being written; created when needed.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from loopline.blobs import LocalFolderBackend
        >>> root = Path(tempfile.mkdtemp())
        >>> backend = LocalFolderBackend(root, fsync=False)
        >>> store = BlobStore(backend, backend.staging_dir)
        >>> ref = store.put_bytes(b"hello")
        >>> ref.digest[:12], ref.size
        ('2cf24dba5fb0', 5)
        >>> store.get_bytes(ref.digest)
        b'hello'
    """

    def __init__(self, backend: BlobBackend, staging_dir: Path) -> None:
        self._backend = backend
        self._staging_dir = Path(staging_dir)

    @property
    def backend(self) -> BlobBackend:
        """The backend holding the bytes."""
        return self._backend

    @property
    def url(self) -> str:
        """Where the blobs live (the backend's root), for messages."""
        return self._backend.url

    def __repr__(self) -> str:
        return f"BlobStore({self._backend!r})"

    # -- writing -----------------------------------------------------------------------------

    def put_bytes(self, data: bytes | bytearray | memoryview) -> BlobRef:
        """Store ``data`` and return its reference. Storing the same bytes again is free."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInput(
                f"put_bytes needs bytes, not {type(data).__name__}; "
                f"encode text first (text.encode()) or use put_stream for a file object."
            )
        data = bytes(data)  # a private immutable copy: nobody can change it while we store it
        ref = BlobRef(hashlib.sha256(data).hexdigest(), len(data))
        key = blob_key(ref.digest)
        # Bytes cannot change under us, so hash first and skip staging when already stored.
        if self._backend.size(key) != ref.size:
            staged, _ = self._stage(io.BytesIO(data), hash_it=False)
            self._publish(key, staged)
        return ref

    def put_file(self, path: str | os.PathLike[str]) -> BlobRef:
        """Store the content of the file at ``path`` and return its reference.

        Raises:
            NotFound: there is no file at ``path``.
            InvalidInput: ``path`` is a folder, or cannot be read.
        """
        shown = os.fspath(path)
        try:
            source = Path(path).open("rb", buffering=0)  # noqa: SIM115 - `with` below
        except FileNotFoundError as exc:
            raise NotFound(f"Cannot store {shown!r}: no such file. Check the path.") from exc
        except IsADirectoryError as exc:
            raise InvalidInput(
                f"Cannot store {shown!r}: it is a folder. Store its files one by one (put_many)."
            ) from exc
        except OSError as exc:
            raise InvalidInput(f"Cannot store {shown!r}: {exc.strerror}.") from exc
        with source:
            return self._put_source(source)

    def put_stream(self, stream: Readable) -> BlobRef:
        """Store everything ``stream`` yields until its end and return the reference.

        The stream is read once, in chunks of about 1 MiB; it is not closed.
        """
        return self._put_source(stream)

    def put_many(
        self, paths: Iterable[str | os.PathLike[str]], *, workers: int = 4
    ) -> list[BlobRef]:
        """Store many files in parallel; return their references in the order of ``paths``.

        Args:
            paths: the files to store.
            workers: threads hashing and writing at once. Hashing large buffers releases the
                GIL, so this scales with cores up to the disk's speed.

        Raises:
            NotFound, InvalidInput: as :meth:`put_file`, for the first failing path.
        """
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidInput(f"workers={workers!r}: expected a whole number of at least 1.")
        items = list(paths)
        if not items:
            return []
        if workers == 1 or len(items) == 1:
            return [self.put_file(p) for p in items]
        with ThreadPoolExecutor(
            max_workers=min(workers, len(items)), thread_name_prefix="loopline-blobs"
        ) as pool:
            return list(pool.map(self.put_file, items))

    def _put_source(self, source: Readable) -> BlobRef:
        staged, ref = self._stage(source)
        return self._commit(staged, ref)

    def _commit(self, staged: Path, ref: BlobRef) -> BlobRef:
        key = blob_key(ref.digest)
        try:
            existing = self._backend.size(key)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        # Same size: the blob is there (dedup). Another size: it was damaged, so the fresh
        # copy replaces it (self-repair). Absent: publish.
        if existing == ref.size:
            staged.unlink(missing_ok=True)
        else:
            self._publish(key, staged)
        return ref

    def _publish(self, key: str, staged: Path) -> None:
        try:
            self._backend.publish(key, staged)
        finally:
            staged.unlink(missing_ok=True)  # gone already unless publishing failed

    def _stage(self, source: Readable, *, hash_it: bool = True) -> tuple[Path, BlobRef]:
        """Copy ``source`` into a new staging file, hashing the very bytes written."""
        try:
            self._staging_dir.mkdir(parents=True, exist_ok=True)
            staged = self._staging_dir / f"{uuid.uuid4().hex}.part"
            fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o644)
        except OSError as exc:
            raise StorageError(
                f"Cannot create a staging file in {self._staging_dir}: {exc.strerror}. "
                f"Check that the folder is writable."
            ) from exc
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb", buffering=0) as out:
                for chunk in _chunks(source):
                    if hash_it:
                        digest.update(chunk)
                    try:
                        _write_all(out, chunk)
                    except OSError as exc:
                        raise StorageError(
                            f"Cannot write to staging folder {self._staging_dir}: "
                            f"{exc.strerror}. Free some disk space or move LOOPLINE_HOME."
                        ) from exc
                    size += len(chunk)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        return staged, BlobRef(digest.hexdigest(), size)

    # -- reading -----------------------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        """Return whether a blob with this digest is stored."""
        return self._backend.size(blob_key(digest)) is not None

    def size(self, digest: str) -> int:
        """Return the size in bytes of a stored blob; raise NotFound when it is absent."""
        size = self._backend.size(blob_key(digest))
        if size is None:
            raise NotFound(f"No blob {digest} in {self.url}. Put its content first.")
        return size

    def open(self, digest: str) -> BinaryIO:
        """Open a stored blob for reading; reading all of its bytes verifies them.

        Use it as a context manager. The read that delivers the blob's last byte (by its
        stored size, so ``read(n)`` of exactly the size is checked too, as ``pickle.load`` and
        ``numpy.load`` read) raises :class:`~loopline.errors.CorruptBlob` when the bytes do not
        hash to ``digest``. A blob closed before its end is not verified.

        Raises:
            NotFound: no blob with this digest.
        """
        expected = self.size(digest)
        inner = self._open_backend(digest)
        reader = _VerifyingReader(inner, digest, self.url, expected)
        return io.BufferedReader(reader, buffer_size=CHUNK_SIZE)

    def get_bytes(self, digest: str) -> bytes:
        """Return the content of a stored blob, verified.

        Raises:
            NotFound: no blob with this digest.
            CorruptBlob: the stored bytes do not hash to ``digest``.
        """
        with self._open_backend(digest) as inner:
            data = _read(inner, digest, self.url, -1)
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise _corrupt(digest, actual, self.url)
        return data

    def local_copy(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        """Copy a stored blob to the local file ``dest``, verified, and return its path.

        The copy goes to a temporary file beside ``dest`` and is renamed into place only once
        verified: a corrupt blob never produces ``dest`` and never damages an existing one.
        Missing parent folders are created.

        Raises:
            NotFound: no blob with this digest.
            CorruptBlob: the stored bytes do not hash to ``digest``.
            InvalidInput: ``dest`` is a folder.
        """
        target = Path(dest)
        if target.is_dir():
            raise InvalidInput(f"Cannot copy blob {digest} to {target}: it is a folder.")
        inner = self._open_backend(digest)
        temp = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.part"
        try:
            with inner:
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    out = temp.open("wb", buffering=0)
                except OSError as exc:
                    raise StorageError(
                        f"Cannot write {target}: {exc.strerror}. Check the folder."
                    ) from exc
                with out:
                    for chunk in self._verified_chunks(inner, digest):
                        _write_all(out, chunk)
            temp.replace(target)
        except OSError as exc:
            raise StorageError(f"Cannot write {target}: {exc.strerror}. Check the folder.") from exc
        finally:
            temp.unlink(missing_ok=True)
        return target

    def delete(self, digest: str) -> bool:
        """Delete a stored blob; return whether there was one."""
        return self._backend.delete(blob_key(digest))

    def _open_backend(self, digest: str) -> BinaryIO:
        key = blob_key(digest)
        try:
            return self._backend.open(key)
        except NotFound as exc:
            if exc.details.get("key") != key:
                raise  # the backend knows better (a missing bucket, say): keep its message
            # Name the digest, which the caller knows, rather than the backend's raw key.
            raise NotFound(
                f"No blob {digest} in {self.url}. Put its content first.",
                details={"digest": digest, "store": self.url},
            ) from exc

    def _verified_chunks(self, inner: BinaryIO, digest: str) -> Iterator[bytes | memoryview]:
        hasher = hashlib.sha256()
        try:
            for chunk in _chunks(inner):
                hasher.update(chunk)
                yield chunk
        except LooplineError:
            raise
        except Exception as exc:
            raise _read_failed(digest, self.url, exc) from exc
        if hasher.hexdigest() != digest:
            raise _corrupt(digest, hasher.hexdigest(), self.url)


class _VerifyingReader(io.RawIOBase):
    """A read-only raw stream over a backend file that checks the digest at end of file."""

    def __init__(self, inner: BinaryIO, digest: str, url: str, expected_size: int) -> None:
        super().__init__()
        self._inner = inner
        self._digest = digest
        self._url = url
        self._expected = expected_size
        self._seen = 0
        self._hasher = hashlib.sha256()
        self._verified = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        if not view.nbytes:
            return 0
        data = _read(self._inner, self._digest, self._url, view.nbytes)
        if not data:
            self._check()
            return 0
        view[: len(data)] = data
        self._take(data)
        return len(data)

    def readall(self) -> bytes:
        parts = []
        while data := _read(self._inner, self._digest, self._url, CHUNK_SIZE):
            self._take(data)
            parts.append(data)
        self._check()
        return b"".join(parts)

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()

    def _take(self, data: bytes) -> None:
        if self._verified:  # bytes past the verified end: the blob changed under the reader
            self._hasher.update(data)
            raise _corrupt(self._digest, self._hasher.hexdigest(), self._url)
        self._hasher.update(data)
        self._seen += len(data)
        # Check as soon as the last byte is delivered: a reader that stops at the size it
        # expects never asks for the end of file.
        if self._seen >= self._expected:
            self._check()

    def _check(self) -> None:
        if self._verified:
            return
        actual = self._hasher.hexdigest()
        if actual != self._digest:
            raise _corrupt(self._digest, actual, self._url)
        self._verified = True


def validate_digest(digest: object) -> str:
    """Return ``digest`` if it is 64 lowercase hex characters, else raise InvalidInput."""
    blob_key(digest)  # type: ignore[arg-type]  # blob_key checks the type too
    return digest  # type: ignore[return-value]


def blob_key(digest: str) -> str:
    """Return the backend key of a digest, ``sha256/ab/<digest>``; validate it first.

    One folder level of 256 (as git and DVC use): two levels made nearly every small blob
    create a folder of its own, which cost 21% of the time of storing 2,000 small files.

    Raises:
        InvalidInput: ``digest`` is not 64 lowercase hex characters.
    """
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        shown = repr(digest)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise InvalidInput(
            f"{shown} is not a blob digest: expected 64 lowercase hex characters (a SHA-256)."
        )
    return f"sha256/{digest[:2]}/{digest}"


def _chunks(source: Readable) -> Iterator[bytes | memoryview]:
    """Yield ``source`` in chunks; a yielded view is only valid until the next one."""
    if isinstance(source, io.RawIOBase | io.BufferedIOBase):
        # A real file: reuse one buffer rather than allocate a fresh megabyte per chunk.
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        while count := source.readinto(buffer):
            yield view[:count]
        return
    while True:
        chunk: bytes | str = source.read(CHUNK_SIZE)  # str: a text stream passed by mistake
        if isinstance(chunk, str):
            raise InvalidInput(
                "put_stream needs a binary stream, but read() returned text; "
                "open the file in binary mode ('rb')."
            )
        if not chunk:
            return
        yield chunk


def _write_all(out: io.FileIO, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = out.write(view)
        view = view[written or 0 :]


def _read(inner: BinaryIO, digest: str, url: str, size: int) -> bytes:
    try:
        return inner.read(size)
    except LooplineError:
        raise
    except Exception as exc:
        raise _read_failed(digest, url, exc) from exc


def _read_failed(digest: str, url: str, exc: Exception) -> StorageError:
    # Whatever the backend's library raises mid-read (a dropped connection, an I/O error)
    # reaches the caller as a StorageError, with the original kept as its cause.
    said = " ".join(str(exc).split()) or type(exc).__name__
    return StorageError(
        f"Reading blob {digest} from {url} failed: {said}. Retry, or check the store."
    )


def _corrupt(digest: str, actual: str, url: str) -> CorruptBlob:
    return CorruptBlob(
        f"Blob {digest} in {url} is corrupt: its bytes hash to {actual}. Repair it: delete it "
        f"(BlobStore.delete) and put the original content again.",
        details={"digest": digest, "actual": actual, "store": url},
    )


_O_BINARY: int = getattr(os, "O_BINARY", 0)
