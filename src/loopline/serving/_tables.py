"""The serving domain's tables (owned here; other domains call the serving service)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from loopline.db import Base, CreatedAt, IdColumn, UTCDateTime

__all__ = ["EndpointRow", "EndpointRevisionRow", "EndpointStatsRow"]


class EndpointRow(Base):
    """A named endpoint in a project; ``revision`` is the newest revision's number."""

    __tablename__ = "endpoints"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = IdColumn()
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str] = mapped_column(Text(), nullable=False, default="")
    revision: Mapped[int] = mapped_column(Integer(), nullable=False)
    created_at: Mapped[datetime] = CreatedAt()


class EndpointRevisionRow(Base):
    """One recorded state of an endpoint (its spec as JSON); never changed but for its status."""

    __tablename__ = "endpoint_revisions"
    __table_args__ = (UniqueConstraint("endpoint_id", "number"),)

    id: Mapped[str] = IdColumn()
    endpoint_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("endpoints.id", ondelete="CASCADE"), nullable=False
    )
    number: Mapped[int] = mapped_column(Integer(), nullable=False)
    spec: Mapped[str] = mapped_column(Text(), nullable=False)
    # pending | live | failed | superseded
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str] = mapped_column(Text(), nullable=False, default="")
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    message: Mapped[str] = mapped_column(Text(), nullable=False, default="")
    rollback_of: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    created_at: Mapped[datetime] = CreatedAt()
    live_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class EndpointStatsRow(Base):
    """What one inference server process answered for one model in one 10-second window."""

    __tablename__ = "endpoint_stats"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "window_start", "worker", "model"),
        Index("ix_endpoint_stats_endpoint_window", "endpoint_id", "window_start"),
    )

    id: Mapped[str] = IdColumn()
    endpoint_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("endpoints.id", ondelete="CASCADE"), nullable=False
    )
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    worker: Mapped[str] = mapped_column(String(100), nullable=False)
    model: Mapped[str] = mapped_column(String(200), nullable=False)
    requests: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    errors: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    latency_sum_ms: Mapped[float] = mapped_column(Float(), nullable=False)
    # JSON list of counts, one per bound of LATENCY_BUCKETS_MS.
    buckets: Mapped[str] = mapped_column(Text(), nullable=False)
    batches: Mapped[int] = mapped_column(BigInteger(), nullable=False, default=0)
    batch_rows: Mapped[int] = mapped_column(BigInteger(), nullable=False, default=0)
