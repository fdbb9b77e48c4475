"""Monitoring: monitors, their runs and results (time series), and alerts.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _at(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("endpoint", sa.String(200), nullable=False),
        sa.Column("schedule", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("window_seconds", sa.Integer(), nullable=True),
        sa.Column("checks", sa.Text(), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("notify", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        _at("created_at"),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_monitors_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_monitors"),
        sa.UniqueConstraint("project_id", "name", name="uq_monitors_project_id_name"),
    )
    op.create_index("ix_monitors_enabled_next_run_at", "monitors", ["enabled", "next_run_at"])
    op.create_table(
        "monitor_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("monitor_id", sa.String(32), nullable=False),
        _at("window_start"),
        _at("window_end"),
        _at("started_at"),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("errors", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name="fk_monitor_runs_monitor_id_monitors",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_runs"),
    )
    op.create_index(
        "ix_monitor_runs_monitor_id_window_end", "monitor_runs", ["monitor_id", "window_end"]
    )
    op.create_table(
        "monitor_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("monitor_id", sa.String(32), nullable=False),
        sa.Column("check", sa.String(20), nullable=False),
        sa.Column("metric", sa.String(50), nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        _at("window_start"),
        _at("window_end"),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("report", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["monitor_runs.id"],
            name="fk_monitor_results_run_id_monitor_runs",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name="fk_monitor_results_monitor_id_monitors",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_results"),
    )
    op.create_index(
        "ix_monitor_results_monitor_id_metric_window_end",
        "monitor_results",
        ["monitor_id", "metric", "window_end"],
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("monitor_id", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("endpoint", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("metric", sa.String(50), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        _at("fired_at"),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        _at("window_start"),
        _at("window_end"),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("open_key", sa.String(300), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_alerts_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name="fk_alerts_monitor_id_monitors",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.UniqueConstraint("open_key", name="uq_alerts_open_key"),
    )
    op.create_index("ix_alerts_project_id_fired_at", "alerts", ["project_id", "fired_at"])


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("monitor_results")
    op.drop_table("monitor_runs")
    op.drop_table("monitors")
