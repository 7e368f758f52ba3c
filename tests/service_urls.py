"""Where the suite finds this machine's services (PostgreSQL, Redis): one place, each overridable from the
environment for a machine that runs them elsewhere."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

PG_HOST = os.environ.get("AUTOGLM_TEST_PG_HOST", "127.0.0.1:5432")
REDIS_URL = os.environ.get("AUTOGLM_TEST_REDIS", "redis://127.0.0.1:6379/0")


def pg_url(database: str = "test", user: str = "postgres", driver: str = "postgresql+psycopg") -> str:
    """A PostgreSQL URL (trust auth on this machine); ``driver="postgresql"`` for plain psycopg."""
    return f"{driver}://{user}@{PG_HOST}/{database}"


@contextmanager
def fresh_pg_database(prefix: str) -> Iterator[str]:
    """The URL of a PostgreSQL database of its own (a unique name: other suites run on the same server), dropped
    after, even with connections still open."""
    name = f"{prefix}_{secrets.token_hex(5)}"
    admin = create_engine(pg_url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield pg_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
