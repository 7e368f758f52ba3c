"""`kb sync` on a schedule across gateway replicas: two replicas, each with its own store client on one PostgreSQL
database, tick through the same slots; every slot is synced by exactly one of them and recorded in the store's slot
claims (the ones report schedules use). The clock is driven, not waited for."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from openautoglm.memory.kb import IngestReport
from openautoglm.memory.kb.sources import SyncSchedule
from openautoglm.store import Store
from service_urls import pg_url


@pytest.fixture
def database_url() -> Iterator[str]:
    name = f"autoglm_kbsync_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield pg_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


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
