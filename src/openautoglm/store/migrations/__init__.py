"""Schema migrations (Alembic), shipped in the package and run in-process when a :class:`Store` opens.

``upgrade(engine)`` brings any database to the newest revision. A database made before migrations existed (tables
created straight from the metadata, no ``alembic_version``) is recognised and stamped at the revision it matches,
then upgraded. A table declared in ``store/schema.py`` that no migration creates yet is still created (so work in
progress keeps running) but logged as ``table_without_migration``: write a revision under ``versions/`` for it.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from functools import cache
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, inspect, text

from ...errors import StoreError
from ...sqlite_driver import schema_lock
from .. import schema

log = structlog.get_logger(__name__)

HERE = Path(__file__).parent
# The revision whose tables a pre-migration database (made by metadata.create_all) already has.
SPINE_REVISION = "0001_spine"
_lock = threading.Lock()  # within one process; across processes, PostgreSQL's advisory lock (below)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    return config


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    heads = _script().get_heads()
    return heads[0]


def _known(revision: str) -> bool:
    try:
        return _script().get_revision(revision) is not None
    except CommandError:
        return False


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head", create_unmigrated: bool = True) -> None:
    """Migrate ``engine``'s database to ``revision``; cheap when it is already there.

    Several processes may open one database at once (a CLI command beside the gateway, replicas starting
    together): PostgreSQL serialises them with an advisory lock, a SQLite file with a lock file beside it (the one the
    knowledge base's catalogue also takes when it creates its tables in the same file).
    """
    with _lock, _file_lock(engine):
        found = current(engine)
        if found is not None and not _known(found):
            # Written by a newer version (or another branch): Alembic cannot move from a revision it has never
            # seen, and going on would write rows that version does not expect.
            raise StoreError(f"the database's schema is at revision {found!r}, which this version of Open-AutoGLM "
                             f"does not know (it knows up to {head()!r}): run the version that wrote it, or "
                             "point database_url or AUTOGLM_HOME at another database")
        if not (revision == "head" and found == head()):
            _upgrade(engine, revision)
        if create_unmigrated:
            _create_unmigrated(engine)


def _file_lock(engine: Engine) -> AbstractContextManager[None]:
    return schema_lock(engine.url.database if engine.dialect.name == "sqlite" else None)


def _upgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7307)"))
            if revision == "head" and MigrationContext.configure(conn).get_current_revision() == head():
                return  # another process migrated while we waited
        config.attributes["connection"] = conn
        existing = set(inspect(conn).get_table_names())
        if "alembic_version" not in existing and "tasks" in existing:
            log.info("database_stamped", revision=SPINE_REVISION, reason="made before migrations")
            command.stamp(config, SPINE_REVISION)
        command.upgrade(config, revision)


def _create_unmigrated(engine: Engine) -> None:
    existing = set(inspect(engine).get_table_names())
    missing = [t for name, t in schema.metadata.tables.items() if name not in existing]
    if missing:
        for table in missing:
            log.warning("table_without_migration", table=table.name,
                        fix="add a revision under openautoglm/store/migrations/versions")
        schema.metadata.create_all(engine, tables=missing)
