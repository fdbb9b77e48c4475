"""Monitoring's tables (owned here; other domains use the monitor service, never these)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loopline.db import Base, CreatedAt, UTCDateTime

__all__ = ["MonitorRow", "MonitorRunRow", "MonitorResultRow", "AlertRow"]


class MonitorRow(Base):
    """A monitor of an endpoint; ``next_run_at`` is what schedulers claim."""

    __tablename__ = "monitors"
    __table_args__ = (
        UniqueConstraint("project_id", "name"),
        Index("ix_monitors_enabled_next_run_at", "enabled", "next_run_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    endpoint: Mapped[str] = mapped_column(String(200), nullable=False)
    schedule: Mapped[str] = mapped_column(String(200), nullable=False)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    window_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    checks: Mapped[str] = mapped_column(Text, nullable=False)  # JSON: drift, quality, latency
    rules: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of AlertRule dicts
    notify: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of webhook configs
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_window_end: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="never")
    created_by: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[datetime] = CreatedAt()


class MonitorRunRow(Base):
    """One run of a monitor over one window."""

    __tablename__ = "monitor_runs"
    __table_args__ = (Index("ix_monitor_runs_monitor_id_window_end", "monitor_id", "window_end"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    monitor_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False
    )
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    trigger: Mapped[str] = mapped_column(String(20), nullable=False)
    errors: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON {check: why}


class MonitorResultRow(Base):
    """One figure of a monitor run: the time series the UI charts and alert rules read."""

    __tablename__ = "monitor_results"
    __table_args__ = (
        Index("ix_monitor_results_monitor_id_metric_window_end", "monitor_id", "metric",
              "window_end"),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("monitor_runs.id", ondelete="CASCADE"), nullable=False
    )
    monitor_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False
    )
    check: Mapped[str] = mapped_column(String(20), nullable=False)
    metric: Mapped[str] = mapped_column(String(50), nullable=False)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    report: Mapped[str | None] = mapped_column(String(64), nullable=True)  # blob digest (HTML)


class AlertRow(Base):
    """An alert. ``open_key`` is set while it fires and unique: one firing alert per monitor
    and rule, whatever races between server processes."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("open_key"),
        Index("ix_alerts_project_id_fired_at", "project_id", "fired_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    monitor_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False
    )
    rule: Mapped[str] = mapped_column(String(200), nullable=False)
    endpoint: Mapped[str] = mapped_column(String(200), nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    metric: Mapped[str] = mapped_column(String(50), nullable=False)
    value: Mapped[float] = mapped_column(Float, nullable=False)
    threshold: Mapped[float] = mapped_column(Float, nullable=False)
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    figures: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    open_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
