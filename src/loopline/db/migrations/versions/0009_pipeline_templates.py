"""Pipelines: published templates (DAG spec, code snapshot, requirements), one row a version.

Revision ID: 0009
Revises: 0008 (feature source version)
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_templates",
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("dag", sa.Text(), nullable=False),
        sa.Column("code_digest", sa.String(64), nullable=False),
        sa.Column("entry", sa.String(400), nullable=False),
        sa.Column("requirements", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_pipeline_templates_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "name", "version", name="pk_pipeline_templates"),
    )


def downgrade() -> None:
    op.drop_table("pipeline_templates")
