"""Labelling: hard-example collections and their review state.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "label_reviews",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("commit_lock", sa.String(32), nullable=True),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_label_reviews_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_label_reviews"),
        sa.UniqueConstraint("project_id", "dataset", name="uq_label_reviews_project_id_dataset"),
    )
    op.create_table(
        "label_decisions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("review_id", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(300), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("committed_version", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["label_reviews.id"],
            name="fk_label_decisions_review_id_label_reviews",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_label_decisions"),
        sa.UniqueConstraint(
            "review_id", "request_id", name="uq_label_decisions_review_id_request_id"
        ),
    )


def downgrade() -> None:
    op.drop_table("label_decisions")
    op.drop_table("label_reviews")
