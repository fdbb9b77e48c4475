"""Accounts' values and rules: light (no database imports), shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from loopline.errors import InvalidInput

__all__ = [
    "Role",
    "ROLES",
    "User",
    "Token",
    "NewToken",
    "Member",
    "Quota",
    "AuditEntry",
    "QuotaUse",
    "UsageCounter",
    "QUOTA_NAMES",
    "quota_message",
    "validate_role",
    "role_allows",
    "MIN_PASSWORD",
    "TOKEN_PREFIX",
]

Role = Literal["viewer", "editor", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "editor", "admin")
"""Project roles, weakest first: each can do what the ones before it can."""
MIN_PASSWORD = 12
TOKEN_PREFIX = "llt_"  # noqa: S105 (a marker that says "Loopline token", not a secret)
QUOTA_NAMES = ("concurrent_pipeline_runs", "queued_tasks", "storage_bytes", "agents")
"""What a project's quota limits (see :class:`Quota`)."""


def validate_role(role: object) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise InvalidInput(f"Invalid role {role!r}: one of {', '.join(ROLES)}.")


def role_allows(held: Role | None, needed: Role) -> bool:
    """Whether holding ``held`` in a project is enough for an action that needs ``needed``."""
    return held is not None and ROLES.index(held) >= ROLES.index(needed)


@dataclass(frozen=True, slots=True)
class User:
    """A user as every layer above the database sees it (never with its password hash)."""

    id: str
    name: str
    is_admin: bool
    disabled: bool
    has_password: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Token:
    """An API token's record: its secret is not here (only its first characters, to tell
    tokens apart)."""

    id: str
    user: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just made: ``secret`` is shown this once and never stored."""

    token: Token
    secret: str


@dataclass(frozen=True, slots=True)
class Member:
    project: str
    user: str
    role: Role


@dataclass(frozen=True, slots=True)
class Quota:
    """A project's limits (None: unlimited)."""

    project: str
    concurrent_pipeline_runs: int | None = None
    queued_tasks: int | None = None
    storage_bytes: int | None = None
    agents: int | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded change."""

    id: int
    at: datetime
    user: str
    method: str
    path: str
    route: str
    status: int
    remote: str
    project: str | None


@dataclass(frozen=True, slots=True)
class QuotaUse:
    """One quota of a project: its limit (None: unlimited) and what the project uses now."""

    project: str
    quota: str
    limit: int | None
    current: int

    def as_details(self) -> dict[str, object]:
        return {
            "project": self.project,
            "quota": self.quota,
            "limit": self.limit,
            "current": self.current,
        }


class UsageCounter(Protocol):
    """A domain that counts what a project uses of some quotas.

    Accounts own the limits; each domain counts its own use (runs, tasks, stored bytes) and
    answers for the quotas it knows. The account service adds the answers up.

    Example:
        >>> class Pipelines:
        ...     def quota_usage(self, project: str) -> dict[str, int]:
        ...         return {"concurrent_pipeline_runs": 2, "storage_bytes": 1_000}
        >>> AccountService(db, projects, counters=[Pipelines()]).usage("demo")["storage_bytes"]
        1000
    """

    def quota_usage(self, project: str) -> dict[str, int]:
        """What ``project`` uses now, by quota name (quotas this domain does not count: absent)."""
        ...


def quota_message(over: QuotaUse) -> str:
    """What a refusal says: the project, the quota, its limit and the current use."""
    what = over.quota.replace("_", " ")
    return (
        f"Project {over.project!r} is at its quota of {over.limit or 0:,} {what} "
        f"(now {over.current:,}): wait for some to finish or free some, or ask an admin to "
        f"raise it (PUT /api/v1/projects/{over.project}/quotas)."
    )
