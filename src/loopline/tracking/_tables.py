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
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from loopline.db import Base, CreatedAt, IdColumn, UTCDateTime

# The limits the input rules enforce are the column widths: one definition of each.
from loopline.tracking._types import MAX_KEY, MAX_NAME

__all__ = [
    "RunRow",
    "ParamRow",
    "TagRow",
    "MetricChunkRow",
    "MetricSummaryRow",
    "ArtifactRow",
    "ConsoleRow",
]


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


class MetricChunkRow(Base):
    """A batch of one metric's points, packed: the columns of the points as binary arrays.

    Points arrive by the thousand per second; one row per point would make every point pay
    for two B-tree insertions keyed on the run id. A chunk holds a batch (as the writer sends
    it) as little-endian arrays: ``steps`` and ``timestamps_ms`` int64, ``values`` float64
    (NaN and infinities are kept by IEEE 754 itself). History reads unpack and sort.
    """

    __tablename__ = "metric_chunks"
    __table_args__ = (Index("ix_metric_chunks_run_id_key", "run_id", "key"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    )
    key: Mapped[str] = mapped_column(String(MAX_KEY), nullable=False)
    count: Mapped[int] = mapped_column(Integer(), nullable=False)
    first_step: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    last_step: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    steps: Mapped[bytes] = mapped_column(LargeBinary(), nullable=False)
    timestamps_ms: Mapped[bytes] = mapped_column(LargeBinary(), nullable=False)
    values: Mapped[bytes] = mapped_column(LargeBinary(), nullable=False)


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


class ConsoleRow(Base):
    """A piece of a running run's console output, at its byte offset in the log.

    The SDK ships what a run prints every couple of seconds, so a live view can follow it. When
    the run ends, the whole log becomes its ``console.log`` artifact and these rows go.
    """

    __tablename__ = "run_console"

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    offset: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary(), nullable=False)
