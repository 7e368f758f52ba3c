"""Tasks: the answer's confidence.

Revision ID: 0005_task_confidence
Revises: 0004_principals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_task_confidence"
down_revision = "0004_principals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("tasks")}
    if "confidence" not in columns:
        op.add_column("tasks", sa.Column("confidence", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("confidence")
