"""Customer service: every routed customer message (tickets for the agents' inbox) and each agent's decision.

Revision ID: 0010_support
Revises: 0009_policy
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_support"
down_revision = "0009_policy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "support_tickets" not in have:
        op.create_table(
            "support_tickets",
            sa.Column("id", sa.String(32), primary_key=True),
            sa.Column("conversation_id", sa.String(128), nullable=True),
            sa.Column("owner", sa.String(128), nullable=True),
            sa.Column("route", sa.String(16), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("message", sa.Text(), nullable=False),
            sa.Column("draft", sa.Text(), nullable=True),
            sa.Column("reply", sa.Text(), nullable=True),
            sa.Column("confidence", sa.Float(), nullable=False),
            sa.Column("sources", sa.JSON(), nullable=True),
            sa.Column("created_at", sa.Float(), nullable=False),
            sa.Column("updated_at", sa.Float(), nullable=False),
        )
        op.create_index("ix_support_tickets_status", "support_tickets", ["status", "created_at"])
    if "support_decisions" not in have:
        op.create_table(
            "support_decisions",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("ticket_id", sa.String(32), nullable=False),
            sa.Column("action", sa.String(16), nullable=False),
            sa.Column("text", sa.Text(), nullable=True),
            sa.Column("decided_by", sa.String(128), nullable=False),
            sa.Column("decided_at", sa.Float(), nullable=False),
        )
        op.create_index("ix_support_decisions_ticket", "support_decisions", ["ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_support_decisions_ticket", table_name="support_decisions")
    op.drop_table("support_decisions")
    op.drop_index("ix_support_tickets_status", table_name="support_tickets")
    op.drop_table("support_tickets")
