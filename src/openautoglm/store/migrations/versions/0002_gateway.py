"""The gateway: API keys, revoked tokens, feedback, registered nodes.

Revision ID: 0002_gateway
Revises: 0001_spine
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_gateway"
down_revision = "0001_spine"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("name", sa.String(128), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float, nullable=True),
    )
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(128), primary_key=True),
        sa.Column("revoked_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=True),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("rating", sa.Integer, nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("node", sa.String(128), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_feedback_task", "feedback", ["task_id"])
    op.create_table(
        "nodes",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("base_url", sa.String(512), nullable=False),
        sa.Column("model", sa.String(256), nullable=True),
        sa.Column("capabilities", sa.JSON, nullable=False),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("registered_at", sa.Float, nullable=False),
        sa.Column("last_heartbeat", sa.Float, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("nodes")
    op.drop_index("ix_feedback_task", table_name="feedback")
    op.drop_table("feedback")
    op.drop_table("revoked_tokens")
    op.drop_table("api_keys")
