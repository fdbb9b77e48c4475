"""Local copies of dataset versions: a folder holding a version's files, verified.

Where each file comes from:

- the blob store itself, when it is a folder on this machine (the file is hard-linked from it);
- otherwise the local blob cache (``<home>/cache/blobs``), filled by downloading once.

A hard link shares its bytes with the blob store, so the linked file is made read-only: editing
it in place would change a blob under its digest. (An editor that saves by writing a new file
and renaming it breaks the link instead, which is harmless.) When a link is not possible (another
file system, or ``link=False``) the file is copied, and hashed while copied.

Every file is verified against its digest before it appears in the copy. What was placed is
recorded in ``<home>/cache/copies`` (path, digest, size, modification time, inode), so making the
same copy again only looks at the files: it fetches what is missing or was changed, and removes
what the version no longer has.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import uuid
from pathlib import Path
from typing import Any, Protocol

from loopline.blobs import BlobRef
from loopline.datasets._hashing import hash_file, parallel_map
from loopline.datasets._manifest import Manifest
from loopline.datasets._progress import ByteProgress
from loopline.datasets._types import FileEntry
from loopline.errors import CorruptBlob, InvalidInput, StorageError

__all__ = ["BlobSource", "LocalFiles", "STATE_VERSION"]

STATE_VERSION = 1
_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
_COPY_CHUNK = 1 << 20


class BlobSource(Protocol):
    """Where blobs come from: the backend (local or remote) the SDK talks to."""

    def local_blob_path(self, digest: str) -> Path | None:
        """The blob's own file, when the blob store is a folder on this machine."""
        ...

    def download_blob(self, digest: str, dest: Path) -> Path:
        """Copy a blob to ``dest``, verified."""
        ...


class LocalFiles:
    """Verified local files for blobs, and folders of them (see the module doc).

    Args:
        source: the backend.
        cache_dir: the local blob cache (used when the store is not a local folder).
        state_dir: where made copies are recorded.
        workers: threads fetching and placing files.
        progress: show progress bars (None: when stderr is a terminal).

    Example:
        >>> files = LocalFiles(backend, home / "cache" / "blobs", home / "cache" / "copies")
        >>> files.materialize(manifest, Path("data/digits"), label="digits:3")
        PosixPath('data/digits')
    """

    def __init__(
        self,
        source: BlobSource,
        cache_dir: Path,
        state_dir: Path,
        *,
        workers: int | None = None,
        progress: bool | None = None,
    ) -> None:
        self._source = source
        self._cache_dir = cache_dir
        self._state_dir = state_dir
        self._workers = workers
        self._progress = progress

    # -- one file ------------------------------------------------------------------------------

    def fetch(self, entry: FileEntry, *, label: str, verify: bool = True) -> Path:
        """A local file holding ``entry``'s bytes: the store's own file or a cached one.

        Args:
            verify: hash a file that is already local before answering (a download is always
                verified); pass False only when the caller hashes what it reads anyway.

        Raises:
            CorruptBlob: the bytes do not match the digest (the message names the file).
        """
        store_file = self._source.local_blob_path(entry.digest)
        if store_file is not None:
            if verify:
                self._verify(store_file, entry, label)
            return store_file
        cached = self._cache_dir / "sha256" / entry.digest[:2] / entry.digest
        if cached.is_file():
            try:
                if verify:
                    self._verify(cached, entry, label)
                return cached
            except CorruptBlob:
                cached.unlink()  # a damaged cache entry is fetched again
        try:
            self._source.download_blob(entry.digest, cached)
        except CorruptBlob as exc:
            raise _corrupt_file(entry, label, exc.message) from exc
        with contextlib.suppress(OSError):
            cached.chmod(_READ_ONLY)
        return cached

    def _verify(self, path: Path, entry: FileEntry, label: str) -> None:
        ref = hash_file(path)
        if ref != BlobRef(entry.digest, entry.size):
            raise _corrupt_file(
                entry, label, f"its blob {path} hashes to {ref.digest} ({ref.size} bytes)"
            )

    # -- a folder ------------------------------------------------------------------------------

    def materialize(self, manifest: Manifest, dest: Path, *, label: str, link: bool = True) -> Path:
        """Make ``dest`` hold exactly the files of ``manifest``; return ``dest``.

        Raises:
            InvalidInput: ``dest`` is a file, or a non-empty folder this did not make.
            CorruptBlob: a blob does not match its digest (the message names the file).
        """
        dest = Path(dest).expanduser().absolute()
        if dest.exists() and not dest.is_dir():
            raise InvalidInput(f"Cannot copy {label} to {dest}: it is a file. Choose a folder.")
        state_file = self._state_dir / (
            hashlib.sha256(str(dest).encode()).hexdigest()[:32] + ".json"
        )
        state = _load_state(state_file, dest)
        if state is None and dest.is_dir() and any(dest.iterdir()):
            raise InvalidInput(
                f"Cannot copy {label} to {dest}: the folder is not empty, and it is not a copy "
                f"Loopline made. Choose an empty or new folder."
            )
        placed: dict[str, list[Any]] = dict((state or {}).get("files", {}))
        todo = [e for e in manifest if not _still_placed(dest, e, placed.get(e.path))]
        for path in [p for p in placed if p not in manifest]:
            with contextlib.suppress(FileNotFoundError):
                (dest / path).unlink()
            placed.pop(path)
        dest.mkdir(parents=True, exist_ok=True)
        total = sum(e.size for e in todo)
        with ByteProgress(
            f"Copying {label}", total_bytes=total, files=len(todo), enabled=self._progress
        ) as bar:

            def place(entry: FileEntry) -> list[Any]:
                target = dest / entry.path
                self._place(entry, target, label=label, link=link)
                st = target.stat()
                bar.advance(entry.size, files=1)
                return [entry.digest, st.st_size, st.st_mtime_ns, st.st_ino]

            for entry, record in zip(
                todo, parallel_map(place, todo, workers=self._workers), strict=True
            ):
                placed[entry.path] = record
        _save_state(
            state_file,
            {"state": STATE_VERSION, "dest": str(dest), "digest": manifest.digest, "files": placed},
        )
        return dest

    def _place(self, entry: FileEntry, target: Path, *, label: str, link: bool) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.part"
        try:
            # A copy is hashed while it is made: no need to hash its source first.
            source = self.fetch(entry, label=label, verify=link)
            if not (link and _try_link(source, temp)):
                _verified_copy(source, temp, entry, label)
            temp.replace(target)
        except OSError as exc:
            raise StorageError(
                f"Cannot write {target}: {exc.strerror or exc}. Check the folder and free space."
            ) from exc
        finally:
            temp.unlink(missing_ok=True)


def _try_link(source: Path, temp: Path) -> bool:
    """Hard-link ``source`` (made read-only first) to ``temp``; False when not possible."""
    try:
        if source.stat().st_mode & 0o222:
            source.chmod(_READ_ONLY)
        os.link(source, temp)
    except OSError:
        return False
    return True


def _verified_copy(source: Path, temp: Path, entry: FileEntry, label: str) -> None:
    hasher = hashlib.sha256()
    size = 0
    with source.open("rb", buffering=0) as src, temp.open("wb", buffering=0) as out:
        buffer = bytearray(_COPY_CHUNK)
        view = memoryview(buffer)
        while count := src.readinto(buffer):
            hasher.update(view[:count])
            out.write(view[:count])
            size += count
    if hasher.hexdigest() != entry.digest or size != entry.size:
        raise _corrupt_file(entry, label, f"its blob {source} hashes to {hasher.hexdigest()}")


def _still_placed(dest: Path, entry: FileEntry, record: list[Any] | None) -> bool:
    if record is None or record[0] != entry.digest:
        return False
    try:
        st = (dest / entry.path).stat()
    except OSError:
        return False
    return [st.st_size, st.st_mtime_ns, st.st_ino] == record[1:]


def _load_state(state_file: Path, dest: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if state.get("state") != STATE_VERSION or state.get("dest") != str(dest):
        return None
    return state if dest.is_dir() else None


def _save_state(state_file: Path, state: dict[str, Any]) -> None:
    state_file.parent.mkdir(parents=True, exist_ok=True)
    temp = state_file.with_suffix(f".{uuid.uuid4().hex[:8]}.part")
    temp.write_text(json.dumps(state, separators=(",", ":")), encoding="utf-8")
    temp.replace(state_file)


def _corrupt_file(entry: FileEntry, label: str, why: str) -> CorruptBlob:
    return CorruptBlob(
        f"File {entry.path!r} of {label} is corrupt: {why}, not {entry.digest}. The stored copy "
        f"was damaged; restore it from a backup, or commit the original file again.",
        details={"path": entry.path, "digest": entry.digest},
    )
