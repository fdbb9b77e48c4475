"""Pipelines: schedules (cron, time zone), their firings, and notifications on run ends.

Revision ID: 0010
Revises: 0009 (pipeline templates)
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_schedules",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("template", sa.String(200), nullable=False),
        sa.Column("version", sa.String(20), nullable=False),
        sa.Column("cron", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_pipeline_schedules_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_schedules"),
    )
    op.create_index(
        "ix_pipeline_schedules_enabled_next_fire_at",
        "pipeline_schedules",
        ["enabled", "next_fire_at"],
    )
    op.create_table(
        "pipeline_schedule_firings",
        sa.Column("schedule_id", sa.String(32), nullable=False),
        sa.Column("fire_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("missed", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["pipeline_schedules.id"],
            name="fk_pipeline_schedule_firings_schedule_id_pipeline_schedules",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("schedule_id", "fire_at", name="pk_pipeline_schedule_firings"),
    )
    op.create_table(
        "pipeline_notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("pipeline", sa.String(200), nullable=True),
        sa.Column("schedule_id", sa.String(32), nullable=True),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("notifier", sa.String(200), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("events", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_pipeline_notifications_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["pipeline_schedules.id"],
            name="fk_pipeline_notifications_schedule_id_pipeline_schedules",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_notifications"),
    )
    op.create_index(
        "ix_pipeline_notifications_project_id", "pipeline_notifications", ["project_id"]
    )
    op.create_index("ix_pipeline_notifications_run_id", "pipeline_notifications", ["run_id"])


def downgrade() -> None:
    op.drop_table("pipeline_notifications")
    op.drop_table("pipeline_schedule_firings")
    op.drop_table("pipeline_schedules")
