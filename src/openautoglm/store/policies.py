"""The store's routing policies (policies/): numbered versions, the one state row every gateway replica polls (the
active version, the one before it, a pin, a change counter), and the log of what happened to them, whose rows are
typed like events (events.py: ``policy.*`` kinds)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..errors import NotFound, StoreError
from ..events import check
from . import schema
from .mixin import StoreMixin

VERSION_RETRIES = 5


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    version: int
    body: dict[str, Any]
    author: str
    reason: str | None
    origin: str
    parent: int | None
    created_at: float


@dataclass(frozen=True, slots=True)
class PolicyState:
    active: int | None
    previous: int | None
    pinned: bool
    serial: int
    changed_at: float


@dataclass(frozen=True, slots=True)
class PolicyLogEntry:
    id: int
    kind: str
    version: int | None
    author: str
    reason: str | None
    data: dict[str, Any]
    at: float


NO_POLICY = PolicyState(None, None, False, 0, 0.0)


class PolicyTables(StoreMixin):
    """Mixed into :class:`~openautoglm.store.Store`, which provides the engine and ``_write``."""

    def add_policy(self, body: dict[str, Any], author: str, reason: str | None = None, origin: str = "operator",
                   parent: int | None = None) -> PolicyRecord:
        """Store a new version (the next number); it is not active until :meth:`switch_policy` says so."""
        p = schema.policies
        for _ in range(VERSION_RETRIES):
            try:
                with self._write() as conn:
                    version = (conn.execute(select(func.max(p.c.version))).scalar() or 0) + 1
                    record = PolicyRecord(version, body, author, reason, origin, parent, time.time())
                    conn.execute(insert(p).values(version=version, body=body, author=author, reason=reason,
                                                  origin=origin, parent=parent, created_at=record.created_at))
                    self._log(conn, "policy.created", version, author, reason, {"origin": origin, "parent": parent})
                return record
            except StoreError as exc:  # another writer took the number: draw again
                if not isinstance(exc.__cause__, IntegrityError):
                    raise
        raise StoreError("could not number a new policy version; too many writers at once")

    def policy(self, version: int) -> PolicyRecord:
        with self.engine.connect() as conn:
            row = conn.execute(select(schema.policies).where(schema.policies.c.version == version)).first()
        if row is None:
            raise NotFound(f"no policy version {version}")
        return _record(row)

    def policies(self) -> list[PolicyRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(schema.policies).order_by(schema.policies.c.version)).all()
        return [_record(r) for r in rows]

    def policy_state(self) -> PolicyState:
        with self.engine.connect() as conn:
            row = conn.execute(select(schema.policy_state).where(schema.policy_state.c.id == 1)).first()
        return NO_POLICY if row is None else _state(row)

    def switch_policy(self, kind: str, version: int | None, *, author: str, reason: str | None = None,
                      data: dict[str, Any] | None = None, pinned: bool | None = None,
                      unless_pinned: bool = False, expect_active: int | bool | None = False,
                      subject: int | bool | None = False) -> PolicyState | None:
        """Make ``version`` the active one (``pinned``: set or clear the pin; None keeps it) and log ``kind`` with
        ``data``, in one transaction. None (nothing changed) when ``unless_pinned`` and a pin is set, or when
        ``expect_active`` is given and another version is active now: the loop never overrides a pin or an
        operator's change made meanwhile. ``subject``: the version the log entry is about, when not ``version``
        (a rollback's entry names the version taken back)."""
        data = dict(data or {})
        check(kind, data)
        s = schema.policy_state
        with self._write() as conn:
            if version is not None and conn.execute(
                    select(schema.policies.c.version).where(schema.policies.c.version == version)).first() is None:
                raise NotFound(f"no policy version {version}")
            row = conn.execute(select(s).where(s.c.id == 1).with_for_update()).first()
            state = NO_POLICY if row is None else _state(row)
            if unless_pinned and state.pinned:
                return None
            if expect_active is not False and state.active != expect_active:
                return None
            previous = state.previous if version == state.active else state.active
            new = PolicyState(version, previous, state.pinned if pinned is None else pinned, state.serial + 1,
                              time.time())
            values = {"active": new.active, "previous": new.previous, "pinned": new.pinned, "serial": new.serial,
                      "changed_at": new.changed_at}
            if row is None:
                conn.execute(insert(s).values(id=1, **values))
            else:
                conn.execute(update(s).where(s.c.id == 1).values(values))
            self._log(conn, kind, version if subject is False else subject, author, reason, data)
        return new

    def log_policy(self, kind: str, version: int | None, author: str, reason: str | None = None,
                   data: dict[str, Any] | None = None) -> None:
        """Log a step that changes no state (a proposal, a canary started or stopped)."""
        data = dict(data or {})
        check(kind, data)
        with self._write() as conn:
            self._log(conn, kind, version, author, reason, data)

    def policy_log(self, limit: int = 200, kinds: tuple[str, ...] = ()) -> list[PolicyLogEntry]:
        """The latest entries, newest first."""
        log = schema.policy_log
        query = select(log).order_by(log.c.id.desc()).limit(limit)
        if kinds:
            query = query.where(log.c.kind.in_(kinds))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [PolicyLogEntry(r.id, r.kind, r.version, r.author, r.reason, dict(r.data or {}), r.at) for r in rows]

    @staticmethod
    def _log(conn: Connection, kind: str, version: int | None, author: str, reason: str | None,
             data: dict[str, Any]) -> None:
        conn.execute(insert(schema.policy_log).values(kind=kind, version=version, author=author, reason=reason,
                                                      data=data, at=time.time()))


def _record(row: Any) -> PolicyRecord:
    return PolicyRecord(row.version, dict(row.body), row.author, row.reason, row.origin, row.parent, row.created_at)


def _state(row: Any) -> PolicyState:
    return PolicyState(row.active, row.previous, bool(row.pinned), row.serial, row.changed_at)
