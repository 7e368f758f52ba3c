"""The event log and task records on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from openautoglm.errors import NotFound
from openautoglm.events import Event, EventEmitter, EventKind
from openautoglm.store import Store
from service_urls import pg_url

PG_ADMIN = pg_url("postgres")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'events.db'}")
        yield s
        s.close()
        return
    name = f"autoglm_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    s = Store(pg_url(name))
    try:
        yield s
    finally:
        s.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_events_round_trip_in_order_with_unicode_and_nested_data(store: Store) -> None:
    store.create_task("t1", "查询北京明天的天气", owner="alice")
    # Appended as the store receives them: it keeps whatever data an event has (old databases' too).
    for i in range(250):
        store.append(Event("t1", i + 1, "step.finished", time.time(), f"s{i}",
                           {"output": {"城市": "北京", "i": i, "xs": [1.5, None, True]}}))
    events = store.events("t1")
    assert [e.seq for e in events] == list(range(1, 251))
    assert events[7].data == {"output": {"城市": "北京", "i": 7, "xs": [1.5, None, True]}}
    assert store.events("t1", after_seq=248)[0].seq == 249


def test_concurrent_writers_lose_nothing(store: Store) -> None:
    def write(task: str) -> None:
        emitter = EventEmitter(task, [store.append])
        for _ in range(200):
            emitter.emit(EventKind.TASK_STARTED)

    threads = [threading.Thread(target=write, args=(f"task{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(store.events(f"task{i}")) == 200 for i in range(4))


def test_tasks_are_scoped_to_their_owner(store: Store) -> None:
    store.create_task("t1", "mine", owner="alice")
    store.update_task("t1", status="succeeded", answer="done", plan={"steps": []})
    assert store.get_task("t1", owner="alice").answer == "done"
    with pytest.raises(NotFound):
        store.get_task("t1", owner="bob")
    assert [t.id for t in store.list_tasks(owner="alice")] == ["t1"]
    assert store.list_tasks(owner="bob") == []


def test_duplicate_sequence_numbers_are_reported_not_silently_dropped(tmp_path: Path) -> None:
    s = Store(f"sqlite:///{tmp_path / 'dup.db'}")
    s.append(Event("t", 1, "a", time.time()))
    s.append(Event("t", 1, "b", time.time()))  # a second emitter restarting at seq 1: a bug to surface
    from openautoglm.errors import StoreError

    with pytest.raises(StoreError, match="could not write events"):
        s.flush()
    assert [e.kind for e in s.events("t")] == ["a"]  # the good event of the batch is kept
    s.close()


def test_keys_tokens_and_feedback_are_kept_through_typed_methods(store: Store) -> None:
    from openautoglm.store import KeyRecord

    record = KeyRecord("abc123def456", "user", "ann", "laptop", 100.0)
    assert store.add_api_key(record, "hash-1") is True
    assert store.add_api_key(KeyRecord("abc123def456", "admin", "eve", None, 101.0), "hash-2") is False
    assert store.api_key("abc123def456") == (record, "hash-1")
    assert store.api_key("nope") is None
    assert store.revoke_api_key("abc123def456") is True and store.revoke_api_key("nope") is False
    [listed] = store.api_keys()
    assert listed.id == record.id and listed.revoked_at is not None

    assert store.token_revoked("jti-1") is False
    store.revoke_token("jti-1", expires_at=200.0)
    store.revoke_token("jti-1")  # a second revocation is not an error
    assert store.token_revoked("jti-1") is True

    store.add_feedback("t1", 1, owner="ann", comment="good", nodes=["a", "b"])
    store.add_feedback("t1", -1, owner="bo")
    assert [(f.rating, f.owner, f.comment, f.nodes) for f in store.feedback("t1")] == [
        (1, "ann", "good", ["a", "b"]), (-1, "bo", None, [])]
    assert store.feedback("t2") == []
    assert store.ping() == store.backend == store.url.split(":")[0].split("+")[0]
