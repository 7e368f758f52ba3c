"""Registered nodes keep the token the coordinator shares with them, sealed (store/sealing.py).

Revision ID: 0006_sealed_secrets
Revises: 0005_task_confidence
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_sealed_secrets"
down_revision = "0005_task_confidence"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    # A database whose tables were made from the newest metadata before being stamped already has the column.
    if "api_key" not in {c["name"] for c in sa.inspect(conn).get_columns("nodes")}:
        with op.batch_alter_table("nodes") as batch:
            batch.add_column(sa.Column("api_key", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("api_key")
