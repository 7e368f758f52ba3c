"""Persistence through SQLAlchemy: SQLite (WAL) by default, PostgreSQL when ``database_url`` says so.

Events are appended from the hot path of the executor, so :meth:`Store.append` only enqueues; one writer thread
inserts them in batches. :meth:`Store.flush` waits until everything appended so far is on disk; reads flush first,
so a reader always sees its own writes.
"""

from __future__ import annotations

import json
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Engine, Table, and_, create_engine, delete, event, func, insert, or_, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from ..errors import NotFound, StoreError
from ..events import Event
from ..sqlite_driver import dbapi
from . import schema
from .approval_records import ApprovalRecordsMixin
from .ledger import IdempotencyLedgerMixin
from .policies import PolicyTables
from .report_schedules import ReportScheduleMixin
from .sealing import Sealer, UnknownKey, is_sealed, load_sealer
from .tickets import SupportTicketsMixin

log = structlog.get_logger(__name__)

_FLUSH = object()
BATCH = 1000
# Columns holding credentials: always sealed. Content columns (prompts, answers, and the plans and events that
# quote them) are sealed with encrypt_content; a JSON one holds {"sealed": "<sealed JSON text>"}.
SECRET_COLUMNS: tuple[tuple[Table, str], ...] = ((schema.registered_nodes, "api_key"),)
CONTENT_COLUMNS: tuple[tuple[Table, str], ...] = (
    (schema.tasks, "request"), (schema.tasks, "answer"), (schema.session_turns, "request"),
    (schema.session_turns, "answer"), (schema.sessions, "summary"), (schema.support_tickets, "message"),
    (schema.support_tickets, "draft"), (schema.support_tickets, "reply"), (schema.support_decisions, "text"))
JSON_CONTENT_COLUMNS: tuple[tuple[Table, str], ...] = (
    (schema.tasks, "plan"), (schema.tasks, "spec"), (schema.session_turns, "plan"), (schema.events, "data"))
SEALED_JSON = "sealed"
# How many of an owner's latest tasks find_answered looks through when requests are sealed (no equality search).
SEALED_SEARCH_WINDOW = 500

# A task in one of these states is over: nothing resumes it. A cancelled one may be resumed on request.
FINISHED = frozenset({"succeeded", "partial", "unsupported", "failed", "needs_input"})
TERMINAL = FINISHED | {"cancelled"}
# Waiting for a worker: accepted and not started, or stopped at a step boundary by a draining process.
WAITING = ("queued", "interrupted")


@dataclass
class TaskRecord:
    id: str
    request: str | None
    status: str
    owner: str | None
    session_id: str | None
    plan: dict[str, Any] | None
    answer: str | None
    error: str | None
    created_at: float
    updated_at: float
    role: str | None = None
    confidence: float | None = None
    spec: dict[str, Any] | None = None
    lease_owner: str | None = None
    lease_expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """An API key's row, without its hash."""

    id: str
    role: str
    owner: str
    name: str | None
    created_at: float
    revoked_at: float | None = None

    def public(self) -> dict[str, object]:
        return {"id": self.id, "role": self.role, "owner": self.owner, "name": self.name,
                "created_at": self.created_at, "revoked": self.revoked_at is not None}


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """A node that registered with the gateway, and the token the two share (opened: the store seals it)."""

    name: str
    base_url: str
    model: str | None
    capabilities: list[str]
    weight: float
    api_key: str | None
    registered_at: float
    ttl_s: float | None = None
    expires_at: float | None = None  # wall clock: the registration lapses then unless a heartbeat comes
    timeout_s: float | None = None
    cost: float = 0.0
    context_window: int | None = None


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    task_id: str
    owner: str | None
    rating: int
    comment: str | None
    nodes: list[str]
    created_at: float
    policy_version: int | None = None  # the routing policy that chose the answer's node
    id: int | None = None


def _feedback(row: Any) -> FeedbackRecord:
    return FeedbackRecord(row.task_id, row.owner, row.rating, row.comment, row.node.split(",") if row.node else [],
                          row.created_at, row.policy_version, row.id)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # the process's one SQLite library (sqlite_driver): the knowledge base opens this same file
        engine = create_engine(url, module=dbapi(), connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


SealerSource = Sealer | Callable[[], Sealer]


class Store(IdempotencyLedgerMixin, ApprovalRecordsMixin, PolicyTables, SupportTicketsMixin, ReportScheduleMixin):
    def __init__(self, url: str, create: bool = True, engine: Engine | None = None, *,
                 sealer: SealerSource | None = None, encrypt_content: bool = False) -> None:
        """``sealer`` seals secrets (a callable is asked on first use, so no key file appears until a secret is
        stored); without one, ``AUTOGLM_SECRET_KEY``, else a ``secret.key`` beside the SQLite file (or in the data
        directory). ``encrypt_content`` seals prompts and answers too."""
        self.url = url
        self._sealer_source = sealer
        self._sealer: Sealer | None = sealer if isinstance(sealer, Sealer) else None
        self.encrypt_content = encrypt_content
        try:
            self.engine = engine or make_engine(url)
            if create:  # migrations, not create_all: an existing database is upgraded in place
                from .migrations import upgrade

                upgrade(self.engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the database {_safe(url)}: {exc.__class__.__name__}: {exc}") from exc
        self._claim_lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer_error: Exception | None = None
        self._writer = threading.Thread(target=self._write_loop, name="autoglm-event-writer", daemon=True)
        self._writer.start()
        self._closed = False
        self._temporary_dir: str | None = None

    @classmethod
    def temporary(cls) -> Store:
        """A private throwaway database, removed on :meth:`close`: for tests and one-off runs. A file, not
        ``:memory:``: the event writer thread and its callers need connections of their own, which one in-memory
        connection shared between threads cannot give (their transactions would interleave)."""
        folder = tempfile.mkdtemp(prefix="autoglm-")
        store = cls(sqlite_url(Path(folder) / "autoglm.db"))
        store._temporary_dir = folder
        return store

    # -- sealing ----------------------------------------------------------------------------------------------

    @property
    def sealer(self) -> Sealer:
        """The keys; read again when their file was rewritten (``autoglm secrets rotate`` in another process),
        so a running gateway seals with the new key at once."""
        if self._sealer is None or (callable(self._sealer_source) and self._sealer.stale()):
            source = self._sealer_source
            self._sealer = source() if callable(source) else load_sealer(None, self._key_dir())
        return self._sealer

    def use_sealer(self, sealer: Sealer) -> None:
        """Seal with ``sealer`` from now on (``autoglm secrets rotate`` passes the ring with the new key first)."""
        self._sealer = sealer

    def _key_dir(self) -> Path:
        """Where the default key file lives for a store made without keys: beside a SQLite file, else the
        settings' data directory (AUTOGLM_HOME)."""
        path = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        if path and path != ":memory:" and not path.startswith("file:"):
            return Path(path).parent
        from ..config import load_settings

        return load_settings().data_dir

    def seal_content(self, value: str | None) -> str | None:
        return self.sealer.seal_optional(value) if self.encrypt_content else value

    def open_value(self, value: str | None) -> str | None:
        """A stored value as text: opened when sealed (whatever the option says now), else as it is."""
        if value is None or not is_sealed(value):
            return value
        try:
            return self.sealer.open(value)
        except UnknownKey:
            if not callable(self._sealer_source):
                raise
            self._sealer = self._sealer_source()  # the keys were rotated by another process: read them again
            return self._sealer.open(value)

    def seal_json(self, value: Any) -> Any:
        """A JSON value as stored: wrapped and sealed with ``encrypt_content``, else as it is."""
        if not self.encrypt_content or value is None:
            return value
        return {SEALED_JSON: self.sealer.seal(json.dumps(value, ensure_ascii=False))}

    def open_json(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1 and isinstance(value.get(SEALED_JSON), str) \
                and is_sealed(value[SEALED_JSON]):
            return json.loads(self.open_value(value[SEALED_JSON]) or "null")
        return value

    def reseal(self) -> int:
        """Re-encrypt every sealed value under the current key (and seal plaintext secrets, and plaintext content
        when ``encrypt_content`` is on); the number of values rewritten. Old keys must stay readable until this
        returns."""
        changed = 0
        for table, column in SECRET_COLUMNS:
            changed += self._reseal_column(table, column, lambda v: self._resealed_text(v, always=True))
        for table, column in CONTENT_COLUMNS:
            changed += self._reseal_column(table, column,
                                           lambda v: self._resealed_text(v, always=self.encrypt_content))
        for table, column in JSON_CONTENT_COLUMNS:
            changed += self._reseal_column(table, column, self._resealed_json)
        self.compact()
        return changed

    def compact(self) -> None:
        """SQLite keeps old row versions in free pages and its write-ahead log: rewrite the file, so values
        sealed under a retired key (or written before sealing) are gone from it too."""
        if self.backend != "sqlite":
            return
        self.flush()
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.exec_driver_sql("VACUUM")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def _resealed_text(self, value: str, always: bool) -> str | None:
        """The value sealed under the current key, or None when it needs no rewriting."""
        if not self.sealer.needs_resealing(value) or not (always or is_sealed(value)):
            return None
        return self.sealer.seal(self.sealer.open(value))

    def _resealed_json(self, value: Any) -> Any:
        inner = value.get(SEALED_JSON) if isinstance(value, dict) and len(value) == 1 else None
        if isinstance(inner, str) and is_sealed(inner):
            return None if not self.sealer.needs_resealing(inner) else {SEALED_JSON: self._resealed_text(inner, True)}
        return self.seal_json(value) if self.encrypt_content else None

    def _reseal_column(self, table: Table, column: str, reseal: Callable[[Any], Any]) -> int:
        key, changed = list(table.primary_key.columns), 0
        with self._write() as conn:
            rows = conn.execute(select(*key, table.c[column]).where(table.c[column].is_not(None))).all()
            for row in rows:
                new = reseal(row[-1])
                if new is not None:
                    conn.execute(update(table).where(*[k == row[i] for i, k in enumerate(key)])
                                 .values({column: new}))
                    changed += 1
        return changed

    # -- events -----------------------------------------------------------------------------------------------

    def append(self, ev: Event) -> None:
        self._queue.put(ev)

    def flush(self, timeout: float = 30.0) -> None:
        done = threading.Event()
        self._queue.put((_FLUSH, done))
        if not done.wait(timeout):
            raise StoreError(f"the event log did not flush within {timeout:g}s")
        if self._writer_error is not None:
            error, self._writer_error = self._writer_error, None
            raise StoreError(f"could not write events: {error}") from error

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch: list[Event] = []
            waiters: list[threading.Event] = []
            stop = False
            while True:
                if isinstance(item, Event):
                    batch.append(item)
                elif isinstance(item, tuple):
                    waiters.append(item[1])
                elif item is None:
                    stop = True
                    break
                if len(batch) >= BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._insert(batch)
            for waiter in waiters:
                waiter.set()
            if stop:
                return

    def _insert(self, batch: list[Event]) -> None:
        rows = [{"task_id": e.task_id, "seq": e.seq, "kind": e.kind, "ts": e.ts, "step_id": e.step_id,
                 "data": self.seal_json(e.data)} for e in batch]
        for attempt in range(5):
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(schema.events), rows)
                return
            except OperationalError as exc:  # locked or busy database: wait and try again
                if attempt == 4:
                    self._fail_write(exc, len(rows))
                    return
                time.sleep(0.05 * 2**attempt)
            except SQLAlchemyError:
                break
        # One bad row (a duplicate sequence number, say) must not take the rest of its batch with it.
        for row in rows:
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(schema.events), [row])
            except SQLAlchemyError as exc:
                self._fail_write(exc, 1)

    def _fail_write(self, exc: Exception, count: int) -> None:
        self._writer_error = exc
        log.error("event_write_failed", error=str(exc), events=count)

    def events(self, task_id: str, after_seq: int = 0) -> list[Event]:
        self.flush()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(schema.events)
                .where(schema.events.c.task_id == task_id, schema.events.c.seq > after_seq)
                .order_by(schema.events.c.seq)
            ).all()
        return [Event(r.task_id, r.seq, r.kind, r.ts, r.step_id, self.open_json(r.data) or {}) for r in rows]

    def last_seq(self, task_id: str) -> int:
        self.flush()
        with self.engine.connect() as conn:  # one number, not every event read and unsealed
            seq = conn.execute(select(func.max(schema.events.c.seq)).where(schema.events.c.task_id == task_id))
            return int(seq.scalar() or 0)

    # -- tasks ------------------------------------------------------------------------------------------------

    def create_task(self, task_id: str, request: str | None, owner: str | None = None,
                    session_id: str | None = None, status: str = "running", role: str | None = None) -> None:
        now = time.time()
        with self._write() as conn:
            conn.execute(insert(schema.tasks).values(
                id=task_id, request=self.seal_content(request), status=status, owner=owner, session_id=session_id,
                role=role, created_at=now, updated_at=now))

    def open_task(self, task_id: str, request: str | None, owner: str | None = None,
                  session_id: str | None = None, role: str | None = None) -> int:
        """Mark the task running, creating its row if it has none (a task run directly rather than claimed from
        the queue); the sequence number of its last event, which the next one follows."""
        now = time.time()
        with self._write() as conn:
            found = conn.execute(update(schema.tasks).where(schema.tasks.c.id == task_id)
                                 .values(status="running", updated_at=now))
            if not found.rowcount:
                conn.execute(insert(schema.tasks).values(
                    id=task_id, request=self.seal_content(request), status="running", owner=owner,
                    session_id=session_id, role=role, created_at=now, updated_at=now))
                return 0
        return self.last_seq(task_id)

    # -- the queue and leases ----------------------------------------------------------------------------------

    def enqueue_task(self, task_id: str, request: str | None, spec: dict[str, Any], *, owner: str | None = None,
                     session_id: str | None = None, role: str | None = None, holder: str | None = None,
                     lease_s: float = 0.0) -> None:
        """Accept a task durably as ``queued`` with what it needs to run. With ``holder``, the task is reserved
        for that process (its lease taken at once) rather than left to whichever worker claims it first."""
        now = time.time()
        with self._write() as conn:
            conn.execute(insert(schema.tasks).values(
                id=task_id, request=self.seal_content(request), status="queued", owner=owner, session_id=session_id,
                role=role, spec=self.seal_json(spec), lease_owner=holder,
                lease_expires_at=now + lease_s if holder else None, created_at=now, updated_at=now))

    def claim_tasks(self, holder: str, limit: int, lease_s: float) -> list[TaskRecord]:
        """Take the lease of up to ``limit`` tasks waiting for a worker, oldest first: queued or interrupted ones
        nobody holds, and running ones whose holder stopped renewing its lease (it died). PostgreSQL skips rows
        another claimer has locked; every backend re-checks each row as it takes it, so no task is claimed twice."""
        now = time.time()
        t = schema.tasks
        claimable = or_(
            and_(t.c.status.in_(WAITING), or_(t.c.lease_expires_at.is_(None), t.c.lease_expires_at < now)),
            and_(t.c.status == "running", t.c.lease_expires_at < now),
        )
        query = select(t.c.id).where(claimable).order_by(t.c.created_at).limit(limit)
        if self.backend == "postgresql":
            query = query.with_for_update(skip_locked=True)
        # SQLite has no row locks to skip: claimers in this process take turns (one writer at a time anyway), so
        # none of them comes back short while tasks wait; across processes the re-check below keeps claims apart.
        with self._claim_lock, self._write() as conn:
            candidates = list(conn.execute(query).scalars())
            taken = [tid for tid in candidates
                     if conn.execute(update(t).where(t.c.id == tid, claimable)
                                     .values(lease_owner=holder, lease_expires_at=now + lease_s)).rowcount]
            rows = conn.execute(select(t).where(t.c.id.in_(taken)).order_by(t.c.created_at)).all() if taken else []
        return [self._task(row) for row in rows]

    def take_lease(self, task_id: str, holder: str, lease_s: float) -> bool:
        """Take one task's lease for ``holder`` (an explicit resume): False when another holder's lease is live or
        the task is finished."""
        now = time.time()
        t = schema.tasks
        with self._write() as conn:
            done = conn.execute(update(t).where(
                t.c.id == task_id, t.c.status.not_in(FINISHED),
                or_(t.c.lease_owner.is_(None), t.c.lease_owner == holder, t.c.lease_expires_at < now),
            ).values(lease_owner=holder, lease_expires_at=now + lease_s))
        return bool(done.rowcount)

    def renew_leases(self, holder: str, task_ids: list[str], lease_s: float) -> set[str]:
        """Extend ``holder``'s leases on ``task_ids``; the ids it still holds. A task missing from the answer was
        taken over by another process or cancelled: its holder must stop running it."""
        if not task_ids:
            return set()
        t = schema.tasks
        mine = and_(t.c.id.in_(task_ids), t.c.lease_owner == holder, t.c.status != "cancelled")
        with self._write() as conn:
            conn.execute(update(t).where(mine).values(lease_expires_at=time.time() + lease_s))
            return set(conn.execute(select(t.c.id).where(mine)).scalars())

    def release_lease(self, task_id: str, holder: str, unfinished: str = "interrupted",
                      error: str | None = None) -> None:
        """Give up ``holder``'s lease; a task it left neither finished nor cancelled gets status ``unfinished``
        (``interrupted``: the next worker resumes it; ``failed``: it cannot go on)."""
        t = schema.tasks
        held = and_(t.c.id == task_id, t.c.lease_owner == holder)
        with self._write() as conn:
            fields: dict[str, Any] = {"status": unfinished, "updated_at": time.time()}
            if error is not None:
                fields["error"] = error
            conn.execute(update(t).where(held, t.c.status.in_((*WAITING, "running"))).values(**fields))
            conn.execute(update(t).where(held).values(lease_owner=None, lease_expires_at=None))

    def lease_holders(self) -> set[str]:
        """Every process holding a lease now."""
        t = schema.tasks
        with self.engine.connect() as conn:
            return set(conn.execute(select(t.c.lease_owner).where(t.c.lease_owner.is_not(None)).distinct())
                       .scalars())

    def expire_leases(self, holder: str) -> int:
        """End ``holder``'s leases now (it is known to be dead), so its tasks are claimed without waiting them out."""
        t = schema.tasks
        with self._write() as conn:
            done = conn.execute(update(t).where(t.c.lease_owner == holder, t.c.lease_expires_at.is_not(None))
                                .values(lease_expires_at=0.0))
        return int(done.rowcount)

    def cancel_task(self, task_id: str) -> bool:
        """Mark a task cancelled unless it is over; its holder sees that at its next heartbeat and stops it."""
        t = schema.tasks
        with self._write() as conn:
            done = conn.execute(update(t).where(t.c.id == task_id, t.c.status.not_in(TERMINAL))
                                .values(status="cancelled", updated_at=time.time()))
        return bool(done.rowcount)

    def requeue_task(self, task_id: str) -> bool:
        """Put a cancelled or interrupted task (or one whose holder died) back in the queue: a worker resumes it
        from its log. False when it is finished, or running under a live lease."""
        now = time.time()
        t = schema.tasks
        stopped = or_(t.c.status.in_(("cancelled", *WAITING)),
                      and_(t.c.status == "running", t.c.lease_expires_at < now))
        with self._write() as conn:
            done = conn.execute(update(t).where(
                t.c.id == task_id, stopped, or_(t.c.lease_expires_at.is_(None), t.c.lease_expires_at < now),
            ).values(status="queued", lease_owner=None, lease_expires_at=None, updated_at=now))
        return bool(done.rowcount)

    def update_task(self, task_id: str, **fields: Any) -> None:
        fields["updated_at"] = time.time()
        for name in ("request", "answer"):
            if name in fields:
                fields[name] = self.seal_content(fields[name])
        if "plan" in fields:
            fields["plan"] = self.seal_json(fields["plan"])
        with self._write() as conn:
            conn.execute(update(schema.tasks).where(schema.tasks.c.id == task_id).values(**fields))

    def get_task(self, task_id: str, owner: str | None = None) -> TaskRecord:
        query = select(schema.tasks).where(schema.tasks.c.id == task_id)
        if owner is not None:
            query = query.where(schema.tasks.c.owner == owner)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no task '{task_id}'; `autoglm trace` needs an id printed by `autoglm run`")
        return self._task(row)

    def list_tasks(self, owner: str | None = None, limit: int = 50) -> list[TaskRecord]:
        query = select(schema.tasks).order_by(schema.tasks.c.created_at.desc()).limit(limit)
        if owner is not None:
            query = query.where(schema.tasks.c.owner == owner)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [self._task(row) for row in rows]

    def _task(self, row: Any) -> TaskRecord:
        record = TaskRecord(**row._mapping)
        record.request, record.answer = self.open_value(record.request), self.open_value(record.answer)
        record.plan, record.spec = self.open_json(record.plan), self.open_json(record.spec)
        return record

    def find_answered(self, owner: str | None, request: str, answer: str) -> TaskRecord | None:
        """The latest finished task of ``owner`` that was asked ``request`` and answered ``answer``: how a client
        that resends the conversation finds the data behind an earlier reply."""
        t = schema.tasks
        if self.encrypt_content:  # sealed values differ each time: compare the owner's latest ones opened
            mine = (select(t).where(t.c.owner.is_(None) if owner is None else t.c.owner == owner)
                    .order_by(t.c.created_at.desc()).limit(SEALED_SEARCH_WINDOW))
            with self.engine.connect() as conn:
                rows = conn.execute(mine).all()
            return next((r for r in map(self._task, rows) if r.request == request and r.answer == answer), None)
        query = (select(t).where(t.c.request == request, t.c.answer == answer,
                                 t.c.owner.is_(None) if owner is None else t.c.owner == owner)
                 .order_by(t.c.created_at.desc()).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return self._task(row) if row is not None else None

    # -- the gateway: API keys, revoked JWTs, feedback -------------------------------------------------------

    def add_api_key(self, record: KeyRecord, key_hash: str) -> bool:
        """Store a new key; False when its id is taken already (the caller draws another)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(schema.api_keys).values(
                    id=record.id, key_hash=key_hash, role=record.role, owner=record.owner, name=record.name,
                    created_at=record.created_at, revoked_at=record.revoked_at))
        except IntegrityError:
            return False
        return True

    def api_key(self, key_id: str) -> tuple[KeyRecord, str] | None:
        """A key's record and the hash it is checked against; None for an unknown id."""
        with self.engine.connect() as conn:
            row = conn.execute(select(schema.api_keys).where(schema.api_keys.c.id == key_id)).first()
        if row is None:
            return None
        return _key_record(row), row.key_hash

    def api_keys(self) -> list[KeyRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(schema.api_keys).order_by(schema.api_keys.c.created_at)).all()
        return [_key_record(r) for r in rows]

    def revoke_api_key(self, key_id: str) -> bool:
        """Mark a key revoked; False when there is no such key."""
        with self._write() as conn:
            done = conn.execute(update(schema.api_keys).where(schema.api_keys.c.id == key_id)
                                .values(revoked_at=time.time()))
        return bool(done.rowcount)

    def revoke_token(self, jti: str, expires_at: float | None = None) -> None:
        with self._write() as conn:
            exists = conn.execute(select(schema.revoked_tokens.c.jti)
                                  .where(schema.revoked_tokens.c.jti == jti)).first()
            if exists is None:
                conn.execute(insert(schema.revoked_tokens).values(jti=jti, revoked_at=time.time(),
                                                                  expires_at=expires_at))

    def token_revoked(self, jti: str) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(select(schema.revoked_tokens.c.jti)
                               .where(schema.revoked_tokens.c.jti == jti)).first()
        return row is not None

    # -- registered nodes -------------------------------------------------------------------------------------

    def save_node(self, record: NodeRecord) -> None:
        """Record a node's registration (replacing an earlier one of that name); its token is sealed."""
        n = schema.registered_nodes
        values = {"base_url": record.base_url, "model": record.model, "capabilities": record.capabilities,
                  "weight": record.weight, "state": "registered", "registered_at": record.registered_at,
                  "last_heartbeat": record.registered_at, "api_key": self.sealer.seal_optional(record.api_key),
                  "expires_at": record.expires_at, "ttl_s": record.ttl_s, "timeout_s": record.timeout_s,
                  "cost": record.cost, "context_window": record.context_window}
        with self._write() as conn:
            if conn.execute(update(n).where(n.c.name == record.name).values(values)).rowcount == 0:
                conn.execute(insert(n).values(name=record.name, **values))

    def node(self, name: str) -> NodeRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(schema.registered_nodes).where(schema.registered_nodes.c.name == name)).first()
        return self._node(row) if row is not None else None

    def nodes(self) -> list[NodeRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(schema.registered_nodes).order_by(schema.registered_nodes.c.name)).all()
        return [self._node(r) for r in rows]

    def node_heartbeat(self, name: str, at: float, expires_at: float) -> bool:
        """A registered node is still there (through whichever replica): its registration lapses later. False
        when no such node is registered (it must register again)."""
        n = schema.registered_nodes
        with self._write() as conn:
            done = conn.execute(update(n).where(n.c.name == name).values(last_heartbeat=at, expires_at=expires_at))
        return bool(done.rowcount)

    def remove_node(self, name: str) -> bool:
        with self._write() as conn:
            gone = conn.execute(delete(schema.registered_nodes).where(schema.registered_nodes.c.name == name))
        return bool(gone.rowcount)

    def _node(self, row: Any) -> NodeRecord:
        return NodeRecord(row.name, row.base_url, row.model, list(row.capabilities or []), row.weight,
                          self.open_value(row.api_key), row.registered_at, ttl_s=row.ttl_s,
                          expires_at=row.expires_at, timeout_s=row.timeout_s, cost=row.cost or 0.0,
                          context_window=row.context_window)

    def add_feedback(self, task_id: str, rating: int, owner: str | None = None, comment: str | None = None,
                     nodes: list[str] | None = None, policy_version: int | None = None) -> FeedbackRecord:
        record = FeedbackRecord(task_id, owner, rating, comment, list(nodes or []), time.time(), policy_version)
        with self._write() as conn:
            conn.execute(insert(schema.feedback).values(
                task_id=task_id, owner=owner, rating=rating, comment=comment, policy_version=policy_version,
                node=",".join(record.nodes) or None, created_at=record.created_at))
        return record

    def feedback(self, task_id: str) -> list[FeedbackRecord]:
        """The ratings a task's answer got, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(schema.feedback).where(schema.feedback.c.task_id == task_id)
                                .order_by(schema.feedback.c.id)).all()
        return [_feedback(r) for r in rows]

    def feedback_since(self, after_id: int, limit: int = 1000) -> list[FeedbackRecord]:
        """Ratings stored after the one numbered ``after_id``, oldest first (the policy loop reads them)."""
        f = schema.feedback
        with self.engine.connect() as conn:
            rows = conn.execute(select(f).where(f.c.id > after_id).order_by(f.c.id).limit(limit)).all()
        return [_feedback(r) for r in rows]

    # -- health -----------------------------------------------------------------------------------------------

    @property
    def backend(self) -> str:
        """The database's kind: sqlite, postgresql..."""
        return self.engine.dialect.name

    def ping(self) -> str:
        """Round-trip one query (raises when the database does not answer); the backend's name."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return self.backend
    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"database write failed: {exc.__class__.__name__}: {exc}") from exc

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.flush()
        self._queue.put(None)
        self._writer.join(timeout=10)
        self.engine.dispose()
        if self._temporary_dir is not None:
            shutil.rmtree(self._temporary_dir, ignore_errors=True)


def _key_record(row: Any) -> KeyRecord:
    return KeyRecord(row.id, row.role, row.owner, row.name, row.created_at, row.revoked_at)


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL has no password we could hide
        return "<database url>"
