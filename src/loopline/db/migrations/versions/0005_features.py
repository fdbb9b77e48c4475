"""Feature store: versioned definitions and materialization watermarks.

Revision ID: 0005
Revises: 0004 (run console)
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_definitions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_feature_definitions_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_feature_definitions"),
        sa.UniqueConstraint(
            "project_id",
            "kind",
            "name",
            "version",
            name="uq_feature_definitions_project_id_kind_name_version",
        ),
    )
    op.create_table(
        "feature_materializations",
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("view_name", sa.String(100), nullable=False),
        sa.Column("store", sa.String(300), nullable=False),
        sa.Column("view_version", sa.Integer(), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=False),
        sa.Column("materialized_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows_written", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_feature_materializations_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "project_id", "view_name", "store", name="pk_feature_materializations"
        ),
    )


def downgrade() -> None:
    op.drop_table("feature_materializations")
    op.drop_table("feature_definitions")
