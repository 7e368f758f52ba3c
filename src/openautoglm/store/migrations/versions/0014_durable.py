"""Approval requests say what they ask: a call of a tool with side effects, or re-running one whose outcome a crash
left unknown (durable execution), and why.

Revision ID: 0014_durable
Revises: 0013_workflow_schedules
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_durable"
down_revision = "0013_workflow_schedules"
branch_labels = None
depends_on = None


def _columns() -> list[sa.Column[object]]:
    return [sa.Column("kind", sa.String(16), nullable=False, server_default="call"),
            sa.Column("why", sa.Text(), nullable=True)]


def upgrade() -> None:
    # A database whose tables were made from the newest metadata before being stamped already has them.
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("approvals")}
    with op.batch_alter_table("approvals") as batch:
        for column in _columns():
            if column.name not in have:
                batch.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        for column in reversed(_columns()):
            batch.drop_column(column.name)
