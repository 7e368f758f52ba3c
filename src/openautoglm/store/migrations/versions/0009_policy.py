"""Routing policies: versions, the active one (one row every replica polls), their log; feedback's policy version.

Revision ID: 0009_policy
Revises: 0008_bizflows
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_policy"
down_revision = "0008_bizflows"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    # A database whose tables were made from the newest metadata before being stamped already has them.
    tables = set(inspector.get_table_names())
    if "policies" not in tables:
        op.create_table(
            "policies",
            sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
            sa.Column("body", sa.JSON(), nullable=False),
            sa.Column("author", sa.String(128), nullable=False),
            sa.Column("reason", sa.Text(), nullable=True),
            sa.Column("origin", sa.String(16), nullable=False),
            sa.Column("parent", sa.Integer(), nullable=True),
            sa.Column("created_at", sa.Float(), nullable=False),
        )
    if "policy_state" not in tables:
        op.create_table(
            "policy_state",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
            sa.Column("active", sa.Integer(), nullable=True),
            sa.Column("previous", sa.Integer(), nullable=True),
            sa.Column("pinned", sa.Boolean(), nullable=False),
            sa.Column("serial", sa.Integer(), nullable=False),
            sa.Column("changed_at", sa.Float(), nullable=False),
        )
    if "policy_log" not in tables:
        op.create_table(
            "policy_log",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("version", sa.Integer(), nullable=True),
            sa.Column("author", sa.String(128), nullable=False),
            sa.Column("reason", sa.Text(), nullable=True),
            sa.Column("data", sa.JSON(), nullable=False),
            sa.Column("at", sa.Float(), nullable=False),
        )
    if "policy_version" not in {c["name"] for c in inspector.get_columns("feedback")}:
        with op.batch_alter_table("feedback") as batch:
            batch.add_column(sa.Column("policy_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("policy_version")
    op.drop_table("policy_log")
    op.drop_table("policy_state")
    op.drop_table("policies")
