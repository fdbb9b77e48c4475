"""Accounts: users, API tokens, browser sessions, project roles, quotas and the audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopline.accounts._limits import LoginLimiter
from loopline.accounts._types import (
    MIN_PASSWORD,
    QUOTA_NAMES,
    ROLES,
    TOKEN_PREFIX,
    AuditEntry,
    Member,
    NewToken,
    Quota,
    QuotaUse,
    Role,
    Token,
    UsageCounter,
    User,
    quota_message,
    role_allows,
    validate_role,
)

if TYPE_CHECKING:
    from loopline.accounts._service import AccountService

__all__ = [
    "AccountService",
    "LoginLimiter",
    "QUOTA_NAMES",
    "User",
    "Token",
    "NewToken",
    "Member",
    "Quota",
    "QuotaUse",
    "UsageCounter",
    "AuditEntry",
    "Role",
    "ROLES",
    "MIN_PASSWORD",
    "TOKEN_PREFIX",
    "quota_message",
    "role_allows",
    "validate_role",
]


def __getattr__(name: str) -> Any:
    # The service needs SQLAlchemy and argon2; clients only need the value types above.
    if name == "AccountService":
        from loopline.accounts import _service

        return getattr(_service, name)
    raise AttributeError(f"module 'loopline.accounts' has no attribute {name!r}")
