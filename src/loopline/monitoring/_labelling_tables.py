"""Labelling's tables: one review per hard-examples dataset, and the labels people gave.

Owned by monitoring; other domains go through ``LabellingService`` (``_labelling.py``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loopline.db import Base, CreatedAt, IdColumn, UTCDateTime, utcnow

__all__ = ["LabelReviewRow", "LabelDecisionRow"]


class LabelReviewRow(Base):
    """The review of a hard-examples dataset. ``commit_lock`` is set while a commit runs, so
    two commits at once cannot both write a version (a stale lock expires)."""

    __tablename__ = "label_reviews"
    __table_args__ = (UniqueConstraint("project_id", "dataset"),)

    id: Mapped[str] = IdColumn()
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    dataset: Mapped[str] = mapped_column(String(100), nullable=False)
    commit_lock: Mapped[str | None] = mapped_column(String(32), nullable=True)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = CreatedAt()


class LabelDecisionRow(Base):
    """A person's label for one example (by request id), saved as they go. ``committed_version``
    is the dataset version that took it in; None while it waits for the next commit."""

    __tablename__ = "label_decisions"
    __table_args__ = (UniqueConstraint("review_id", "request_id"),)

    id: Mapped[str] = IdColumn()
    review_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("label_reviews.id", ondelete="CASCADE"), nullable=False
    )
    request_id: Mapped[str] = mapped_column(String(300), nullable=False)
    label: Mapped[str] = mapped_column(Text(), nullable=False)  # JSON
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # confirmed | corrected
    decided_by: Mapped[str] = mapped_column(String(200), nullable=False)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    committed_version: Mapped[int | None] = mapped_column(Integer(), nullable=True)
