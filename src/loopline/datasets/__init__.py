"""Versioned datasets: manifests of content-addressed files, diff, profiles and lineage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopline.datasets._manifest import Manifest, diff_manifests
from loopline.datasets._types import (
    DatasetDiff,
    DatasetInfo,
    Direction,
    FileChange,
    FileEntry,
    FilePage,
    Lineage,
    LineageEdge,
    LineageNode,
    VersionInfo,
    VersionRef,
    parse_version_ref,
    validate_alias,
    validate_dataset_name,
    validate_dataset_path,
    validate_version_ref,
)

if TYPE_CHECKING:
    from loopline.datasets._service import DatasetService

__all__ = [
    "DatasetService",
    "DatasetInfo",
    "VersionInfo",
    "FileEntry",
    "FilePage",
    "FileChange",
    "DatasetDiff",
    "Direction",
    "Lineage",
    "LineageNode",
    "LineageEdge",
    "VersionRef",
    "Manifest",
    "diff_manifests",
    "parse_version_ref",
    "validate_alias",
    "validate_dataset_name",
    "validate_dataset_path",
    "validate_version_ref",
]


def __getattr__(name: str) -> Any:
    # The service needs SQLAlchemy; remote clients only need the value types above.
    if name == "DatasetService":
        from loopline.datasets._service import DatasetService

        return DatasetService
    raise AttributeError(f"module 'loopline.datasets' has no attribute {name!r}")
