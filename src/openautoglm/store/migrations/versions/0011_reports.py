"""Report schedules, and the claim (and record) of each cron slot a replica runs.

Revision ID: 0011_reports
Revises: 0010_support
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_reports"
down_revision = "0010_support"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "report_schedules" not in have:
        op.create_table(
            "report_schedules",
            sa.Column("id", sa.String(32), primary_key=True),
            sa.Column("report", sa.String(128), nullable=False),
            sa.Column("cron", sa.String(128), nullable=False),
            sa.Column("period", sa.String(100), nullable=True),
            sa.Column("emails", sa.JSON(), nullable=False),
            sa.Column("webhook", sa.String(2048), nullable=True),
            sa.Column("owner", sa.String(128), nullable=True),
            sa.Column("created_at", sa.Float(), nullable=False),
        )
    if "report_slots" not in have:
        op.create_table(
            "report_slots",
            sa.Column("schedule_id", sa.String(32), primary_key=True),
            sa.Column("slot", sa.Float(), primary_key=True),
            sa.Column("holder", sa.String(128), nullable=False),
            sa.Column("lease_expires_at", sa.Float(), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("task_id", sa.String(64), nullable=True),
            sa.Column("result", sa.JSON(), nullable=True),
            sa.Column("error", sa.Text(), nullable=True),
            sa.Column("started_at", sa.Float(), nullable=False),
            sa.Column("finished_at", sa.Float(), nullable=True),
        )
        op.create_index("ix_report_slots_started", "report_slots", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_report_slots_started", table_name="report_slots")
    op.drop_table("report_slots")
    op.drop_table("report_schedules")
