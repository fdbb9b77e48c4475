"""The UI's navigation: the sections of a project, in the order the tabs show them.

A capability adds its pages by adding its router (see :func:`loopline.ui.install`) and a
:class:`Section` here; the project header draws a tab for every available section.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Section", "PROJECT_SECTIONS"]


@dataclass(frozen=True, slots=True)
class Section:
    """A tab of the project header: ``/ui/projects/<project>/<path>``."""

    key: str
    label: str
    path: str
    available: bool = True


PROJECT_SECTIONS: tuple[Section, ...] = (
    Section("runs", "Runs", "runs"),
    Section("datasets", "Datasets", "datasets"),
    Section("models", "Models", "models"),
    Section("pipelines", "Pipelines", "pipelines"),
    # serving + features UI
    Section("endpoints", "Endpoints", "endpoints"),
    Section("features", "Features", "features"),
    Section("monitors", "Monitors", "monitors"),  # monitors + alerts (helper M)
    Section("automation", "Loop", "automation"),  # the closed loop (helper A2)
    Section("members", "Members", "members"),  # accounts: members, roles, quotas
)
