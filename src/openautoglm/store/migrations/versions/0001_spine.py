"""The spine: tasks and their event log.

Revision ID: 0001_spine
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_spine"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("request", sa.Text, nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("session_id", sa.String(128), nullable=True),
        sa.Column("plan", sa.JSON, nullable=True),
        sa.Column("answer", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_tasks_owner_created", "tasks", ["owner", "created_at"])
    op.create_index("ix_tasks_session", "tasks", ["session_id"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("step_id", sa.String(64), nullable=True),
        sa.Column("data", sa.JSON, nullable=False),
        sa.UniqueConstraint("task_id", "seq", name="uq_events_task_seq"),
    )


def downgrade() -> None:
    op.drop_table("events")
    op.drop_index("ix_tasks_session", table_name="tasks")
    op.drop_index("ix_tasks_owner_created", table_name="tasks")
    op.drop_table("tasks")
