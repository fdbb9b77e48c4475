"""Datasets' tables (owned here; other domains use the dataset service, never these)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from loopline.db import Base, CreatedAt, IdColumn, UTCDateTime, utcnow

__all__ = ["DatasetRow", "VersionRow", "AliasRow", "LineageRow"]


class DatasetRow(Base):
    """A dataset: a name in a project, under which versions are committed."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = IdColumn()
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str] = mapped_column(Text(), nullable=False, default="")
    created_at: Mapped[datetime] = CreatedAt()


class VersionRow(Base):
    """One immutable version: its number in the dataset and the manifest blob it is.

    The counts are kept here, computed once at commit, so lists of versions never read a
    manifest.
    """

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "number"),)

    id: Mapped[str] = IdColumn()
    dataset_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False
    )
    number: Mapped[int] = mapped_column(Integer(), nullable=False)
    manifest_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    parent_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("dataset_versions.id", ondelete="SET NULL"), nullable=True
    )
    message: Mapped[str] = mapped_column(Text(), nullable=False, default="")
    file_count: Mapped[int] = mapped_column(Integer(), nullable=False)
    total_bytes: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    # Bytes of the files whose content its parent did not hold: what committing it stored
    # (quotas count these; NULL for versions from before it was kept: their total counts).
    stored_bytes: Mapped[int | None] = mapped_column(BigInteger(), nullable=True)
    added: Mapped[int] = mapped_column(Integer(), nullable=False)
    removed: Mapped[int] = mapped_column(Integer(), nullable=False)
    modified: Mapped[int] = mapped_column(Integer(), nullable=False)
    profile_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = CreatedAt()


class AliasRow(Base):
    """A name for one version of a dataset (``golden``); moving it re-points this row."""

    __tablename__ = "dataset_aliases"

    dataset_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(100), primary_key=True)
    version_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("dataset_versions.id", ondelete="CASCADE"), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow
    )


class LineageRow(Base):
    """A run consumed (read) or produced (committed) a dataset version."""

    __tablename__ = "dataset_lineage"
    __table_args__ = (Index("ix_dataset_lineage_version_id", "version_id"),)

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    version_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True
    )
    # consumed | produced
    direction: Mapped[str] = mapped_column(String(8), primary_key=True)
    created_at: Mapped[datetime] = CreatedAt()
