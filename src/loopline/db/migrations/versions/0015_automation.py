"""Automation: triggers, their firings, gates, delivery policies and the loop's event timeline.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def _project() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "automation_triggers",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("template", sa.String(200), nullable=False),
        sa.Column("template_version", sa.String(20), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("debounce", sa.Float(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("next_fire_at", _TS, nullable=True),
        sa.Column("last_fired_at", _TS, nullable=True),
        sa.Column("last_launch_at", _TS, nullable=True),
        sa.Column("last_run_id", sa.String(32), nullable=True),
        sa.Column("last_firing_id", sa.String(32), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        _project(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name", name="uq_automation_triggers_project_id_name"),
    )
    op.create_table(
        "automation_trigger_versions",
        sa.Column("trigger_id", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["trigger_id"], ["automation_triggers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("trigger_id", "version"),
    )
    op.create_table(
        "automation_firings",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("trigger_id", sa.String(32), nullable=False),
        sa.Column("trigger_version", sa.Integer(), nullable=False),
        sa.Column("event_key", sa.String(300), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("coalesced_into", sa.String(32), nullable=True),
        sa.Column("coalesced", sa.Integer(), nullable=False),
        sa.Column("fired_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["trigger_id"], ["automation_triggers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "trigger_id", "event_key", name="uq_automation_firings_trigger_id_event_key"
        ),
    )
    op.create_index(
        "ix_automation_firings_trigger_id_fired_at",
        "automation_firings",
        ["trigger_id", "fired_at"],
    )
    op.create_table(
        "automation_gates",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("challenger_version", sa.Integer(), nullable=True),
        sa.Column("champion_version", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("pipeline_run_id", sa.String(32), nullable=True),
        sa.Column("delivery", sa.String(16), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        _project(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_automation_gates_delivery", "automation_gates", ["delivery"])
    op.create_index("ix_automation_gates_project_id", "automation_gates", ["project_id"])
    op.create_table(
        "automation_policies",
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("endpoint", sa.String(100), nullable=False),
        sa.Column("canary_percent", sa.Integer(), nullable=False),
        sa.Column("shadow_first", sa.Boolean(), nullable=False),
        sa.Column("observe_seconds", sa.Float(), nullable=False),
        sa.Column("min_requests", sa.Integer(), nullable=False),
        sa.Column("min_labels", sa.Integer(), nullable=False),
        sa.Column("margins", sa.Text(), nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        _project(),
        sa.PrimaryKeyConstraint("project_id", "endpoint"),
    )
    op.create_table(
        "automation_deliveries",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("endpoint", sa.String(100), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("challenger_version", sa.Integer(), nullable=False),
        sa.Column("champion_version", sa.Integer(), nullable=True),
        sa.Column("gate_id", sa.String(32), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("base_revision", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("phase_started_at", _TS, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        _project(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "gate_id", "endpoint", name="uq_automation_deliveries_gate_id_endpoint"
        ),
    )
    op.create_index("ix_automation_deliveries_state", "automation_deliveries", ["state"])
    op.create_index("ix_automation_deliveries_project_id", "automation_deliveries", ["project_id"])
    op.create_table(
        "automation_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("trigger", sa.String(100), nullable=True),
        sa.Column("firing_id", sa.String(32), nullable=True),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("gate_id", sa.String(32), nullable=True),
        sa.Column("delivery_id", sa.String(32), nullable=True),
        sa.Column("endpoint", sa.String(100), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=True),
        sa.Column("alert_id", sa.String(64), nullable=True),
        sa.Column("reverted_by", sa.BigInteger(), nullable=True),
        _project(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_automation_events_project_id_id", "automation_events", ["project_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_automation_events_project_id_id", table_name="automation_events")
    op.drop_table("automation_events")
    op.drop_index("ix_automation_deliveries_project_id", table_name="automation_deliveries")
    op.drop_index("ix_automation_deliveries_state", table_name="automation_deliveries")
    op.drop_table("automation_deliveries")
    op.drop_table("automation_policies")
    op.drop_index("ix_automation_gates_project_id", table_name="automation_gates")
    op.drop_index("ix_automation_gates_delivery", table_name="automation_gates")
    op.drop_table("automation_gates")
    op.drop_index("ix_automation_firings_trigger_id_fired_at", table_name="automation_firings")
    op.drop_table("automation_firings")
    op.drop_table("automation_trigger_versions")
    op.drop_table("automation_triggers")
