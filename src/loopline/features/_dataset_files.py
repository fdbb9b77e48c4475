"""The files of a :class:`DatasetSource`: a registered dataset version, resolved at read time.

A source names a version as users do (``"latest"``, a number, an alias); which version that is
depends on when it is read. Each read resolves it once, through the backend (the embedded store
or a server), reads the manifest, and fetches the files it names through the backend's blob
access, verified against their digests (a blob store that is a local folder is read in place,
anything else is downloaded once into the local blob cache). The resolved version is kept, so
the caller can record it: in a training frame's metadata, in the materialization record.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from loopline.datasets import FileEntry, Manifest, VersionInfo
from loopline.datasets._local_copy import LocalFiles
from loopline.errors import CorruptBlob, NotFound, did_you_mean
from loopline.features._definitions import DatasetSource

__all__ = ["DatasetStore", "DatasetFiles", "ResolvedVersion"]

_MAGIC = frozenset("*?[")


class DatasetStore(Protocol):
    """What reading a dataset source needs: a backend's version lookup and blob access.

    Both backends are one (``LocalBackend``, ``RemoteBackend``).

    Example:
        >>> files = DatasetFiles(client._backend, "rides", home / "cache" / "blobs")
    """

    def get_version(self, project: str, name: str, ref: int | str = "latest") -> VersionInfo: ...

    def get_blob(self, digest: str) -> bytes: ...

    def local_blob_path(self, digest: str) -> Path | None: ...

    def download_blob(self, digest: str, dest: Path) -> Path: ...


@dataclass(frozen=True, slots=True)
class ResolvedVersion:
    """The version a dataset source was read at, and the files read from it."""

    project: str
    dataset: str
    number: int
    digest: str
    files: tuple[str, ...]

    @property
    def ref(self) -> str:
        """``project/dataset:number``, as ``ll.Dataset.get`` and the CLI take it."""
        return f"{self.project}/{self.dataset}:{self.number}"

    def to_json(self) -> dict[str, object]:
        return {
            "dataset": f"{self.project}/{self.dataset}",
            "version": self.number,
            "digest": self.digest,
            "files": list(self.files),
        }


class DatasetFiles:
    """Resolves dataset sources for the views of one project, once per view per read.

    Args:
        store: the backend.
        project: the project of the feature definitions (a source without a ``project`` reads
            a dataset of this one).
        cache_dir: the local blob cache, for blobs not in a local folder.
    """

    def __init__(self, store: DatasetStore, project: str, cache_dir: Path) -> None:
        self._store = store
        self._project = project
        # Copies are never made here (only single files are fetched): the state folder is unused.
        self._files = LocalFiles(store, cache_dir, cache_dir.parent / "copies", progress=False)
        self.resolved: dict[str, ResolvedVersion] = {}
        self._paths: dict[str, list[Path]] = {}

    def resolve(self, view: str, source: DatasetSource) -> ResolvedVersion:
        """The version ``source`` names now, for ``view`` (the same for the rest of this read).

        Raises:
            NotFound: the dataset, the version or the file does not exist.
            CorruptBlob: the manifest is damaged.
        """
        found = self.resolved.get(view)
        if found is not None:
            return found
        project = source.project or self._project
        info = self._store.get_version(project, source.dataset, source.version)
        try:
            manifest = Manifest.decode(self._store.get_blob(info.digest), where=info.ref)
        except CorruptBlob as exc:
            raise CorruptBlob(
                f"The file list of {info.ref} (the source of feature view {view!r}) is "
                f"corrupt: {exc.message}",
                details=exc.details,
            ) from exc
        entries = _matching(manifest, source.path)
        if not entries:
            raise NotFound(
                f"The source of feature view {view!r}: {info.ref} has no file matching "
                f"{source.path!r}.{did_you_mean(source.path, manifest.entries)} Fix "
                f"DatasetSource(path=...) and apply again, or commit the file."
            )
        label = f"{info.ref} (the source of feature view {view!r})"
        self._paths[view] = [self._files.fetch(e, label=label) for e in entries]
        found = ResolvedVersion(
            project, source.dataset, info.number, info.digest, tuple(e.path for e in entries)
        )
        self.resolved[view] = found
        return found

    def paths(self, view: str, source: DatasetSource) -> list[Path]:
        """Local, verified files holding the source's rows (resolving it if not done yet)."""
        self.resolve(view, source)
        return self._paths[view]


def _matching(manifest: Manifest, pattern: str) -> list[FileEntry]:
    if not _MAGIC & set(pattern):
        entry = manifest.get(pattern)
        if entry is not None:
            return [entry]
        # A folder: every file under it.
        prefix = pattern.rstrip("/") + "/"
        return [e for e in manifest if e.path.startswith(prefix)]
    return [e for e in manifest if fnmatch.fnmatchcase(e.path, pattern)]
