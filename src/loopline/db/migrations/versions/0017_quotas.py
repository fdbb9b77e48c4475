"""Quotas: counted usage for queued tasks, storage and agents.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # What a dataset version stored (bytes its parent did not hold): storage quotas count it.
    with op.batch_alter_table("dataset_versions") as batch:
        batch.add_column(sa.Column("stored_bytes", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dataset_versions") as batch:
        batch.drop_column("stored_bytes")
