"""Features: the dataset version a view was last materialized from.

Revision ID: 0008
Revises: 0007 (pipelines)
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feature_materializations") as batch:
        batch.add_column(sa.Column("source_version", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feature_materializations") as batch:
        batch.drop_column("source_version")
