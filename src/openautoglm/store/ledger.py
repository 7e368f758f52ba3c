"""Idempotency keys of workflow steps, in the store, so every process on one database sees the same ledger.

A key is claimed ("started") by an INSERT before its tool runs: the primary key makes two claims of one key race
safely (one wins, the other sees the winner's row). After the tool, the row becomes "done" with the output; a
failure, or a compensation that undid the step, deletes it so the same event may do the work again. A "started"
row left by a process that died mid-call stays: its outcome is unknown, and the engine refuses to repeat it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import StoreError
from . import schema
from .mixin import StoreMixin


@dataclass(frozen=True)
class KeyRecord:
    key: str
    tool: str
    task_id: str
    step_id: str
    status: str  # started | done
    output: Any
    created_at: float
    finished_at: float | None


class IdempotencyLedgerMixin(StoreMixin):
    """The :class:`~openautoglm.engine.IdempotencyLedger` methods of :class:`~openautoglm.store.sql.Store`."""

    def claim_key(self, key: str, tool: str, task_id: str, step_id: str) -> KeyRecord | None:
        t = schema.idempotency_keys
        for _ in range(3):
            try:
                with self._write() as conn:
                    conn.execute(insert(t).values(key=key, tool=tool, task_id=task_id, step_id=step_id,
                                                  status="started", output=None, created_at=time.time()))
                return None
            except StoreError as exc:
                if not isinstance(exc.__cause__, IntegrityError):
                    raise
            with self.engine.connect() as conn:
                row = conn.execute(select(t).where(t.c.key == key)).first()
            if row is not None:
                return _record(self, row)
            # released between the two statements: claim again
        raise StoreError(f"idempotency key {key!r} keeps changing hands; try again")

    def complete_key(self, key: str, output: Any) -> None:
        t = schema.idempotency_keys
        with self._write() as conn:
            conn.execute(update(t).where(t.c.key == key).values(status="done", output=self.seal_json(output),
                                                                finished_at=time.time()))

    def release_key(self, key: str) -> None:
        with self._write() as conn:
            conn.execute(delete(schema.idempotency_keys).where(schema.idempotency_keys.c.key == key))

    def recorded_key(self, key: str) -> KeyRecord | None:
        t = schema.idempotency_keys
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.key == key)).first()
        return _record(self, row) if row is not None else None

    def forget_key(self, key: str) -> bool:
        """Drop a key by hand (an operator checked the target system): the next run with it does the work."""
        with self._write() as conn:
            gone = conn.execute(delete(schema.idempotency_keys).where(schema.idempotency_keys.c.key == key))
        return bool(gone.rowcount)

    def recorded_keys(self, limit: int = 100) -> Iterator[KeyRecord]:
        t = schema.idempotency_keys
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.created_at.desc()).limit(limit)).all()
        return iter([_record(self, r) for r in rows])


def _record(store: IdempotencyLedgerMixin, row: Any) -> KeyRecord:
    return KeyRecord(row.key, row.tool, row.task_id, row.step_id, row.status, store.open_json(row.output),
                     row.created_at, row.finished_at)
