"""Schema migrations (Alembic), shipped in the package and run in-process when a :class:`Store` opens.

``upgrade(engine)`` brings any database to the newest revision. A database made before migrations existed (tables
created straight from the metadata, no ``alembic_version``) is recognised and stamped at the revision it matches,
then upgraded. A table declared in ``store/schema.py`` that no migration creates yet is still created (so work in
progress keeps running) but logged as ``table_without_migration``: write a revision under ``versions/`` for it.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from .. import schema

log = structlog.get_logger(__name__)

HERE = Path(__file__).parent
# The revision whose tables a pre-migration database (made by metadata.create_all) already has.
SPINE_REVISION = "0001_spine"
_lock = threading.Lock()


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


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head", create_unmigrated: bool = True) -> None:
    """Migrate ``engine``'s database to ``revision``; cheap when it is already there."""
    with _lock:
        if revision == "head" and current(engine) == head():
            if create_unmigrated:
                _create_unmigrated(engine)
            return
        config = alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            existing = set(inspect(conn).get_table_names())
            if "alembic_version" not in existing and "tasks" in existing:
                log.info("database_stamped", revision=SPINE_REVISION, reason="made before migrations")
                command.stamp(config, SPINE_REVISION)
            command.upgrade(config, revision)
        if create_unmigrated:
            _create_unmigrated(engine)


def _create_unmigrated(engine: Engine) -> None:
    existing = set(inspect(engine).get_table_names())
    missing = [t for name, t in schema.metadata.tables.items() if name not in existing]
    if missing:
        for table in missing:
            log.warning("table_without_migration", table=table.name,
                        fix="add a revision under openautoglm/store/migrations/versions")
        schema.metadata.create_all(engine, tables=missing)
