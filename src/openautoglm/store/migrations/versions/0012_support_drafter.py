"""Support tickets: who worded the draft (the model node, its capability, the policy version that routed the call),
so an agent's decision on the draft becomes a rating of that node for the feedback loop.

Revision ID: 0012_support_drafter
Revises: 0011_reports
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_support_drafter"
down_revision = "0011_reports"
branch_labels = None
depends_on = None

COLUMNS = (
    ("drafter", sa.String(128)),
    ("drafter_capability", sa.String(64)),
    ("policy_version", sa.Integer()),
)


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("support_tickets")}
    for name, kind in COLUMNS:
        if name not in have:
            op.add_column("support_tickets", sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("support_tickets") as batch:
        for name, _ in COLUMNS:
            batch.drop_column(name)
