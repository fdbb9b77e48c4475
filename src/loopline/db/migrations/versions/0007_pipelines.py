"""Pipelines: pipeline runs, their steps, and the step cache.

Revision ID: 0007
Revises: 0006 (registry)
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("dag", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_pipeline_runs_run_id_runs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_pipeline_runs_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name="pk_pipeline_runs"),
    )
    op.create_index(
        "ix_pipeline_runs_project_id_pipeline_started_at",
        "pipeline_runs",
        ["project_id", "pipeline", "started_at"],
    )
    op.create_table(
        "pipeline_steps",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("step_run_id", sa.String(32), nullable=True),
        sa.Column("cache_key", sa.String(64), nullable=True),
        sa.Column("outputs", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("source_run", sa.String(32), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["pipeline_runs.run_id"],
            name="fk_pipeline_steps_run_id_pipeline_runs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "name", name="pk_pipeline_steps"),
    )
    op.create_table(
        "pipeline_step_cache",
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("cache_key", sa.String(64), nullable=False),
        sa.Column("outputs", sa.Text(), nullable=False),
        sa.Column("step_run_id", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_pipeline_step_cache_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "cache_key", name="pk_pipeline_step_cache"),
    )


def downgrade() -> None:
    op.drop_table("pipeline_step_cache")
    op.drop_table("pipeline_steps")
    op.drop_index("ix_pipeline_runs_project_id_pipeline_started_at", table_name="pipeline_runs")
    op.drop_table("pipeline_runs")
