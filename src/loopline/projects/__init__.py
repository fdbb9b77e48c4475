"""Projects: the namespace that every other domain's objects belong to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopline.projects._types import (
    MAX_ACTOR,
    MAX_VERSION,
    Project,
    validate_actor,
    validate_alias,
    validate_name,
    validate_project_name,
    validate_version_ref,
)

if TYPE_CHECKING:
    from loopline.projects._service import ProjectService

__all__ = [
    "Project",
    "ProjectService",
    "validate_project_name",
    "validate_name",
    "validate_alias",
    "validate_actor",
    "MAX_ACTOR",
    "validate_version_ref",
    "MAX_VERSION",
]


def __getattr__(name: str) -> Any:
    # The service needs SQLAlchemy; the value type does not (remote clients use only that).
    if name == "ProjectService":
        from loopline.projects._service import ProjectService

        return ProjectService
    raise AttributeError(f"module 'loopline.projects' has no attribute {name!r}")
