"""What the datasets pages show, computed from the datasets service's values: version references
read from the query string, a version's files as a folder listing, and profiles as rows and bars.

Nothing here touches the database or the blob store; the page handlers in ``_dataset_pages``
fetch, these shape. Reading is defensive: a profile is JSON from a blob, so every field is
checked before a template sees it (a missing or odd field shows as blank, never as an error).

Example:
    >>> read_ref("3"), read_ref(""), read_ref("golden")
    (3, 'latest', 'golden')
    >>> [e.name for e in folder_listing(manifest, "images/")]
    ['train/', 'test/', 'cover.png']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loopline.datasets import Manifest, validate_version_ref
from loopline.errors import InvalidInput

__all__ = [
    "MAX_VERSION_NUMBER",
    "Entry",
    "Bar",
    "ColumnView",
    "FileProfileView",
    "read_ref",
    "folder_listing",
    "folder_crumbs",
    "file_profile_view",
    "profiled_files",
]

MAX_VERSION_NUMBER = 2**31 - 1
"""Beyond what the database's integer column holds: such a number names no version."""
MAX_REF_TEXT = 200
CATEGORIES_SHOWN = 10
"""Category bars shown at first; the rest of the stored top values are one click away."""


def read_ref(text: str | None, default: int | str = "latest") -> int | str:
    """A version reference from the query string: a number, ``latest`` or an alias.

    Raises:
        InvalidInput: the text cannot name a version (the message says what would).
    """
    if text is None or not text.strip():
        return default
    text = text.strip()
    shown = text if len(text) <= 40 else text[:37] + "..."
    if len(text) > MAX_REF_TEXT:
        raise InvalidInput(f"Invalid version {shown!r}: give a number, 'latest' or an alias.")
    if text.isdigit() and not text.isascii():
        # "²" is a digit to str.isdigit but not a number to int(): say so rather than fail.
        raise InvalidInput(f"Invalid version {shown!r}: write version numbers with 0-9.")
    if text.isdigit() and len(text) > len(str(MAX_VERSION_NUMBER)):
        raise InvalidInput(f"Invalid version {shown!r}: no dataset has that many versions.")
    ref = validate_version_ref(text)
    if isinstance(ref, int) and ref > MAX_VERSION_NUMBER:
        raise InvalidInput(f"Invalid version {shown!r}: no dataset has that many versions.")
    return ref


@dataclass(frozen=True, slots=True)
class Entry:
    """A row of a version's file browser: a folder (with what it holds) or a file.

    ``name`` is what the row shows (relative to the folder being browsed), ``path`` the full
    path inside the dataset (a folder's ends with ``/``).
    """

    name: str
    path: str
    is_folder: bool
    size: int
    files: int = 1


def _folder_of(prefix: str) -> str:
    """The folder part of a prefix: ``images/tr`` -> ``images/``; ``images/`` stays."""
    cut = prefix.rfind("/")
    return prefix[: cut + 1] if cut >= 0 else ""


def folder_listing(manifest: Manifest, prefix: str) -> list[Entry]:
    """The folders and files directly under ``prefix``, folders first, each by name.

    ``prefix`` is a folder (``images/``), or any start of a path (``images/00``): then the rows
    are the files and folders whose path starts with it, named from the folder it is in.
    """
    folder = _folder_of(prefix)
    folders: dict[str, list[int]] = {}
    files: list[Entry] = []
    cut = len(prefix)
    for path, (_, size) in manifest.entries.items():
        if not path.startswith(prefix):
            continue
        slash = path.find("/", cut)
        if slash >= 0:
            full = path[: slash + 1]
            held = folders.get(full)
            if held is None:
                folders[full] = [1, size]
            else:
                held[0] += 1
                held[1] += size
        else:
            files.append(Entry(path[len(folder) :], path, False, size))
    out = [
        Entry(full[len(folder) :], full, True, size, count)
        for full, (count, size) in sorted(folders.items())
    ]
    return out + files  # manifest entries are sorted by path already


def folder_crumbs(prefix: str) -> list[tuple[str, str]]:
    """Each folder of ``prefix`` as (name, its prefix), for the path bar above the listing."""
    parts = _folder_of(prefix).split("/")[:-1]
    return [(part, "/".join(parts[: i + 1]) + "/") for i, part in enumerate(parts)]


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of a histogram or a category chart; ``share`` of the tallest bar, 0 to 100."""

    label: str
    count: int
    share: float
    fraction: float = 0.0  # of every counted value, for the category bars' percentages


@dataclass(frozen=True, slots=True)
class ColumnView:
    """One column of a profiled file, ready to show."""

    name: str
    type: str
    kind: str
    count: int | None
    nulls: int | None
    null_share: float | None
    stats: list[tuple[str, Any]] = field(default_factory=list)
    bins: list[Bar] = field(default_factory=list)
    low: float | None = None
    high: float | None = None
    tallest: int = 0
    categories: list[Bar] = field(default_factory=list)
    more_categories: list[Bar] = field(default_factory=list)
    other: int = 0
    distinct: int | None = None

    @property
    def null_level(self) -> str:
        """``none``, ``some`` or ``many`` (a fifth or more): how loudly the null share shows."""
        if not self.null_share:
            return "none"
        return "many" if self.null_share >= 0.2 else "some"


@dataclass(frozen=True, slots=True)
class FileProfileView:
    """A tabular file's profile: its format, rows, any reading error, and its columns."""

    path: str
    format: str
    rows: int | None
    error: str | None
    columns: list[ColumnView]


def profiled_files(profile: Mapping[str, Any] | None) -> list[str]:
    """The paths a version's profile covers, sorted."""
    files = profile.get("files") if isinstance(profile, Mapping) else None
    return sorted(str(p) for p in files) if isinstance(files, Mapping) else []


def file_profile_view(path: str, data: object) -> FileProfileView:
    """The profile of one file (``profile["files"][path]``), checked field by field."""
    doc: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
    raw_columns = doc.get("columns")
    columns = [_column_view(c) for c in (raw_columns if isinstance(raw_columns, list) else [])]
    error = doc.get("error")
    return FileProfileView(
        path=path,
        format=str(doc.get("format") or "unknown"),
        rows=_int(doc.get("rows")),
        error=str(error) if error else None,
        columns=columns,
    )


def _column_view(data: object) -> ColumnView:
    doc: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
    kind = str(doc.get("kind") or "other")
    stats: list[tuple[str, Any]] = []
    extra: dict[str, Any] = {}
    if kind == "numeric":
        for label, key in (("min", "min"), ("max", "max"), ("mean", "mean"), ("std", "std")):
            stats.append((label, _float(doc.get(key))))
        quantiles = doc.get("quantiles")
        if isinstance(quantiles, Mapping):
            for q in ("0.05", "0.25", "0.5", "0.75", "0.95"):
                if q in quantiles:
                    stats.append((f"p{float(q) * 100:g}", _float(quantiles[q])))
        for label, key in (("NaN", "nan"), ("infinite", "infinite")):
            if _int(doc.get(key)):
                stats.append((label, _int(doc.get(key))))
        extra.update(_histogram(doc.get("histogram")))
    elif kind in ("categorical", "boolean"):
        extra.update(_categories(doc.get("top"), _int(doc.get("other")) or 0))
        extra["distinct"] = _int(doc.get("distinct"))
    elif kind == "temporal":
        stats += [("min", _text(doc.get("min"))), ("max", _text(doc.get("max")))]
    return ColumnView(
        name=str(doc.get("name", "")),
        type=str(doc.get("type", "")),
        kind=kind,
        count=_int(doc.get("count")),
        nulls=_int(doc.get("nulls")),
        null_share=_float(doc.get("null_share")),
        stats=stats,
        **extra,
    )


def _histogram(data: object) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        return {}
    raw_edges, raw_counts = data.get("edges"), data.get("counts")
    edges = [_float(e) for e in raw_edges] if isinstance(raw_edges, list) else []
    counts = [_int(c) or 0 for c in raw_counts] if isinstance(raw_counts, list) else []
    if not counts or len(edges) != len(counts) + 1 or any(e is None for e in edges):
        return {}
    bounds = [e for e in edges if e is not None]
    tallest = max(counts)
    bins = []
    for i, count in enumerate(counts):
        # The last bin holds its upper edge too (numpy's histogram does).
        closing = "]" if i == len(counts) - 1 else ")"
        label = f"[{_short(bounds[i])}, {_short(bounds[i + 1])}{closing}"
        bins.append(Bar(label, count, 100.0 * count / tallest if tallest else 0.0))
    return {"bins": bins, "low": bounds[0], "high": bounds[-1], "tallest": tallest}


def _categories(data: object, other: int) -> dict[str, Any]:
    pairs: list[tuple[str, int]] = []
    for item in data if isinstance(data, list) else []:
        if isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2:
            pairs.append((str(item[0]), _int(item[1]) or 0))
    total = sum(c for _, c in pairs) + other
    tallest = max((c for _, c in pairs), default=0)
    bars = [
        Bar(
            label,
            count,
            100.0 * count / tallest if tallest else 0.0,
            count / total if total else 0.0,
        )
        for label, count in pairs
    ]
    return {
        "categories": bars[:CATEGORIES_SHOWN],
        "more_categories": bars[CATEGORIES_SHOWN:],
        "other": other,
    }


def _short(value: float) -> str:
    """A bin edge as people read it: up to 4 significant digits."""
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.4g}"


def _int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return int(value)


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _text(value: object) -> str | None:
    return None if value is None else str(value)
