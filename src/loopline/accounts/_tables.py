"""Accounts' tables (owned here; the server uses the accounts service, never these)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from loopline.db import Base, CreatedAt, IdColumn, UTCDateTime

__all__ = ["UserRow", "TokenRow", "MemberRow", "SessionRow", "QuotaRow", "AuditRow"]


class UserRow(Base):
    """A person or a service account. ``password_hash`` is an argon2id hash, or NULL when the
    user signs in with tokens only."""

    __tablename__ = "users"

    id: Mapped[str] = IdColumn()
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    is_admin: Mapped[bool] = mapped_column(Boolean(), nullable=False, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean(), nullable=False, default=False)
    created_at: Mapped[datetime] = CreatedAt()


class TokenRow(Base):
    """An API token: only the SHA-256 of the secret is kept (the secret is shown once)."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user_id", "user_id"),)

    id: Mapped[str] = IdColumn()
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = CreatedAt()
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class MemberRow(Base):
    """A user's role in a project: viewer, editor or admin."""

    __tablename__ = "project_members"

    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), nullable=False)


class SessionRow(Base):
    """A signed-in browser: the SHA-256 of the session cookie, and its CSRF token."""

    __tablename__ = "ui_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    csrf: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = CreatedAt()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class QuotaRow(Base):
    """A project's limits; NULL means unlimited."""

    __tablename__ = "project_quotas"

    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    concurrent_pipeline_runs: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    queued_tasks: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    storage_bytes: Mapped[int | None] = mapped_column(BigInteger(), nullable=True)
    agents: Mapped[int | None] = mapped_column(Integer(), nullable=True)


class AuditRow(Base):
    """One change: who, what, when, from where, and how it ended. Append-only: the service
    has no update or delete for it. Never holds a body, a query string or a secret."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_user_name", "user_name"),
        Index("ix_audit_log_project", "project"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = CreatedAt()
    user_name: Mapped[str] = mapped_column(String(100), nullable=False)
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    path: Mapped[str] = mapped_column(Text(), nullable=False)
    route: Mapped[str] = mapped_column(Text(), nullable=False)
    status: Mapped[int] = mapped_column(Integer(), nullable=False)
    remote: Mapped[str] = mapped_column(String(100), nullable=False)
    project: Mapped[str | None] = mapped_column(String(100), nullable=True)
