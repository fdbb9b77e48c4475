"""LocalFolderBackend: blobs as files in a folder, published with an atomic rename."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from loopline.blobs._store import BlobStore
from loopline.errors import InvalidInput, NotFound, StorageError

if TYPE_CHECKING:
    from loopline.config import Settings

__all__ = ["LocalFolderBackend", "open_local_store"]

STAGING_FOLDER = ".staging"
"""The folder inside the root where staged files wait, so publishing is a same-disk rename."""


class LocalFolderBackend:
    """Blobs as plain files under ``root``; a key is a relative path inside it.

    Publishing is :func:`os.replace` of a staged file, so readers see a whole blob or none.
    Stage files in ``root / ".staging"`` (see :attr:`staging_dir`) to keep that a rename on one
    disk; a staged file on another disk is copied into that folder first.

    Args:
        root: the folder that holds the blobs; created on the first write.
        fsync: flush each blob and its folder to disk before :meth:`publish` returns, so a
            published blob survives a power cut (slower; see ``LOOPLINE_BLOB_FSYNC``).

    Example:
        >>> import tempfile
        >>> backend = LocalFolderBackend(Path(tempfile.mkdtemp()), fsync=False)
        >>> backend.size("sha256/00/nothing") is None
        True
    """

    def __init__(self, root: Path, *, fsync: bool = False) -> None:
        self._root = Path(root).expanduser().resolve()
        self._fsync = fsync

    @property
    def url(self) -> str:
        """The root folder, as a string."""
        return str(self._root)

    @property
    def root(self) -> Path:
        """The root folder (absolute, symlinks resolved)."""
        return self._root

    @property
    def staging_dir(self) -> Path:
        """Where to stage files so :meth:`publish` is a rename: ``root / ".staging"``."""
        return self._root / STAGING_FOLDER

    def __repr__(self) -> str:
        return f"LocalFolderBackend({self.url!r}, fsync={self._fsync})"

    def size(self, key: str) -> int | None:
        """Return the size of the file at ``key``, or ``None`` when there is no file."""
        path = self._path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StorageError(f"Cannot read {path}: {exc.strerror}. Check the folder.") from exc
        # A folder (or anything but a file) where a blob belongs is no blob.
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def open(self, key: str) -> BinaryIO:
        """Open the file at ``key`` for reading; raise NotFound when there is none."""
        path = self._path(key)
        try:
            return path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise NotFound(f"No blob at {key!r} in {self.url}.", details={"key": key}) from exc
        except OSError as exc:
            raise StorageError(f"Cannot open {path}: {exc.strerror}. Check the folder.") from exc

    def publish(self, key: str, staged: Path) -> None:
        """Move ``staged`` to ``key`` with an atomic rename (after an fsync when asked)."""
        path = self._path(key)
        try:
            created = _make_dirs(path.parent)
            if self._fsync:
                _fsync_file(staged)
            try:
                staged.replace(path)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                self._publish_across_disks(staged, path)
            if self._fsync:
                # The rename and any new folders are entries in their parents: flush those too.
                for folder in {path.parent, *(d.parent for d in created)}:
                    _fsync_dir(folder)
        except OSError as exc:
            raise StorageError(
                f"Cannot write blob {path}: {exc.strerror or exc}. "
                f"Check that {self.url} is writable and the disk is not full."
            ) from exc

    def delete(self, key: str) -> bool:
        """Remove the file at ``key``; return whether there was one."""
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            raise StorageError(f"Cannot delete {path}: {exc.strerror}. Check the folder.") from exc
        return True

    def _path(self, key: str) -> Path:
        # Refuse a key that leaves the root, whether by "..", an absolute path or a symlink.
        if not key or "\0" in key or Path(key).is_absolute():
            raise InvalidInput(f"Blob key {key!r} escapes the blob root {self.url}: refused.")
        path = (self._root / key).resolve()
        if path == self._root or not path.is_relative_to(self._root):
            raise InvalidInput(f"Blob key {key!r} escapes the blob root {self.url}: refused.")
        return path

    def _publish_across_disks(self, staged: Path, path: Path) -> None:
        # os.replace cannot cross file systems: copy into the root's own staging folder,
        # then rename from there, so readers still never see half a file.
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        temp = self.staging_dir / f"{uuid.uuid4().hex}.part"
        try:
            shutil.copyfile(staged, temp)
            if self._fsync:
                _fsync_file(temp)
            temp.replace(path)
        finally:
            temp.unlink(missing_ok=True)
        staged.unlink(missing_ok=True)


def _make_dirs(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return the ones this call created."""
    missing: list[Path] = []
    current = folder
    while not current.is_dir():
        missing.append(current)
        current = current.parent
    created: list[Path] = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            continue  # another writer made it first
        created.append(path)
    return created


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_local_store(url: str, settings: Settings) -> BlobStore:
    """Open the blob store in the folder ``url`` (registry factory for plain paths).

    Files are staged inside the root (``<root>/.staging``) so publishing is a rename on one disk.
    """
    backend = LocalFolderBackend(Path(url.removeprefix("file://")), fsync=settings.blob_fsync)
    return BlobStore(backend, backend.staging_dir)
