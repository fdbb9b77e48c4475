"""Pipelines' tables (owned here; other domains use the pipeline service, never these)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from loopline.db import Base, CreatedAt, UTCDateTime

__all__ = [
    "PipelineRunRow",
    "PipelineStepRow",
    "StepCacheRow",
    "PipelineTemplateRow",
    "ScheduleRow",
    "FiringRow",
    "NotificationRow",
]


class PipelineRunRow(Base):
    """A run of a pipeline; its id is the id of its tracked run (the steps' parent)."""

    __tablename__ = "pipeline_runs"
    __table_args__ = (
        Index(
            "ix_pipeline_runs_project_id_pipeline_started_at",
            "project_id",
            "pipeline",
            "started_at",
        ),
    )

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    pipeline: Mapped[str] = mapped_column(String(200), nullable=False)
    # running | succeeded | failed | stopped
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    params: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    dag: Mapped[str] = mapped_column(Text, nullable=False)  # JSON spec
    started_at: Mapped[datetime] = CreatedAt()
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PipelineStepRow(Base):
    """One step of a pipeline run: its state, its tracked run, its outputs."""

    __tablename__ = "pipeline_steps"

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("pipeline_runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    step_run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    cache_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outputs: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list of OutputRef
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    source_run: Mapped[str | None] = mapped_column(String(32), nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class StepCacheRow(Base):
    """Outputs of a step execution, by cache key, per project."""

    __tablename__ = "pipeline_step_cache"

    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    cache_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    outputs: Mapped[str] = mapped_column(Text, nullable=False)
    step_run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = CreatedAt()


class PipelineTemplateRow(Base):
    """A published version of a pipeline (a template): DAG spec, code snapshot, requirements."""

    __tablename__ = "pipeline_templates"

    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    dag: Mapped[str] = mapped_column(Text, nullable=False)  # JSON spec
    code_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    entry: Mapped[str] = mapped_column(String(400), nullable=False)
    requirements: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list
    created_by: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[datetime] = CreatedAt()


class ScheduleRow(Base):
    """A template launched on a cron expression; ``next_fire_at`` is what schedulers claim."""

    __tablename__ = "pipeline_schedules"
    __table_args__ = (
        Index("ix_pipeline_schedules_enabled_next_fire_at", "enabled", "next_fire_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    template: Mapped[str] = mapped_column(String(200), nullable=False)
    version: Mapped[str] = mapped_column(String(20), nullable=False)
    cron: Mapped[str] = mapped_column(String(200), nullable=False)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    params: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    next_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[datetime] = CreatedAt()


class FiringRow(Base):
    """One firing of a schedule. The primary key makes a firing happen once, whatever races."""

    __tablename__ = "pipeline_schedule_firings"

    schedule_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("pipeline_schedules.id", ondelete="CASCADE"), primary_key=True
    )
    fire_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    missed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class NotificationRow(Base):
    """A notifier attached to a pipeline (by name), a schedule or a run: one of the three."""

    __tablename__ = "pipeline_notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True
    )
    pipeline: Mapped[str | None] = mapped_column(String(200), nullable=True)
    schedule_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("pipeline_schedules.id", ondelete="CASCADE"), nullable=True
    )
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    notifier: Mapped[str] = mapped_column(String(200), nullable=False)
    config: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    events: Mapped[str] = mapped_column(String(100), nullable=False)  # JSON list of statuses
    created_at: Mapped[datetime] = CreatedAt()
