"""Where the suite finds this machine's services (PostgreSQL, Redis): one place, each overridable from the
environment for a machine that runs them elsewhere."""

from __future__ import annotations

import os

PG_HOST = os.environ.get("AUTOGLM_TEST_PG_HOST", "127.0.0.1:5432")
REDIS_URL = os.environ.get("AUTOGLM_TEST_REDIS", "redis://127.0.0.1:6379/0")


def pg_url(database: str = "test", user: str = "postgres", driver: str = "postgresql+psycopg") -> str:
    """A PostgreSQL URL (trust auth on this machine); ``driver="postgresql"`` for plain psycopg."""
    return f"{driver}://{user}@{PG_HOST}/{database}"
