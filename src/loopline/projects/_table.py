"""The projects table (owned by this package; other domains use the service, not the table)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from loopline.db import Base, CreatedAt, IdColumn, UTCDateTime, utcnow


class ProjectRow(Base):
    __tablename__ = "projects"

    id: Mapped[str] = IdColumn()
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(Text(), nullable=False, default="")
    created_at: Mapped[datetime] = CreatedAt()
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow
    )
