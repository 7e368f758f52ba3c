"""Alembic's entry point: run the revisions on the connection :func:`openautoglm.store.migrations.upgrade` passes."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from openautoglm.store import schema

config = context.config
connection = config.attributes.get("connection")


def _run(conn: Connection) -> None:
    # render_as_batch: SQLite cannot ALTER most things; batch mode copies the table instead.
    context.configure(connection=conn, target_metadata=schema.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:  # the `alembic` command line, with sqlalchemy.url set in its config
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.begin() as conn:
        _run(conn)
