"""Project values and name rules: light enough for remote clients (no database imports)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from loopline.errors import InvalidInput

__all__ = ["Project", "validate_project_name", "MAX_DESCRIPTION"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_DESCRIPTION = 10_000


@dataclass(frozen=True, slots=True)
class Project:
    """A project, as every layer above the database sees it."""

    id: str
    name: str
    description: str
    created_at: datetime


def validate_project_name(name: object) -> str:
    """Return ``name`` if it is a valid project name, else raise :class:`InvalidInput`.

    Names appear in URLs and paths: 1 to 100 characters, letters, digits, ``.``, ``_`` and ``-``,
    starting with a letter or digit.
    """
    if not isinstance(name, str):
        raise InvalidInput(f"A project name must be a string, not {type(name).__name__}.")
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"Invalid project name {name!r}: use 1 to 100 letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit (for example 'fraud-detection')."
        )
    return name
