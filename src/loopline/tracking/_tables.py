"""Tracking's tables (owned here; other domains use the tracking service, never these)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from loopline.db import Base, CreatedAt, IdColumn, UTCDateTime

__all__ = [
    "RunRow",
    "ParamRow",
    "TagRow",
    "MetricPointRow",
    "MetricSummaryRow",
    "ArtifactRow",
    "MAX_KEY",
    "MAX_VALUE",
    "MAX_NAME",
]

MAX_KEY = 250  # metric, param and tag keys
MAX_VALUE = 8_000  # param and tag values, in characters
MAX_NAME = 200  # run names


class RunRow(Base):
    """One run: a script, a notebook session or a pipeline step that logged something."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_project_id_start_time", "project_id", "start_time"),
        Index("ix_runs_parent_id", "parent_id"),
    )

    id: Mapped[str] = IdColumn()
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(MAX_NAME), nullable=False)
    # running | finished | failed | killed
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    parent_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("runs.id", ondelete="SET NULL"), nullable=True
    )
    start_time: Mapped[datetime] = CreatedAt()
    end_time: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Digest of the environment captured at start (a JSON blob), when there is one.
    environment_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The run this one was cloned from (``loopline runs rerun``).
    cloned_from: Mapped[str | None] = mapped_column(String(32), nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean(), nullable=False, default=False)


class ParamRow(Base):
    """A parameter: logged once per key; the value is kept as the text it was logged as."""

    __tablename__ = "run_params"

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(MAX_KEY), primary_key=True)
    value: Mapped[str] = mapped_column(Text(), nullable=False)


class TagRow(Base):
    """A tag: a key and a value that can change during and after the run."""

    __tablename__ = "run_tags"

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(MAX_KEY), primary_key=True)
    value: Mapped[str] = mapped_column(Text(), nullable=False)


class MetricPointRow(Base):
    """One logged value of a metric. NaN is kept (``is_nan``): SQLite would store it as NULL."""

    __tablename__ = "metric_points"
    __table_args__ = (Index("ix_metric_points_run_id_key_step", "run_id", "key", "step"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    )
    key: Mapped[str] = mapped_column(String(MAX_KEY), nullable=False)
    step: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    # Milliseconds since the epoch, UTC: compact, and what every metrics UI plots against.
    timestamp_ms: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    value: Mapped[float | None] = mapped_column(Float(), nullable=True)
    is_nan: Mapped[bool] = mapped_column(Boolean(), nullable=False, default=False)


class MetricSummaryRow(Base):
    """Per run and key: the latest value and the extremes, kept current on every batch.

    Search (``metrics.acc > 0.9``) and run tables read these, never the points.
    "Latest" is the point with the highest step, then the latest timestamp (as MLflow).
    """

    __tablename__ = "metric_summaries"
    __table_args__ = (Index("ix_metric_summaries_key_latest", "key", "latest"),)

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(MAX_KEY), primary_key=True)
    latest: Mapped[float | None] = mapped_column(Float(), nullable=True)
    latest_is_nan: Mapped[bool] = mapped_column(Boolean(), nullable=False, default=False)
    latest_step: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    latest_timestamp_ms: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    min: Mapped[float | None] = mapped_column(Float(), nullable=True)
    max: Mapped[float | None] = mapped_column(Float(), nullable=True)
    count: Mapped[int] = mapped_column(BigInteger(), nullable=False, default=0)


class ArtifactRow(Base):
    """A file a run logged: its path inside the run, and the blob holding its bytes."""

    __tablename__ = "run_artifacts"

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(1000), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    created_at: Mapped[datetime] = CreatedAt()
