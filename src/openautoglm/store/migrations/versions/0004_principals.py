"""Principals: owners carry their kind (``key:<owner>``), and a task keeps the role it runs with.

Before this revision an API key's tasks were owned by the key's bare owner label (``alice``, or ``key-<id>`` by
default) and a JWT's by its bare ``sub``, in one shared name space: a token with ``sub: "key-<id>"`` read that key's
tasks. Now a key's principal is ``key:<owner>`` (the default owner label is the key's id) and a token's is
``jwt:<iss>:<sub>``. Rows owned by a key's label move to the key's principal name, so a key still reads its tasks,
sessions and feedback. Other owners stay as they are (owners given by library callers, and tokens' subjects,
which cannot be told apart here: operators still see those tasks).

Revision ID: 0004_principals
Revises: 0003_sessions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_principals"
down_revision = "0003_sessions"
branch_labels = None
depends_on = None

OWNED = ("tasks", "sessions", "feedback")
LEGACY_DEFAULT = "key-"


def upgrade() -> None:
    conn = op.get_bind()
    # A database whose tables were made from the newest metadata before being stamped already has the column.
    if "role" not in {c["name"] for c in sa.inspect(conn).get_columns("tasks")}:
        with op.batch_alter_table("tasks") as batch:
            # The role the task's caller had: a resumed task runs with it, not with a default.
            batch.add_column(sa.Column("role", sa.String(16), nullable=True))
    keys = sa.table("api_keys", sa.column("id", sa.String), sa.column("owner", sa.String))
    renamed: dict[str, str] = {}
    for key_id, owner in conn.execute(sa.select(keys.c.id, keys.c.owner)).all():
        label = key_id if owner == f"{LEGACY_DEFAULT}{key_id}" else owner
        renamed[owner] = f"key:{label}"
        if label != owner:
            conn.execute(sa.update(keys).where(keys.c.id == key_id).values(owner=label))
    for name in OWNED:
        table = sa.table(name, sa.column("owner", sa.String))
        for old, new in renamed.items():
            conn.execute(sa.update(table).where(table.c.owner == old).values(owner=new))


def downgrade() -> None:
    conn = op.get_bind()
    keys = sa.table("api_keys", sa.column("id", sa.String), sa.column("owner", sa.String))
    for key_id, label in conn.execute(sa.select(keys.c.id, keys.c.owner)).all():
        old = f"{LEGACY_DEFAULT}{key_id}" if label == key_id else label
        if old != label:
            conn.execute(sa.update(keys).where(keys.c.id == key_id).values(owner=old))
        for name in OWNED:
            table = sa.table(name, sa.column("owner", sa.String))
            conn.execute(sa.update(table).where(table.c.owner == f"key:{label}").values(owner=old))
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("role")
