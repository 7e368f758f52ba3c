"""Registered nodes as every replica sees them: each row says when its registration lapses and carries the whole
registration (time to live, timeout, cost, context window), so a replica that did not take the registration can
serve the node. An approval request may have no expiry (``approvals.timeout_s: null``: it waits for a person).

Revision ID: 0015_replicas
Revises: 0014_durable
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_replicas"
down_revision = "0014_durable"
branch_labels = None
depends_on = None

COLUMNS = (("expires_at", sa.Float()), ("ttl_s", sa.Float()), ("timeout_s", sa.Float()), ("cost", sa.Float()),
           ("context_window", sa.Integer()))


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("nodes")}
    with op.batch_alter_table("nodes") as batch:
        for name, kind in COLUMNS:
            if name not in have:
                batch.add_column(sa.Column(name, kind, nullable=True))
    with op.batch_alter_table("approvals") as batch:
        batch.alter_column("expires_at", existing_type=sa.Float(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.alter_column("expires_at", existing_type=sa.Float(), nullable=False)
    with op.batch_alter_table("nodes") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
