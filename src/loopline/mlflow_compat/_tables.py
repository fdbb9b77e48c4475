"""Tables of the MLflow-compatible API: what MLflow has and Loopline's tracking does not.

Experiments are projects and runs are runs (tracking owns those). MLflow 3 adds two things with
no Loopline equivalent: experiment tags, and *logged models* (a model with its own id, status,
params, tags and files, usually produced by a run). They live here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from loopline.db import Base, CreatedAt, UTCDateTime, utcnow

__all__ = ["ExperimentTagRow", "LoggedModelRow", "LoggedModelFileRow"]

MAX_MODEL_ID = 40


class ExperimentTagRow(Base):
    """A tag of an MLflow experiment (a Loopline project)."""

    __tablename__ = "mlflow_experiment_tags"

    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text(), nullable=False)


class LoggedModelRow(Base):
    """An MLflow logged model: ``m-`` and 32 hex characters; params and tags as JSON objects."""

    __tablename__ = "mlflow_logged_models"
    __table_args__ = (Index("ix_mlflow_logged_models_project_id_name", "project_id", "name"),)

    id: Mapped[str] = mapped_column(String(MAX_MODEL_ID), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(250), nullable=False)
    model_type: Mapped[str] = mapped_column(String(250), nullable=False, default="")
    source_run_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("runs.id", ondelete="SET NULL"), nullable=True
    )
    # LOGGED_MODEL_PENDING | LOGGED_MODEL_READY | LOGGED_MODEL_UPLOAD_FAILED
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    params: Mapped[str] = mapped_column(Text(), nullable=False, default="{}")
    tags: Mapped[str] = mapped_column(Text(), nullable=False, default="{}")
    created_at: Mapped[datetime] = CreatedAt()
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow
    )


class LoggedModelFileRow(Base):
    """A file of a logged model: its path inside the model and the blob holding its bytes."""

    __tablename__ = "mlflow_logged_model_files"

    model_id: Mapped[str] = mapped_column(
        String(MAX_MODEL_ID),
        ForeignKey("mlflow_logged_models.id", ondelete="CASCADE"),
        primary_key=True,
    )
    path: Mapped[str] = mapped_column(String(1000), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger(), nullable=False)
