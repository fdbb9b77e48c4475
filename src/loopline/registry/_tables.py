"""The registry's tables (owned here; other domains use the registry service, never these)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loopline.db import Base, CreatedAt, IdColumn, UTCDateTime, utcnow

__all__ = ["ModelRow", "ModelVersionRow", "ModelAliasRow", "ModelEventRow"]


class ModelRow(Base):
    """A registered model: a name in a project, under which versions are registered."""

    __tablename__ = "registered_models"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = IdColumn()
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str] = mapped_column(Text(), nullable=False, default="")
    created_at: Mapped[datetime] = CreatedAt()


class ModelVersionRow(Base):
    """One immutable version. What it records is copied at registration (metrics, training
    data, requirements), so the version keeps telling its story if the run changes or goes."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "number"),
        Index("ix_model_versions_run_id", "run_id"),
    )

    id: Mapped[str] = IdColumn()
    model_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False
    )
    number: Mapped[int] = mapped_column(Integer(), nullable=False)
    # registered | approved | archived
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    flavor: Mapped[str] = mapped_column(String(64), nullable=False)
    package_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    run_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("runs.id", ondelete="SET NULL"), nullable=True
    )
    artifact_path: Mapped[str] = mapped_column(Text(), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    description: Mapped[str] = mapped_column(Text(), nullable=False, default="")
    creator: Mapped[str] = mapped_column(String(200), nullable=False)
    # JSON documents: the signature, requirements, library versions, metrics, training data.
    signature: Mapped[str | None] = mapped_column(Text(), nullable=True)
    requirements: Mapped[str] = mapped_column(Text(), nullable=False)
    libraries: Mapped[str] = mapped_column(Text(), nullable=False)
    metrics: Mapped[str] = mapped_column(Text(), nullable=False)
    training_data: Mapped[str] = mapped_column(Text(), nullable=False)
    profile_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = CreatedAt()


class ModelAliasRow(Base):
    """A name for one version (``champion``); moving it re-points this row (and adds an event)."""

    __tablename__ = "model_aliases"

    model_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(100), primary_key=True)
    version_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow
    )


class ModelEventRow(Base):
    """A change to a model: a registration, an alias set, moved or removed, a status change."""

    __tablename__ = "model_events"
    __table_args__ = (Index("ix_model_events_model_id_at", "model_id", "at"),)

    id: Mapped[str] = IdColumn()
    model_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    version: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    alias: Mapped[str | None] = mapped_column(String(100), nullable=True)
    old: Mapped[str | None] = mapped_column(String(100), nullable=True)
    new: Mapped[str | None] = mapped_column(String(100), nullable=True)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    reason: Mapped[str] = mapped_column(Text(), nullable=False)
    at: Mapped[datetime] = CreatedAt()
