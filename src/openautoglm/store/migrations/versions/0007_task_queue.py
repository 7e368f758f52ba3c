"""The task queue and leases: a task's spec (what it needs to run anywhere) and the lease of the process running it.

Revision ID: 0007_task_queue
Revises: 0006_sealed_secrets
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_task_queue"
down_revision = "0006_sealed_secrets"
branch_labels = None
depends_on = None



def _columns() -> list[sa.Column[object]]:
    return [sa.Column("spec", sa.JSON(), nullable=True),
            sa.Column("lease_owner", sa.String(128), nullable=True),
            sa.Column("lease_expires_at", sa.Float(), nullable=True)]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    # A database whose tables were made from the newest metadata before being stamped already has them.
    have = {c["name"] for c in inspector.get_columns("tasks")}
    with op.batch_alter_table("tasks") as batch:
        for column in _columns():
            if column.name not in have:
                batch.add_column(column)
    if "ix_tasks_claim" not in {i["name"] for i in inspector.get_indexes("tasks")}:
        op.create_index("ix_tasks_claim", "tasks", ["status", "lease_expires_at"])


def downgrade() -> None:
    op.drop_index("ix_tasks_claim", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        for column in reversed(_columns()):
            batch.drop_column(column.name)
