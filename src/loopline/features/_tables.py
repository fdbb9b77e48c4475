"""The feature store's tables (owned here; other domains use the feature service)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loopline.db import Base, CreatedAt, IdColumn, UTCDateTime

__all__ = ["DefinitionRow", "MaterializationRow"]


class DefinitionRow(Base):
    """One version of one definition (an entity or a view) of a project: its canonical spec.

    Versions are never changed: applying a changed definition adds the next version, and the
    latest version is the one in force.
    """

    __tablename__ = "feature_definitions"
    __table_args__ = (UniqueConstraint("project_id", "kind", "name", "version"),)

    id: Mapped[str] = IdColumn()
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    # entity | view
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    version: Mapped[int] = mapped_column(Integer(), nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    spec: Mapped[str] = mapped_column(Text(), nullable=False)
    created_at: Mapped[datetime] = CreatedAt()


class MaterializationRow(Base):
    """How far a view is materialized into one online store: the watermark (event time) the
    next materialization starts after."""

    __tablename__ = "feature_materializations"

    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    view_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    store: Mapped[str] = mapped_column(String(300), primary_key=True)
    view_version: Mapped[int] = mapped_column(Integer(), nullable=False)
    watermark: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    materialized_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    rows_written: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    # For a dataset source: the version read (project/dataset:number); another one is
    # materialized from the start.
    source_version: Mapped[str | None] = mapped_column(String(300), nullable=True)
