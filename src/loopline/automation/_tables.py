"""Automation's tables (owned here; other domains never read them)."""

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
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from loopline.db import Base, CreatedAt, UTCDateTime

__all__ = [
    "TriggerRow",
    "TriggerVersionRow",
    "FiringRow",
    "GateRow",
    "PolicyRow",
    "DeliveryRow",
    "EventRow",
]


class TriggerRow(Base):
    """A trigger's current definition and its cursor (what it has seen so far).

    ``seq`` moves on with every change of the cursor: a controller claims the events it read
    with ``UPDATE ... WHERE seq = <what it read>``, so of two controllers one wins.
    """

    __tablename__ = "automation_triggers"
    __table_args__ = (
        UniqueConstraint("project_id", "name", name="uq_automation_triggers_project_id_name"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    template: Mapped[str] = mapped_column(String(200), nullable=False)
    template_version: Mapped[str] = mapped_column(String(20), nullable=False)
    params: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    config: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    debounce: Mapped[float] = mapped_column(Float, nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)  # ok | broken
    problem: Mapped[str] = mapped_column(Text, nullable=False, default="")
    cursor: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_launch_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_firing_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[datetime] = CreatedAt()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class TriggerVersionRow(Base):
    """A trigger's definition as it was at each version (editing never rewrites history)."""

    __tablename__ = "automation_trigger_versions"

    trigger_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("automation_triggers.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    created_by: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[datetime] = CreatedAt()


class FiringRow(Base):
    """One event a trigger saw. ``(trigger_id, event_key)`` is unique: an event fires once."""

    __tablename__ = "automation_firings"
    __table_args__ = (
        UniqueConstraint(
            "trigger_id", "event_key", name="uq_automation_firings_trigger_id_event_key"
        ),
        Index("ix_automation_firings_trigger_id_fired_at", "trigger_id", "fired_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    trigger_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("automation_triggers.id", ondelete="CASCADE"), nullable=False
    )
    trigger_version: Mapped[int] = mapped_column(Integer, nullable=False)
    event_key: Mapped[str] = mapped_column(String(300), nullable=False)
    event: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    params: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    coalesced_into: Mapped[str | None] = mapped_column(String(32), nullable=True)
    coalesced: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class GateRow(Base):
    """A gate's outcome with its figures; ``delivery`` is what the controller claims."""

    __tablename__ = "automation_gates"
    __table_args__ = (Index("ix_automation_gates_delivery", "delivery"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True
    )
    model: Mapped[str] = mapped_column(String(200), nullable=False)
    passed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    figures: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    challenger_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    champion_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    pipeline_run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    delivery: Mapped[str] = mapped_column(String(16), nullable=False)  # pending|started|none
    created_at: Mapped[datetime] = CreatedAt()


class PolicyRow(Base):
    """An endpoint's delivery policy."""

    __tablename__ = "automation_policies"

    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    endpoint: Mapped[str] = mapped_column(String(100), primary_key=True)
    canary_percent: Mapped[int] = mapped_column(Integer, nullable=False)
    shadow_first: Mapped[bool] = mapped_column(Boolean, nullable=False)
    observe_seconds: Mapped[float] = mapped_column(Float, nullable=False)
    min_requests: Mapped[int] = mapped_column(Integer, nullable=False)
    min_labels: Mapped[int] = mapped_column(Integer, nullable=False)
    margins: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    alias: Mapped[str] = mapped_column(String(100), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    updated_by: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class DeliveryRow(Base):
    """A challenger's delivery into an endpoint; ``seq`` guards each transition."""

    __tablename__ = "automation_deliveries"
    __table_args__ = (
        UniqueConstraint("gate_id", "endpoint", name="uq_automation_deliveries_gate_id_endpoint"),
        Index("ix_automation_deliveries_state", "state"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True
    )
    endpoint: Mapped[str] = mapped_column(String(100), nullable=False)
    model: Mapped[str] = mapped_column(String(200), nullable=False)
    challenger_version: Mapped[int] = mapped_column(Integer, nullable=False)
    champion_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    gate_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    base_revision: Mapped[int] = mapped_column(Integer, nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    policy: Mapped[str] = mapped_column(Text, nullable=False)  # JSON snapshot
    figures: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    phase_started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_at: Mapped[datetime] = CreatedAt()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class EventRow(Base):
    """One entry of the loop's timeline. Append-only, but for ``reverted_by``."""

    __tablename__ = "automation_events"
    __table_args__ = (Index("ix_automation_events_project_id_id", "project_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    figures: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON
    trigger: Mapped[str | None] = mapped_column(String(100), nullable=True)
    firing_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    gate_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    delivery_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    endpoint: Mapped[str | None] = mapped_column(String(100), nullable=True)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    revision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    alert_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reverted_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
