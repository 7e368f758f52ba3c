"""Memory: sessions and their turns.

Revision ID: 0003_sessions
Revises: 0002_gateway
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_sessions"
down_revision = "0002_gateway"
branch_labels = None
depends_on = None


def _exists(name: str) -> bool:
    # These tables existed briefly before their migration (made by the store's fallback for unmigrated tables);
    # a database from that time already has them and only needs the revision recorded.
    return name in sa.inspect(op.get_bind()).get_table_names()


def upgrade() -> None:
    if not _exists("sessions"):
        op.create_table(
            "sessions",
            sa.Column("id", sa.String(128), primary_key=True),
            sa.Column("owner", sa.String(128), nullable=True),
            sa.Column("summary", sa.Text, nullable=True),
            sa.Column("summary_upto", sa.Integer, nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("updated_at", sa.Float, nullable=False),
        )
        op.create_index("ix_sessions_owner_updated", "sessions", ["owner", "updated_at"])
    if not _exists("session_turns"):
        op.create_table(
            "session_turns",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("session_id", sa.String(128), nullable=False),
            sa.Column("seq", sa.Integer, nullable=False),
            sa.Column("task_id", sa.String(64), nullable=True),
            sa.Column("request", sa.Text, nullable=False),
            sa.Column("answer", sa.Text, nullable=True),
            sa.Column("status", sa.String(32), nullable=False),
            sa.Column("question", sa.Text, nullable=True),
            sa.Column("missing", sa.JSON, nullable=True),
            sa.Column("plan", sa.JSON, nullable=True),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.UniqueConstraint("session_id", "seq", name="uq_session_turns_seq"),
        )


def downgrade() -> None:
    op.drop_table("session_turns")
    op.drop_index("ix_sessions_owner_updated", table_name="sessions")
    op.drop_table("sessions")
