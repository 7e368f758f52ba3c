"""`kb sync` on a schedule across gateway replicas: two replicas, each with its own store client on one PostgreSQL
database, tick through the same slots; every slot is synced by exactly one of them and recorded in the store's slot
claims (the ones report schedules use). The clock is driven, not waited for; then the same with two real gateway
processes and the real clock."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from openautoglm.memory.kb import IngestReport
from openautoglm.memory.kb.sources import SyncSchedule
from openautoglm.store import Store
from service_urls import fresh_pg_database


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_pg_database("autoglm_kbsync") as url:
        yield url


async def test_two_replicas_on_one_postgresql_sync_each_slot_once(database_url: str) -> None:
    Store(database_url).engine.dispose()  # migrate once, as the first gateway would
    stores = [Store(database_url), Store(database_url)]
    now = [1_800_000_000.0]
    synced: list[tuple[str, float]] = []

    def replica(name: str, store: Store) -> SyncSchedule:
        async def sync() -> dict[str, IngestReport]:
            synced.append((name, now[0]))
            await asyncio.sleep(0.01)  # let the other replica's claim land while this one runs
            return {"faq": IngestReport()}

        return SyncSchedule(sync, 60.0, claims=store, holder=name, clock=lambda: now[0])

    a, b = replica("a", stores[0]), replica("b", stores[1])
    try:
        for minute in range(5):
            now[0] = 1_800_000_000.0 + 60 * minute + 7
            ran = await asyncio.gather(a.tick(), b.tick())
            assert sorted(ran) == [False, True]  # one replica ran the slot, the other saw it claimed
            now[0] += 20  # a later look inside the same slot runs nothing
            assert await asyncio.gather(a.tick(), b.tick()) == [False, False]
        assert len(synced) == 5
        assert a.runs + b.runs == 5 and a.skipped + b.skipped == 15
        runs = [r for r in stores[0].report_runs(schedule_id=SyncSchedule.SCHEDULE_ID)]
        assert sorted(r.slot for r in runs) == [1_800_000_000.0 + 60 * m for m in range(5)]
        assert {r.status for r in runs} == {"succeeded"}
        assert all(r.result == {"faq": IngestReport().summary()} for r in runs)
    finally:
        for store in stores:
            store.engine.dispose()


async def test_a_failing_sync_is_recorded_on_its_slot_and_the_next_slot_runs(database_url: str) -> None:
    store = Store(database_url)
    now = [1_800_000_030.0]

    async def sync() -> dict[str, IngestReport]:
        if now[0] < 1_800_000_060.0:
            raise RuntimeError("source down")
        return {}

    schedule = SyncSchedule(sync, 60.0, claims=store, holder="only", clock=lambda: now[0])
    try:
        assert await schedule.tick()
        now[0] += 60
        assert await schedule.tick()
        runs = {r.slot: r for r in store.report_runs(schedule_id=SyncSchedule.SCHEDULE_ID)}
        assert runs[1_800_000_000.0].status == "failed" and "source down" in (runs[1_800_000_000.0].error or "")
        assert runs[1_800_000_060.0].status == "succeeded"
    finally:
        store.engine.dispose()


@pytest.mark.process
def test_two_gateway_processes_sync_each_slot_once(tmp_path: Path) -> None:
    """Two real `autoglm serve` processes on one PostgreSQL database and one knowledge base, syncing a SQLite
    table every second: every sync either of them logs is one slot's, and every slot was synced once."""
    from test_schedules_gateway import postgres_database, serve

    faq = tmp_path / "faq.db"
    with sqlite3.connect(faq) as conn:
        conn.execute("CREATE TABLE faq (id INTEGER PRIMARY KEY, question TEXT, answer TEXT)")
        conn.execute("INSERT INTO faq VALUES (1, 'How long do refunds take?', 'Three working days.')")
    conn.close()
    with ExitStack() as stack, postgres_database() as db_url:
        (tmp_path / "autoglm.yaml").write_text(json.dumps({
            "database_url": db_url, "auth": "disabled", "tools": ["llm"], "embeddings": {"provider": "hashing"},
            "knowledge": {"sync_interval_s": 1.0, "sources": [
                {"kind": "sql", "name": "faq", "url": f"sqlite:///{faq}", "query": "SELECT id, question, answer "
                 "FROM faq", "key": "id", "title": "question"}]},
        }), encoding="utf-8")
        Store(db_url).close()  # the schema made once, before two processes open the database at once
        gateways = [stack.enter_context(serve(tmp_path, stack)) for _ in range(2)]
        time.sleep(6)
        assert all(p.poll() is None for p in gateways)
        stack.close()  # both stopped: no run is half logged when they are counted

        logged = [json.loads(line) for log in tmp_path.glob("serve-*.log")
                  for line in log.read_text().splitlines() if '"kb.sync"' in line]
        store = Store(db_url)
        try:
            runs = store.report_runs(100, schedule_id=SyncSchedule.SCHEDULE_ID)
        finally:
            store.close()
        assert len(runs) >= 3, runs  # a slot a second for six seconds, less start-up
        assert len(logged) == len(runs), (len(logged), [(r.slot, r.holder) for r in runs])
        assert all(entry["source"] == "faq" for entry in logged)
        assert all(r.status == "succeeded" for r in runs if r.finished_at is not None)
