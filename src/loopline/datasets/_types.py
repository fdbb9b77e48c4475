"""Dataset value objects and input rules: light (no database imports), shared by every layer."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from loopline.errors import InvalidInput
from loopline.projects import validate_alias as validate_alias_rule
from loopline.projects import validate_name
from loopline.projects import validate_version_ref as version_ref_rule

__all__ = [
    "DatasetInfo",
    "VersionInfo",
    "FileEntry",
    "FilePage",
    "FileChange",
    "DatasetDiff",
    "Direction",
    "LineageNode",
    "LineageEdge",
    "Lineage",
    "VersionRef",
    "validate_dataset_name",
    "validate_alias",
    "validate_dataset_path",
    "validate_version_ref",
    "parse_version_ref",
    "MAX_MESSAGE",
    "MAX_PATH",
]

Direction = Literal["consumed", "produced"]
"""How a run touched a dataset version: it read it (``consumed``) or committed it (``produced``)."""

MAX_MESSAGE = 10_000
MAX_PATH = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Parts of letters, digits, '_', '-' and '.', none starting with '.': never "." or "..".
_PLAIN_PATH = re.compile(r"[\w\-][\w.\-]*(?:/[\w\-][\w.\-]*)*", re.ASCII)


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """A dataset: a named, versioned collection of files in a project.

    ``latest`` is the newest version (``None`` until the first commit); ``version_count`` how
    many versions there are.
    """

    id: str
    project: str
    name: str
    description: str
    created_at: datetime
    version_count: int = 0
    latest: VersionInfo | None = None


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One immutable version of a dataset.

    Attributes:
        number: 1, 2, 3... in commit order within the dataset.
        digest: SHA-256 of the version's manifest (the sorted list of path, digest, size):
            two versions with the same files have the same digest.
        parent: the number of the version it was built from, if any.
        added, removed, modified: how many paths changed against the parent (or all added).
        profile_digest: the blob holding the profiles of its tabular files, if it has any.
        run_id: the run that committed it, when it was committed inside a run.
    """

    id: str
    project: str
    dataset: str
    number: int
    digest: str
    message: str
    created_at: datetime
    file_count: int
    total_bytes: int
    parent: int | None = None
    added: int = 0
    removed: int = 0
    modified: int = 0
    profile_digest: str | None = None
    run_id: str | None = None
    aliases: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        """How people and the CLI name this version: ``project/dataset:number``."""
        return f"{self.project}/{self.dataset}:{self.number}"


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A file in a version: its path inside the dataset, and the blob holding its bytes."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class FilePage:
    """A page of a version's files (sorted by path) and how many match in all."""

    total: int
    files: list[FileEntry]


@dataclass(frozen=True, slots=True)
class FileChange:
    """A path that differs between two versions; a size is ``None`` where the file is absent."""

    path: str
    old_size: int | None
    new_size: int | None
    old_digest: str | None = None
    new_digest: str | None = None


@dataclass(frozen=True, slots=True)
class DatasetDiff:
    """What changed from version ``a`` to version ``b``, each list sorted by path."""

    a: str
    b: str
    added: list[FileChange] = field(default_factory=list)
    removed: list[FileChange] = field(default_factory=list)
    modified: list[FileChange] = field(default_factory=list)
    unchanged: int = 0

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.modified)


@dataclass(frozen=True, slots=True)
class LineageNode:
    """A run or a dataset version in a lineage graph.

    ``key`` is ``run:<id>`` or ``version:<id>``; ``label`` is what people read (the run's name,
    or ``dataset:number``).
    """

    key: str
    kind: Literal["run", "version"]
    id: str
    label: str
    project: str
    status: str | None = None


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """Data flowing from ``source`` to ``target``: a version into the run that consumed it, or a
    run into the version it produced."""

    source: str
    target: str
    direction: Direction


@dataclass(frozen=True, slots=True)
class Lineage:
    """The lineage around ``root``: every node reachable upstream and downstream, and the edges.

    ``upstream`` and ``downstream`` list node keys in the order found (nearest first).
    """

    root: str
    nodes: dict[str, LineageNode]
    edges: list[LineageEdge]
    upstream: list[str] = field(default_factory=list)
    downstream: list[str] = field(default_factory=list)

    def parents(self, key: str) -> list[str]:
        """Keys of the nodes with an edge into ``key``."""
        return [e.source for e in self.edges if e.target == key]

    def children(self, key: str) -> list[str]:
        """Keys of the nodes ``key`` has an edge to."""
        return [e.target for e in self.edges if e.source == key]


@dataclass(frozen=True, slots=True)
class VersionRef:
    """A parsed ``[project/]dataset[:version]`` reference; ``version`` is ``"latest"`` when
    not given, a number, or an alias."""

    project: str | None
    dataset: str
    version: int | str = "latest"


def validate_dataset_name(name: object) -> str:
    """Return ``name`` if it is a valid dataset name, else raise :class:`InvalidInput`.

    Example:
        >>> validate_dataset_name("digits")
        'digits'
    """
    return validate_name(name, "dataset", "digits")


def validate_alias(alias: object) -> str:
    """An alias names one version (``golden``, ``prod``); never a number, never ``latest``."""
    return validate_alias_rule(alias, "golden")


def validate_version_ref(version: object) -> int | str:
    """A version as users name it: a number from 1, ``"latest"``, an alias, or digits as text."""
    return version_ref_rule(version, "golden")


def validate_dataset_path(path: object) -> str:
    """Return ``path`` if it is a valid path inside a dataset, else raise InvalidInput.

    A path is relative, uses ``/`` between parts, and never leaves the dataset: no leading
    ``/``, no ``..`` or ``.`` parts, no empty parts, no backslashes or control characters.

    Example:
        >>> validate_dataset_path("images/0001.png")
        'images/0001.png'
    """
    if not isinstance(path, str):
        raise InvalidInput(f"A dataset path must be a string, not {type(path).__name__}.")
    if len(path) <= MAX_PATH and _PLAIN_PATH.fullmatch(path):
        return path  # the common case, checked by one expression; the rest below says why not
    shown = path if len(path) <= 120 else path[:117] + "..."
    if not path or len(path) > MAX_PATH:
        raise InvalidInput(f"Invalid dataset path {shown!r}: use 1 to {MAX_PATH} characters.")
    if "\\" in path or _CONTROL.search(path):
        raise InvalidInput(
            f"Invalid dataset path {shown!r}: use '/' between folders, and no control characters."
        )
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InvalidInput(
            f"Path {shown!r} is outside the dataset: paths are relative, like 'train/0001.png', "
            f"with no '..', '.', empty or leading '/' parts."
        )
    return path


def parse_version_ref(text: str) -> VersionRef:
    """Parse ``[project/]dataset[:version]``, as the CLI takes it (``digits:3``, ``p/d:golden``).

    Example:
        >>> parse_version_ref("vision/digits:3")
        VersionRef(project='vision', dataset='digits', version=3)
    """
    if not isinstance(text, str) or not text:
        raise InvalidInput("A dataset reference looks like 'digits:3' or 'project/digits:latest'.")
    rest, sep, version = text.partition(":")
    project, slash, name = rest.rpartition("/")
    if slash and not project:
        raise InvalidInput(f"Invalid dataset reference {text!r}: a project name goes before '/'.")
    parsed_version = validate_version_ref(version) if sep else "latest"
    return VersionRef(project or None, validate_dataset_name(name), parsed_version)
