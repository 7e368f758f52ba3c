"""The store and the knowledge base share one SQLite file and, so, one SQLite library.

Two copies of SQLite in one process on one file drop each other's POSIX locks (see ``sqlite_driver``); a CI run saw
a fresh data directory, opened by the store and the knowledge base at once, end with a malformed schema.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from openautoglm import sqlite_driver
from openautoglm.embeddings import HashingEmbedder
from openautoglm.memory.kb import KnowledgeBase, catalog
from openautoglm.store.sql import Store, sqlite_url


def _version_seen_by_store(store: Store) -> str:
    with store.engine.connect() as conn:
        return str(conn.exec_driver_sql("select sqlite_version()").scalar())


def test_the_store_and_the_knowledge_base_open_their_file_with_the_same_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "autoglm.db"
    store = Store(sqlite_url(path))
    kb_conn = catalog.connect(path)
    try:
        kb_version = kb_conn.execute("select sqlite_version()").fetchone()[0]
        assert _version_seen_by_store(store) == kb_version
        assert store.engine.dialect.dbapi is sqlite_driver.dbapi()
    finally:
        kb_conn.close()
        store.close()


def _open_both_at_once(path: Path) -> list[BaseException]:
    """Open a Store and a KnowledgeBase on ``path`` from two threads released together; their errors."""
    errors: list[BaseException] = []
    opened: list[Store | KnowledgeBase] = []
    start = threading.Barrier(2)

    def open_one(make: Callable[[], Store | KnowledgeBase]) -> None:
        try:
            start.wait()
            opened.append(make())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=(lambda: Store(sqlite_url(path)),)),
               threading.Thread(target=open_one, args=(lambda: KnowledgeBase(path, HashingEmbedder(dim=64)),))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for thing in opened:
        thing.close()
    return errors


def test_a_fresh_home_opened_by_store_and_knowledge_base_at_once_keeps_a_sound_schema(tmp_path: Path) -> None:
    for attempt in range(12):
        path = tmp_path / f"home{attempt}" / "autoglm.db"
        path.parent.mkdir()
        errors = _open_both_at_once(path)
        assert not errors, f"attempt {attempt}: {errors[0]!r}"

        check = sqlite_driver.connect(path)
        try:
            assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            tables = {row[0] for row in check.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            check.close()
        assert {"tasks", "events", "kb_documents", "kb_chunks", "alembic_version"} <= tables
