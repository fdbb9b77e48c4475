"""Project values and name rules: light enough for remote clients (no database imports)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from loopline.errors import InvalidInput

__all__ = [
    "Project",
    "validate_actor",
    "MAX_ACTOR",
    "validate_text",
    "validate_endpoint_name",
    "validate_project_name",
    "validate_name",
    "validate_alias",
    "validate_version_ref",
    "MAX_DESCRIPTION",
    "MAX_VERSION",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_DESCRIPTION = 10_000
MAX_ACTOR = 200
"""The longest name of who made a change (kept with every recorded change)."""

MAX_VERSION = 2**31 - 1
"""The highest version number of anything versioned (a 32-bit integer column on PostgreSQL)."""


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
    return validate_name(name, "project", "fraud-detection")


# The things a project holds (datasets, models, pipelines) are named by the same rule, and
# their versions are named the same way: a number, "latest" or an alias.


def validate_name(name: object, kind: str, example: str) -> str:
    """Return ``name`` if it is a valid name for a ``kind`` ("dataset", "model", ...).

    Example:
        >>> validate_name("digits", "dataset", "digits")
        'digits'
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"Invalid {kind} name {name!r}: use 1 to 100 letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit (for example {example!r})."
        )
    return name


def validate_alias(alias: object, example: str) -> str:
    """An alias names one version (``golden``, ``champion``); never a number, never ``latest``."""
    if not isinstance(alias, str) or not _NAME.fullmatch(alias) or alias.isdigit():
        raise InvalidInput(
            f"Invalid alias {alias!r}: use 1 to 100 letters, digits, '.', '_' or '-', starting "
            f"with a letter or digit, and not only digits (for example {example!r})."
        )
    if alias == "latest":
        raise InvalidInput("'latest' always names the newest version; choose another alias.")
    return alias


def validate_version_ref(ref: object, alias_example: str) -> int | str:
    """A version as users name it: a number from 1, ``"latest"``, an alias, or digits as text."""
    if isinstance(ref, bool):
        raise InvalidInput(f"Invalid version {ref!r}: give a number, 'latest' or an alias.")
    if isinstance(ref, int):
        if not 1 <= ref <= MAX_VERSION:
            shown = ref if abs(ref) < 10**30 else "a number that long"
            raise InvalidInput(
                f"Invalid version {shown}: versions are numbered from 1 to {MAX_VERSION:,}."
            )
        return ref
    if isinstance(ref, str):
        if ref.isascii() and ref.isdigit():
            if len(ref) > 10:  # past MAX_VERSION, and int() refuses 5,000 digits
                raise InvalidInput(
                    f"Invalid version {ref[:20]}...: versions are numbered from 1 to "
                    f"{MAX_VERSION:,}."
                )
            return validate_version_ref(int(ref), alias_example)
        if ref == "latest":
            return ref
        return validate_alias(ref, alias_example)
    raise InvalidInput(
        f"Invalid version {ref!r}: give a number, 'latest' or an alias, not {type(ref).__name__}."
    )


def validate_actor(actor: object) -> str:
    """Who made a change (a user name, 1 to :data:`MAX_ACTOR` characters), stripped.

    Example:
        >>> validate_actor(" ada ")
        'ada'
    """
    if not isinstance(actor, str) or not actor.strip() or len(actor) > MAX_ACTOR:
        raise InvalidInput(
            f"Who made a change is a name of 1 to {MAX_ACTOR} characters (LOOPLINE_USER, or the "
            f"login name), not {actor!r}."
        )
    return actor.strip()


def validate_text(value: object, what: str, limit: int) -> str:
    """Return ``value`` if it is text of at most ``limit`` characters (a description, a reason,
    a message), else raise :class:`InvalidInput` naming ``what``.

    Example:
        >>> validate_text("retrained on May's data", "reason", 2000)
        "retrained on May's data"
    """
    if not isinstance(value, str):
        raise InvalidInput(f"The {what} must be text, not {type(value).__name__}.")
    if len(value) > limit:
        raise InvalidInput(f"The {what} is {len(value)} characters; at most {limit} are kept.")
    return value


def validate_endpoint_name(name: object) -> str:
    """Return ``name`` if it can name a serving endpoint (the rule of project names: it appears
    in URLs and in the evaluation store's paths), else raise :class:`InvalidInput`.

    Endpoints belong to serving, and their logs to monitoring, which sits below serving: the
    rule lives here so that both use the same one.
    """
    if not isinstance(name, str):
        raise InvalidInput(f"An endpoint name must be a string, not {type(name).__name__}.")
    return validate_name(name, "endpoint", "churn-api")
