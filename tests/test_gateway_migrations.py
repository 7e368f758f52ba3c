"""Migrations: a fresh database reaches the newest revision and matches the tables the code declares, on SQLite
and PostgreSQL; a database made before migrations existed is recognised and upgraded in place."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from gateway_support import database
from openautoglm.errors import StoreError
from openautoglm.store import Store, schema
from openautoglm.store.migrations import current, head, upgrade


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


def _drift(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    finally:
        engine.dispose()
    # Column changes come as lists of tuples. Server defaults and type spellings differ harmlessly between
    # dialects; tables, columns, nullability and indexes must not.
    flat = [item for d in diffs for item in (d if isinstance(d, list) else [d])]
    return [d for d in flat if d[0] not in ("modify_default", "modify_type")]


def test_migrations_alone_build_every_declared_table(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        upgrade(engine, create_unmigrated=False)  # no safety net: only what the revisions create
        assert current(engine) == head()
        assert set(schema.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert _drift(db_url) == [], "a table in store/schema.py differs from what the migrations make: add a revision"


def test_the_store_migrates_on_open_and_a_pre_migration_database_is_upgraded(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        # The spine's tables as create_all made them before there were migrations, with a task in them.
        schema.metadata.create_all(engine, tables=[schema.tasks, schema.events])
    finally:
        engine.dispose()
    old = Store(db_url, create=False)
    old.create_task("t-old", "from before", owner="ann")
    old.close()

    store = Store(db_url)
    try:
        assert current(store.engine) == head()
        assert store.get_task("t-old").owner == "ann"
        assert {"api_keys", "revoked_tokens", "feedback", "nodes"} <= set(inspect(store.engine).get_table_names())
    finally:
        store.close()
    again = Store(db_url)  # already at head: opening again changes nothing
    try:
        assert current(again.engine) == head()
    finally:
        again.close()


@pytest.mark.process
def test_concurrent_openers_migrate_once(db_url: str) -> None:
    import concurrent.futures
    import subprocess
    import sys

    # Separate processes, as replicas would be: the in-process lock does not help them.
    code = "import sys; from openautoglm.store import Store; Store(sys.argv[1]).close()"
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        runs = list(pool.map(lambda _: subprocess.run([sys.executable, "-c", code, db_url], capture_output=True,
                                                      text=True, timeout=120), range(3)))
    assert all(r.returncode == 0 for r in runs), [r.stderr[-500:] for r in runs]
    engine = create_engine(db_url)
    try:
        assert current(engine) == head()
    finally:
        engine.dispose()


@pytest.mark.process
def test_a_database_from_a_newer_version_is_refused_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'autoglm.db'}"
    Store(url).close()
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match="revision '0099_from_the_future', which this version"):
        Store(url)
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "autoglm.db").rename(home / "autoglm.db")
    done = subprocess.run([str(Path(sys.executable).with_name("autoglm")), "sessions", "list"], capture_output=True,
                          text=True, env={**os.environ, "AUTOGLM_HOME": str(home)}, timeout=120)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "0099_from_the_future" in done.stderr, done.stderr
