"""Agents' tables (owned here; other domains use the queue service, never these)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from loopline.db import Base, CreatedAt, UTCDateTime

__all__ = ["QueueRow", "TaskRow", "AgentRow", "DecisionRow"]


class QueueRow(Base):
    """A named queue with a priority and the resource tags its agents advertise."""

    __tablename__ = "agent_queues"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    tags: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = CreatedAt()


class TaskRow(Base):
    """A task on a queue; ``agent_id`` and ``lease_expires_at`` say who holds it until when."""

    __tablename__ = "agent_tasks"
    __table_args__ = (
        Index("ix_agent_tasks_queue_status_priority", "queue", "status", "priority"),
        Index("ix_agent_tasks_status_lease_expires_at", "status", "lease_expires_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    queue: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    # queued | running | succeeded | failed | cancelled
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    project: Mapped[str | None] = mapped_column(String(200), nullable=True)
    payload: Mapped[str] = mapped_column(String(64), nullable=False)  # blob digest
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    resources: Mapped[str] = mapped_column(Text, nullable=False)  # JSON object
    env: Mapped[str] = mapped_column(Text, nullable=False)  # JSON object
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    agent_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    result: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = CreatedAt()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AgentRow(Base):
    """An agent process: its host, queues, resources and last heartbeat."""

    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    host: Mapped[str] = mapped_column(String(200), nullable=False)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    queues: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list
    resources: Mapped[str] = mapped_column(Text, nullable=False)  # JSON object
    labels: Mapped[str] = mapped_column(Text, nullable=False)  # JSON object
    concurrency: Mapped[int] = mapped_column(Integer, nullable=False)
    # idle | busy | lost | stopped (lost is derived from last_heartbeat when read)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    current_tasks: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list
    last_heartbeat: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    started_at: Mapped[datetime] = CreatedAt()


class DecisionRow(Base):
    """An autoscaler decision with its reason (append-only)."""

    __tablename__ = "agent_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    queue: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    agent: Mapped[str | None] = mapped_column(String(200), nullable=True)
    depth: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    agents: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = CreatedAt()
