"""Business workflows: idempotency keys of steps with side effects, and approval requests that outlive a process.

Revision ID: 0008_bizflows
Revises: 0007_task_queue
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_bizflows"
down_revision = "0007_task_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "idempotency_keys" not in have:
        op.create_table(
            "idempotency_keys",
            sa.Column("key", sa.String(512), primary_key=True),
            sa.Column("tool", sa.String(128), nullable=False),
            sa.Column("task_id", sa.String(64), nullable=False),
            sa.Column("step_id", sa.String(128), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("output", sa.JSON(), nullable=True),
            sa.Column("created_at", sa.Float(), nullable=False),
            sa.Column("finished_at", sa.Float(), nullable=True),
        )
    if "approvals" not in have:
        op.create_table(
            "approvals",
            sa.Column("id", sa.String(32), primary_key=True),
            sa.Column("tool", sa.String(128), nullable=False),
            sa.Column("args", sa.JSON(), nullable=False),
            sa.Column("task_id", sa.String(64), nullable=False),
            sa.Column("step_id", sa.String(128), nullable=False),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("created_at", sa.Float(), nullable=False),
            sa.Column("expires_at", sa.Float(), nullable=False),
            sa.Column("escalate_to", sa.String(128), nullable=True),
            sa.Column("escalated_at", sa.Float(), nullable=True),
            sa.Column("decided_by", sa.String(128), nullable=True),
            sa.Column("decided_at", sa.Float(), nullable=True),
            sa.Column("reason", sa.Text(), nullable=True),
        )
        op.create_index("ix_approvals_status", "approvals", ["status", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_approvals_status", table_name="approvals")
    op.drop_table("approvals")
    op.drop_table("idempotency_keys")
