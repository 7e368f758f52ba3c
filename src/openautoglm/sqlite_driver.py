"""One SQLite library for every connection this process opens.

Two copies of SQLite in one process must never open the same file: POSIX advisory locks belong to the process, so
when one copy closes its descriptor the kernel drops the locks the other copy still relies on, and concurrent
writers then overwrite each other (SQLite's "How To Corrupt An SQLite Database File", section 2.2.1). The store
(through SQLAlchemy) used the standard ``sqlite3`` and the knowledge base used ``pysqlite3`` (a newer SQLite that
loads sqlite-vec) on the same file; a fresh data directory opened by both at once ended with a malformed schema
(``index ix_support_decisions_ticket already exists``) and then ``no such table: kb_documents``.

So every SQLite connection goes through :func:`dbapi`: ``pysqlite3`` where it is installed (the ``kb`` extra), else
the standard module. Error classes differ between the two modules: catch ``dbapi().DatabaseError``, not
``sqlite3.DatabaseError``. The authorizer's action codes are SQLite's C constants, the same in both.

One library is not enough on its own: the store's migrations and the knowledge base's catalogue both create tables
in that file, and a write transaction that read the schema before the other committed fails at once with
"database is locked" (SQLite's snapshot check; no busy timeout helps). :func:`schema_lock` makes creating a schema
one thing at a time, across threads and processes.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, cast


@functools.cache
def dbapi() -> ModuleType:
    """The DB-API module every SQLite connection of this process uses."""
    try:
        import pysqlite3.dbapi2 as module
    except ImportError:
        return sqlite3
    return cast(ModuleType, module)


def connect(database: str | Path, **kwargs: Any) -> sqlite3.Connection:
    """``sqlite3.connect`` through :func:`dbapi` (typed as the standard module's connection: the API is the same)."""
    return cast(sqlite3.Connection, dbapi().connect(str(database), **kwargs))


@contextmanager
def schema_lock(database: str | Path | None) -> Iterator[None]:
    """Hold the lock file beside an SQLite file while changing its schema (nothing for ``:memory:`` or URIs).

    ``flock`` on a descriptor of its own: it excludes other threads of this process as well as other processes.
    """
    path = str(database) if database else ""
    if not path or path == ":memory:" or path.startswith("file:"):
        yield
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: one process at a time is the user's to ensure
        yield
        return
    with open(f"{path}.migrate-lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
