"""Datasets from Python: ``ll.Dataset`` (a draft of the next version) and ``DatasetVersion``.

Everything goes through the client's backend, so a script behaves the same on the embedded
store, on a shared database, and against a server. A commit is resumable and atomic: files are
hashed locally (in parallel), only blobs the store lacks are uploaded, and the version appears
in one transaction at the very end; an interrupted commit leaves no version, and running it
again uploads only what is still missing.
"""

from __future__ import annotations

import builtins
import fnmatch
import json
import os
import uuid
import weakref
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from loopline._runs import active_run
from loopline.blobs import BlobRef
from loopline.datasets import (
    DatasetDiff,
    DatasetInfo,
    FileEntry,
    Lineage,
    Manifest,
    VersionInfo,
    diff_manifests,
    parse_version_ref,
    validate_dataset_name,
    validate_dataset_path,
    validate_version_ref,
)
from loopline.datasets._hashing import default_workers, hash_files, parallel_map
from loopline.datasets._local_copy import LocalFiles
from loopline.datasets._profile import PROFILE_SCHEMA, is_tabular, profile_file
from loopline.datasets._progress import ByteProgress
from loopline.errors import CorruptBlob, InvalidInput, NotFound, did_you_mean

if TYPE_CHECKING:
    import pandas as pd

    from loopline._client import Client
    from loopline.backends import Backend

__all__ = ["Dataset", "DatasetVersion"]

_MAGIC = frozenset("*?[")
_UPLOAD_WORKERS = 8


def _client_for(client: Client | None) -> Client:
    """The client given, else the current run's (so lineage lands in its store), else the
    default one."""
    if client is not None:
        return client
    run = active_run()
    if run is not None:
        return run._session.client
    from loopline._client import default_client

    return default_client()


def _run_of(client: Client) -> str | None:
    """The current run's id when it logs to ``client``'s store (lineage is recorded there)."""
    run = active_run()
    if run is not None and run._session.client is client:
        return run.id
    return None


def _local_files(client: Client) -> LocalFiles:
    home = client.settings.home
    return LocalFiles(
        client._backend,
        home / "cache" / "blobs",
        home / "cache" / "copies",
        progress=False if client.settings.quiet else None,
    )


def _read_manifest(backend: Backend, info: VersionInfo) -> Manifest:
    return Manifest.decode(backend.get_blob(info.digest), where=f"manifest of {info.ref}")


class Dataset:
    """A dataset, and the draft of its next version: add and remove files, then commit.

    Use :meth:`create` to start a draft, :meth:`get` to read a committed version.

    Example:
        >>> import loopline as ll
        >>> ds = ll.Dataset.create("digits", project="vision")
        >>> ds.add_files("data/train", dest="train")
        >>> ds.add_frame(labels, "labels.parquet")
        >>> v1 = ds.commit(message="first cut")
        >>> v1.number, v1.file_count
        (1, 1798)
        >>> ds = ll.Dataset.create("digits", project="vision", parent="latest")
        >>> ds.remove("train/0001.png")
        >>> v2 = ds.commit(message="drop a bad image")   # stores no file again
    """

    def __init__(
        self,
        client: Client,
        info: DatasetInfo,
        parent: VersionInfo | None,
        base: Manifest,
    ) -> None:
        self._client = client
        self._info = info
        self._parent = parent
        self._base = base
        self._added: dict[str, Path] = {}
        self._removed: set[str] = set()
        self._temp_files: builtins.list[Path] = []
        # Frames written for add_frame are removed when the draft goes away, committed or not.
        self._finalizer = weakref.finalize(self, _remove_files, self._temp_files)

    # -- entry points --------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        name: str,
        *,
        project: str | None = None,
        parent: DatasetVersion | int | str | None = None,
        description: str = "",
        client: Client | None = None,
    ) -> Dataset:
        """Start the next version of dataset ``name`` (created, with its project, if new).

        Args:
            name: the dataset (letters, digits, ``.``, ``_``, ``-``).
            project: its project (default ``LOOPLINE_PROJECT``).
            parent: what the draft starts from: ``None`` (no files), ``"latest"`` (the newest
                version, or nothing if there is none yet), a version number, an alias, or a
                :class:`DatasetVersion` of this dataset.
            description: a description, set when the dataset is created.
            client: the store to use (default: the current run's client, or the default one).
        """
        client = _client_for(client)
        backend = client._backend
        project = project or client.settings.project
        validate_dataset_name(name)
        info = backend.create_dataset(project, name, description)
        parent_info: VersionInfo | None = None
        if isinstance(parent, DatasetVersion):
            if (parent.project, parent.dataset) != (info.project, info.name):
                raise InvalidInput(
                    f"parent {parent.info.ref} is a version of another dataset; a draft of "
                    f"{info.project}/{info.name} starts from one of its own versions."
                )
            parent_info = parent.info
        elif parent == "latest":
            parent_info = info.latest
        elif parent is not None:
            parent_info = backend.get_version(project, name, validate_version_ref(parent))
        base = Manifest.empty() if parent_info is None else _read_manifest(backend, parent_info)
        return cls(client, info, parent_info, base)

    @classmethod
    def get(
        cls,
        name: str,
        version: int | str = "latest",
        *,
        project: str | None = None,
        client: Client | None = None,
    ) -> DatasetVersion:
        """A committed version: ``"latest"``, a number, or an alias (``"golden"``).

        Inside a run (``ll.start_run``), the run records that it consumed this version.

        Raises:
            NotFound: no such dataset or version (the message suggests the closest).
        """
        client = _client_for(client)
        info = client._backend.get_version(
            project or client.settings.project, name, validate_version_ref(version)
        )
        run_id = _run_of(client)
        if run_id is not None:
            client._backend.record_lineage(run_id, info.id, "consumed")
        return DatasetVersion(client, info)

    @classmethod
    def list(
        cls, project: str | None = None, *, client: Client | None = None
    ) -> builtins.list[DatasetInfo]:
        """Every dataset of a project, by name, each with its latest version."""
        client = _client_for(client)
        return client._backend.list_datasets(project or client.settings.project)

    @classmethod
    def versions(
        cls, name: str, *, project: str | None = None, client: Client | None = None
    ) -> builtins.list[DatasetVersion]:
        """Every version of a dataset, newest first."""
        client = _client_for(client)
        infos = client._backend.list_versions(project or client.settings.project, name)
        return [DatasetVersion(client, i) for i in infos]

    @staticmethod
    def diff(a: DatasetVersion, b: DatasetVersion) -> DatasetDiff:
        """What changed from ``a`` to ``b``: added, removed and modified paths, with sizes.

        Example:
            >>> d = ll.Dataset.diff(ll.Dataset.get("digits", 1), ll.Dataset.get("digits", 2))
            >>> [c.path for c in d.modified]
            ['labels.parquet']
        """
        return diff_manifests(a._manifest(), b._manifest(), a_name=a.info.ref, b_name=b.info.ref)

    # -- the draft -----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._info.name

    @property
    def project(self) -> str:
        return self._info.project

    @property
    def parent(self) -> VersionInfo | None:
        """The version this draft started from (``None``: it started empty)."""
        return self._parent

    def files(self) -> builtins.list[str]:
        """The paths the next version would hold, sorted."""
        paths = (set(self._base.entries) - self._removed) | set(self._added)
        return sorted(paths)

    def add_files(self, path_or_glob: str | os.PathLike[str], dest: str = "") -> builtins.list[str]:
        """Add a file, a folder (its files, recursively), or a glob's matches under ``dest``.

        A folder's files keep their paths relative to it; a glob's matches keep their paths
        relative to the glob's first folder without a wildcard (``data/**/*.csv`` keeps
        ``a/x.csv`` for ``data/a/x.csv``). A path added again replaces the earlier one.

        Returns:
            The dataset paths added.

        Raises:
            NotFound: there is no such file or folder, or the glob matches no file.
            InvalidInput: ``dest`` leaves the dataset (``"../x"``, ``"/abs"``).
        """
        prefix = self._dest(dest)
        text = os.fspath(path_or_glob)
        pairs: builtins.list[tuple[str, Path]] = []
        if _MAGIC & set(text):
            root = _glob_root(text)
            import glob

            for match in sorted(glob.glob(text, recursive=True)):  # noqa: PTH207 - str patterns
                found = Path(match)
                if found.is_file():
                    pairs.append((found.relative_to(root).as_posix(), found))
            if not pairs:
                raise NotFound(f"Cannot add {text!r}: the pattern matches no file.")
        else:
            source = Path(text)
            if source.is_dir():
                pairs = list(_walk(source))
                if not pairs:
                    raise NotFound(f"Cannot add {text!r}: the folder holds no files.")
            elif source.is_file():
                pairs = [(source.name, source)]
            else:
                raise NotFound(f"Cannot add {text!r}: no such file or folder. Check the path.")
        added = []
        for relative, file in pairs:
            path = validate_dataset_path(prefix + relative)
            self._added[path] = file.absolute()
            self._removed.discard(path)
            added.append(path)
        return added

    def add_frame(self, frame: pd.DataFrame | Any, path: str) -> str:
        """Add a pandas DataFrame (or a pyarrow Table) as a Parquet or CSV file at ``path``.

        The format follows the suffix: ``.parquet`` / ``.pq`` or ``.csv``.
        """
        path = validate_dataset_path(path)
        suffix = Path(path).suffix.lower()
        if suffix not in (".parquet", ".pq", ".csv"):
            raise InvalidInput(
                f"add_frame({path!r}): name the file .parquet or .csv (the suffix is the format)."
            )
        import pyarrow as pa

        if hasattr(frame, "to_parquet") or isinstance(frame, pa.Table):
            table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame)
        else:
            raise InvalidInput(
                f"add_frame needs a pandas DataFrame or a pyarrow Table, "
                f"not {type(frame).__name__}."
            )
        folder = self._client.settings.staging_dir / "frames"
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / f"{uuid.uuid4().hex}{suffix}"
        self._temp_files.append(temp)
        if suffix == ".csv":
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, temp)
        else:
            import pyarrow.parquet as pq

            pq.write_table(table, temp)
        self._added[path] = temp
        self._removed.discard(path)
        return path

    def remove(self, path_or_glob: str) -> builtins.list[str]:
        """Remove a file, a folder (everything under it) or a glob's matches from the draft.

        Returns:
            The dataset paths removed.

        Raises:
            NotFound: nothing in the draft matches (the message suggests the closest path).
            InvalidInput: the path leaves the dataset.
        """
        current = self.files()
        if _MAGIC & set(path_or_glob):
            gone = [p for p in current if fnmatch.fnmatchcase(p, path_or_glob)]
        else:
            path = validate_dataset_path(path_or_glob.rstrip("/"))
            gone = [p for p in current if p == path or p.startswith(path + "/")]
        if not gone:
            raise NotFound(
                f"Nothing to remove: no file {path_or_glob!r} in the draft of {self.name!r}."
                f"{did_you_mean(path_or_glob, current)}"
            )
        for p in gone:
            self._added.pop(p, None)
            if p in self._base:
                self._removed.add(p)
        return gone

    def commit(self, message: str = "") -> DatasetVersion:
        """Store the draft as the dataset's next version and return it.

        Files are hashed in parallel; only blobs the store lacks are uploaded; tabular files
        (Parquet, CSV) that changed are profiled; the version appears at the very end, in one
        transaction. Inside a run, the run records that it produced this version. The draft
        then continues from the new version.

        Raises:
            InvalidInput: nothing to commit (no change, or no files at all).
        """
        if not self._added and not self._removed:
            at = f" since {self.name}:{self._parent.number}" if self._parent else ""
            raise InvalidInput(
                f"Nothing to commit{at}: add files (add_files, add_frame) or remove some first."
            )
        client, backend = self._client, self._client._backend
        quiet = False if client.settings.quiet else None
        pending = sorted(self._added.items())
        files = [f for _, f in pending]
        with ByteProgress(
            f"Hashing {self.name}",
            total_bytes=_total_size(files),
            files=len(files),
            enabled=quiet,
        ) as bar:
            refs = hash_files(files, progress=bar)
        put = {p: (r.digest, r.size) for (p, _), r in zip(pending, refs, strict=True)}
        manifest = self._base.with_changes(put, self._removed)
        if not len(manifest):
            raise InvalidInput(
                f"Nothing to commit: the version of {self.name!r} would hold no files."
            )
        if self._parent is not None and manifest.digest == self._parent.digest:
            raise InvalidInput(
                f"Nothing to commit: the files are exactly those of "
                f"{self.name}:{self._parent.number}."
            )
        self._upload(put, refs, files, quiet)
        profile_digest = self._profile(manifest, put)
        manifest_digest = backend.put_blob(manifest.encode()).digest
        info = backend.commit_version(
            self.project,
            self.name,
            manifest_digest,
            parent=None if self._parent is None else self._parent.number,
            message=message,
            run_id=_run_of(client),
            profile_digest=profile_digest,
        )
        # The draft goes on from what was just committed.
        self._parent, self._base = info, manifest
        self._added.clear()
        self._removed.clear()
        _remove_files(self._temp_files)
        return DatasetVersion(client, info)

    def _upload(
        self,
        put: dict[str, tuple[str, int]],
        refs: builtins.list[BlobRef],
        files: builtins.list[Path],
        quiet: bool | None,
    ) -> None:
        backend = self._client._backend
        by_digest = {r.digest: (f, r) for f, r in zip(files, refs, strict=True)}
        missing = backend.missing_blobs(builtins.list(by_digest))
        if not missing:
            return
        jobs = [by_digest[d] for d in missing]
        local = self._client.settings.mode == "local"
        with ByteProgress(
            f"Uploading {self.name}",
            total_bytes=sum(r.size for _, r in jobs),
            files=len(jobs),
            enabled=quiet,
        ) as bar:

            def upload(job: tuple[Path, BlobRef]) -> None:
                backend.upload_blob(job[0], job[1])
                bar.advance(job[1].size, files=1)

            parallel_map(upload, jobs, workers=default_workers() if local else _UPLOAD_WORKERS)

    def _profile(self, manifest: Manifest, put: dict[str, tuple[str, int]]) -> str | None:
        tabular = [e.path for e in manifest if is_tabular(e.path)]
        if not tabular:
            return None
        backend = self._client._backend
        previous: dict[str, Any] = {}
        if self._parent is not None and self._parent.profile_digest is not None:
            previous = json.loads(backend.get_blob(self._parent.profile_digest)).get("files", {})
        kept: dict[str, Any] = {}
        todo: builtins.list[str] = []
        for path in tabular:
            unchanged = path not in put or self._base.entries.get(path) == put[path]
            if unchanged and path in previous:
                kept[path] = previous[path]
            elif path in self._added:
                todo.append(path)
            # else: unchanged from a parent that has no profile of it; it stays unprofiled
            # rather than being downloaded again.
        profiles = parallel_map(lambda p: profile_file(self._added[p], p), todo)
        files = {**kept, **dict(zip(todo, profiles, strict=True))}
        doc = {"schema": PROFILE_SCHEMA, "files": dict(sorted(files.items()))}
        data = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode("utf-8")
        return backend.put_blob(data).digest

    def _dest(self, dest: str) -> str:
        if not isinstance(dest, str):
            raise InvalidInput(f"dest must be a folder path in the dataset, not {dest!r}.")
        if not dest or dest == ".":
            return ""
        return validate_dataset_path(dest.rstrip("/")) + "/"

    def __repr__(self) -> str:
        base = f"from {self._parent.number}" if self._parent else "from nothing"
        return (
            f"<Dataset draft {self.project}/{self.name} ({base}; +{len(self._added)} "
            f"-{len(self._removed)})>"
        )


class DatasetVersion:
    """A committed, immutable version of a dataset: its files, profile, aliases and lineage.

    Example:
        >>> v = ll.Dataset.get("digits", version=3)
        >>> v.number, v.digest[:12], len(v.files())
        (3, '9f86d081884c', 1798)
        >>> folder = v.local_copy()            # cached: a second call is near-instant
        >>> frame = v.to_pandas("labels.parquet")
        >>> v.set_alias("golden")
    """

    def __init__(self, client: Client, info: VersionInfo) -> None:
        self._client = client
        self._info = info
        self._manifest_cache: Manifest | None = None

    @property
    def info(self) -> VersionInfo:
        """The version as stored (number, digest, counts, aliases...)."""
        return self._info

    @property
    def id(self) -> str:
        return self._info.id

    @property
    def project(self) -> str:
        return self._info.project

    @property
    def dataset(self) -> str:
        return self._info.dataset

    @property
    def number(self) -> int:
        return self._info.number

    @property
    def digest(self) -> str:
        """SHA-256 of the manifest: equal digests mean equal files."""
        return self._info.digest

    @property
    def message(self) -> str:
        return self._info.message

    @property
    def created_at(self) -> datetime:
        return self._info.created_at

    @property
    def file_count(self) -> int:
        return self._info.file_count

    @property
    def total_bytes(self) -> int:
        return self._info.total_bytes

    @property
    def aliases(self) -> builtins.list[str]:
        return builtins.list(self._info.aliases)

    def files(self) -> builtins.list[FileEntry]:
        """Every file of the version (path, digest, size), sorted by path."""
        return builtins.list(self._manifest())

    def open(self, path: str) -> BinaryIO:
        """Open one file of the version for reading (binary), verified against its digest.

        Raises:
            NotFound: the version has no such file.
            CorruptBlob: the stored bytes do not match (the message names the file).
        """
        local = _local_files(self._client).fetch(self._entry(path), label=self._info.ref)
        return local.open("rb")

    def to_pandas(self, path: str, **options: Any) -> pd.DataFrame:
        """Read a Parquet or CSV file of the version into a DataFrame.

        ``options`` go to :func:`pandas.read_parquet` or :func:`pandas.read_csv`.
        """
        import pandas as pd

        suffix = Path(path).suffix.lower()
        if suffix not in (".parquet", ".pq", ".csv"):
            raise InvalidInput(f"to_pandas({path!r}): only .parquet and .csv files are tables.")
        local = _local_files(self._client).fetch(self._entry(path), label=self._info.ref)
        reader = pd.read_csv if suffix == ".csv" else pd.read_parquet
        frame: pd.DataFrame = reader(local, **options)
        return frame

    def local_copy(self, dest: str | os.PathLike[str] | None = None, *, link: bool = True) -> Path:
        """A local folder holding the version's files, verified; return its path.

        Args:
            dest: the folder (default: ``<home>/datasets/<project>/<dataset>/<number>``). It
                must be empty or new, or a copy made earlier (then only what differs changes).
            link: hard-link files from a local blob store or cache when possible (they are
                made read-only: never edit them in place); ``False`` always copies.

        Raises:
            CorruptBlob: a stored file does not match its digest (the message names it).
        """
        if dest is None:
            home = self._client.settings.home
            dest = home / "datasets" / self.project / self.dataset / str(self.number)
        return _local_files(self._client).materialize(
            self._manifest(), Path(dest), label=self._info.ref, link=link
        )

    def profile(self) -> dict[str, Any] | None:
        """Profiles of the version's tabular files (schema, per-column statistics), or None."""
        if self._info.profile_digest is None:
            return None
        data: dict[str, Any] = json.loads(self._client._backend.get_blob(self._info.profile_digest))
        return data

    def set_alias(self, alias: str) -> DatasetVersion:
        """Point ``alias`` (``"golden"``) at this version, moving it from another; return self."""
        self._info = self._client._backend.set_alias(self.project, self.dataset, alias, self.number)
        return self

    def diff(self, other: DatasetVersion) -> DatasetDiff:
        """What changed from this version to ``other``."""
        return Dataset.diff(self, other)

    def lineage(self, depth: int = 10) -> Lineage:
        """Runs that produced and consumed this version, and onwards, ``depth`` steps each way."""
        return self._client._backend.lineage(version_id=self.id, depth=depth)

    def _manifest(self) -> Manifest:
        if self._manifest_cache is None:
            try:
                self._manifest_cache = _read_manifest(self._client._backend, self._info)
            except CorruptBlob as exc:
                raise CorruptBlob(
                    f"The file list of {self._info.ref} is corrupt: {exc.message}",
                    details=exc.details,
                ) from exc
        return self._manifest_cache

    def _entry(self, path: str) -> FileEntry:
        manifest = self._manifest()
        entry = manifest.get(validate_dataset_path(path))
        if entry is None:
            raise NotFound(
                f"{self._info.ref} has no file {path!r}.{did_you_mean(path, manifest.entries)}"
            )
        return entry

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatasetVersion) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        aliases = f" ({', '.join(self._info.aliases)})" if self._info.aliases else ""
        return (
            f"<DatasetVersion {self._info.ref}{aliases}: {self.file_count:,} files, "
            f"{self.total_bytes:,} bytes, digest {self.digest[:12]}>"
        )


def resolve_ref(client: Client, ref: str) -> DatasetVersion:
    """The version a ``[project/]dataset[:version]`` reference names (no lineage recorded)."""
    parsed = parse_version_ref(ref)
    info = client._backend.get_version(
        parsed.project or client.settings.project, parsed.dataset, parsed.version
    )
    return DatasetVersion(client, info)


def _walk(folder: Path) -> Iterable[tuple[str, Path]]:
    # os.walk, not Path.rglob: several times faster on folders of many small files.
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        base = Path(root)
        for name in sorted(names):
            file = base / name
            if file.is_file():
                yield file.relative_to(folder).as_posix(), file


def _glob_root(pattern: str) -> Path:
    parts = Path(pattern).parts
    plain: builtins.list[str] = []
    for part in parts:
        if _MAGIC & set(part):
            break
        plain.append(part)
    return Path(*plain) if plain else Path()


def _total_size(files: Iterable[Path]) -> int:
    total = 0
    for f in files:
        try:
            total += f.stat().st_size
        except OSError:
            continue  # hashing names the missing file
    return total


def _remove_files(paths: builtins.list[Path]) -> None:
    for p in paths:
        try:
            p.unlink(missing_ok=True)
        except OSError:
            continue
    paths.clear()
