"""The values labelling hands out: saved labels, a review's state, a page of examples, a commit.

Plain dataclasses (no database code), so a remote client reads them without SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["LabelDecision", "LabellingState", "LabellingPage", "LabellingCommit"]


@dataclass(frozen=True, slots=True)
class LabelDecision:
    """A label a person gave: ``confirmed`` (the prediction was right) or ``corrected``;
    ``committed_version`` is None while it waits for the next commit."""

    request_id: str
    label: Any
    status: str
    decided_by: str
    decided_at: datetime
    committed_version: int | None = None


@dataclass(frozen=True, slots=True)
class LabellingState:
    """Where the review of a hard-examples dataset stands, against its ``version``.

    ``reviewed``: rows the version has reviewed; ``waiting``: labels saved since, not yet
    committed; ``done``: rows that are reviewed or have a waiting label.
    """

    project: str
    dataset: str
    version: int
    total: int
    reviewed: int
    waiting: int
    done: int
    image_shape: list[int] | None = None
    decisions: list[LabelDecision] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LabellingPage:
    """A page of examples (JSON-friendly rows: times as ISO text, bytes as base64)."""

    state: LabellingState
    offset: int
    input_columns: list[str]
    rows: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class LabellingCommit:
    """What a commit did: the version written (or the latest, when nothing was waiting)."""

    project: str
    dataset: str
    version: int
    committed: int
    confirmed: int
    corrected: int
    labels_logged: int
    nothing_new: bool = False

    @property
    def ref(self) -> str:
        return f"{self.project}/{self.dataset}:{self.version}"
