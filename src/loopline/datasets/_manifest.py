"""Manifests: the sorted list of (path, digest, size) that a dataset version is.

A manifest is stored as a blob in a canonical JSON form, so its SHA-256 is the version's digest:
the same files give the same bytes and the same digest, whatever order they were added in.

The form (one line, no spaces)::

    {"schema":1,"files":[["a.csv","<sha256>",120],["img/0.png","<sha256>",5012]]}
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping

from loopline.datasets._types import (
    DatasetDiff,
    FileChange,
    FileEntry,
    validate_dataset_path,
)
from loopline.errors import CorruptBlob, InvalidInput

__all__ = ["MANIFEST_SCHEMA", "Manifest", "diff_manifests"]

MANIFEST_SCHEMA = 1
_DIGEST = re.compile(r"[0-9a-f]{64}")


class Manifest:
    """An immutable mapping of dataset path to (digest, size); build one with :meth:`of`.

    Example:
        >>> m = Manifest.of([FileEntry("b.txt", "0" * 64, 3), FileEntry("a.txt", "1" * 64, 5)])
        >>> [e.path for e in m], m.total_bytes
        (['a.txt', 'b.txt'], 8)
        >>> Manifest.decode(m.encode()) == m
        True
    """

    __slots__ = ("_encoded", "entries")

    def __init__(self, entries: Mapping[str, tuple[str, int]]) -> None:
        """Use :meth:`of`, :meth:`empty` or :meth:`decode`: this trusts ``entries`` as given."""
        self.entries: Mapping[str, tuple[str, int]] = entries
        self._encoded: bytes | None = None

    def __repr__(self) -> str:
        return f"<Manifest {len(self.entries):,} files, digest {self.digest[:12]}>"

    @classmethod
    def of(cls, files: Iterable[FileEntry]) -> Manifest:
        """A manifest of ``files`` (validated). Raises InvalidInput on a path given twice."""
        entries: dict[str, tuple[str, int]] = {}
        for f in files:
            validate_dataset_path(f.path)
            _check_digest(f.digest)
            _check_size(f.size)
            if f.path in entries:
                raise InvalidInput(f"Path {f.path!r} appears twice in one dataset version.")
            entries[f.path] = (f.digest, f.size)
        return cls._trusted(entries)

    @classmethod
    def empty(cls) -> Manifest:
        return cls._trusted({})

    @classmethod
    def _trusted(cls, entries: dict[str, tuple[str, int]]) -> Manifest:
        _check_folders(entries)
        return cls(dict(sorted(entries.items())))

    def __iter__(self) -> Iterator[FileEntry]:
        for path, (digest, size) in self.entries.items():
            yield FileEntry(path, digest, size)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, path: object) -> bool:
        return path in self.entries

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Manifest) and dict(self.entries) == dict(other.entries)

    def __hash__(self) -> int:
        return hash(self.digest)

    def get(self, path: str) -> FileEntry | None:
        found = self.entries.get(path)
        return None if found is None else FileEntry(path, *found)

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.entries.values())

    @property
    def digests(self) -> set[str]:
        return {digest for digest, _ in self.entries.values()}

    def with_changes(
        self, put: Mapping[str, tuple[str, int]], remove: Iterable[str] = ()
    ) -> Manifest:
        """A new manifest: ``remove`` taken out first, then ``put`` added or replaced."""
        entries = dict(self.entries)
        for path in remove:
            entries.pop(path, None)
        for path, (digest, size) in put.items():
            validate_dataset_path(path)
            _check_digest(digest)
            _check_size(size)
            entries[path] = (digest, size)
        return Manifest._trusted(entries)

    def encode(self) -> bytes:
        """The canonical bytes (stored as a blob; their SHA-256 is :attr:`digest`)."""
        if self._encoded is None:
            self._encoded = self._encode()
        return self._encoded

    def _encode(self) -> bytes:
        files = [[p, d, s] for p, (d, s) in self.entries.items()]
        text = json.dumps(
            {"schema": MANIFEST_SCHEMA, "files": files},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return text.encode("utf-8")

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.encode()).hexdigest()

    @classmethod
    def decode(cls, data: bytes, *, where: str = "manifest") -> Manifest:
        """Read canonical manifest bytes back; anything malformed is refused.

        Raises:
            CorruptBlob: the bytes are not a manifest this version of Loopline can read.
        """
        try:
            doc = json.loads(data.decode("utf-8"))
            if not isinstance(doc, dict) or doc.get("schema") != MANIFEST_SCHEMA:
                raise ValueError(f"expected schema {MANIFEST_SCHEMA}")
            rows = doc["files"]
            if not isinstance(rows, list):
                raise ValueError("files is not a list")
            entries: dict[str, tuple[str, int]] = {}
            for row in rows:
                path, digest, size = row
                validate_dataset_path(path)
                _check_digest(digest)
                _check_size(size)
                if path in entries:
                    raise ValueError(f"path {path!r} twice")
                entries[path] = (digest, size)
        except (ValueError, KeyError, TypeError, InvalidInput) as exc:
            raise CorruptBlob(
                f"The {where} cannot be read as a dataset manifest ({exc}). It was written by a "
                f"newer Loopline, or damaged."
            ) from exc
        return cls._trusted(entries)


def diff_manifests(
    a: Manifest, b: Manifest, *, a_name: str = "a", b_name: str = "b"
) -> DatasetDiff:
    """What changed from ``a`` to ``b``: added, removed and modified paths, with sizes.

    Example:
        >>> old = Manifest.of([FileEntry("x", "0" * 64, 1), FileEntry("y", "1" * 64, 2)])
        >>> new = Manifest.of([FileEntry("x", "2" * 64, 3), FileEntry("z", "1" * 64, 2)])
        >>> d = diff_manifests(old, new)
        >>> [c.path for c in d.added], [c.path for c in d.removed], [c.path for c in d.modified]
        (['z'], ['y'], ['x'])
    """
    added: list[FileChange] = []
    removed: list[FileChange] = []
    modified: list[FileChange] = []
    unchanged = 0
    for path, (digest, size) in a.entries.items():
        other = b.entries.get(path)
        if other is None:
            removed.append(FileChange(path, size, None, digest, None))
        elif other[0] != digest:
            modified.append(FileChange(path, size, other[1], digest, other[0]))
        else:
            unchanged += 1
    for path, (digest, size) in b.entries.items():
        if path not in a.entries:
            added.append(FileChange(path, None, size, None, digest))
    return DatasetDiff(a_name, b_name, added, removed, modified, unchanged)


def _check_folders(entries: Mapping[str, tuple[str, int]]) -> None:
    # A path cannot be a file and a folder at once ("a" and "a/b"): no file system can hold both.
    folders: set[str] = set()
    for path in entries:
        parts = path.split("/")
        for i in range(1, len(parts)):
            folders.add("/".join(parts[:i]))
    clash = sorted(folders & entries.keys())
    if clash:
        raise InvalidInput(
            f"{clash[0]!r} is both a file and a folder in this dataset version; rename one of them."
        )


def _check_digest(digest: object) -> None:
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise InvalidInput(f"{digest!r} is not a SHA-256 digest (64 lowercase hex characters).")


def _check_size(size: object) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidInput(f"{size!r} is not a file size (a whole number of bytes, 0 or more).")
