"""Schedules start workflows too: a schedule's kind (report | workflow) and a workflow's inputs; the name column
grows to hold a workflow file's path.

Revision ID: 0013_workflow_schedules
Revises: 0012_support_drafter
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_workflow_schedules"
down_revision = "0012_support_drafter"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("report_schedules")}
    with op.batch_alter_table("report_schedules") as batch:
        if "kind" not in have:
            batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="report"))
        if "inputs" not in have:
            batch.add_column(sa.Column("inputs", sa.JSON(), nullable=True))
        batch.alter_column("report", existing_type=sa.String(128), type_=sa.String(1024), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("report_schedules") as batch:
        batch.drop_column("inputs")
        batch.drop_column("kind")
        batch.alter_column("report", existing_type=sa.String(1024), type_=sa.String(128), existing_nullable=False)
