"""The leases one process holds on the tasks it runs, kept alive by one heartbeat.

A task runs only under a lease in the store (holder, expiry). The holder renews every lease it has each
``ttl_s / 4``; a process that dies stops renewing, and once its leases lapse any gateway claims those tasks and
resumes them from their logs. A heartbeat that finds a lease gone (taken over after a stall, or the task cancelled
through another replica) stops the local run at once, so two processes never run one task.

Every process that runs a task holds its lease this way: a gateway's workers (:mod:`openautoglm.server.runner`),
and ``AutoGLM.run``/``execute``/``resume`` called directly (the CLI), whose new task is written as a row under the
lease with its :class:`~openautoglm.taskspec.TaskSpec` first, so a gateway can take it over if the process dies.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

import structlog

from .errors import NotFound, TaskConflict
from .store import FINISHED, Store
from .taskspec import TaskSpec

log = structlog.get_logger(__name__)


def holder_name() -> str:
    """Who holds a lease: the host and process, and a nonce, since a restarted process may reuse a pid."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def dead_here(holder: str) -> bool:
    """Whether ``holder`` (see :func:`holder_name`) names a process of this host that no longer exists: its leases
    need not be waited out. A live process (a reused pid too) or another host's is never judged dead here; its
    leases lapse by time."""
    parts = holder.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, under another user
        return False
    return False


@dataclass(frozen=True)
class NewTask:
    """A task not in the store yet, to be written under the lease that runs it: queued with what any process needs
    to run it, so it is taken over like any other if this one dies."""

    spec: TaskSpec
    owner: str | None = None
    role: str | None = None
    session_id: str | None = None


class Leases:
    def __init__(self, store: Store, ttl_s: float = 5.0, holder: str | None = None, *,
                 stopped: Literal["interrupted", "cancelled"] = "interrupted") -> None:
        """``stopped``: what a body cancelled midway leaves its task as. A gateway's worker is stopped to drain
        (``interrupted``: the next worker resumes it); a CLI or Python caller's run is stopped by that caller, a
        person pressing Ctrl-C (``cancelled``: no gateway takes it up behind their back; ``resume`` still can)."""
        self.store = store
        self.ttl_s = ttl_s
        self.holder = holder or holder_name()
        self.stopped = stopped
        self._held: dict[str, asyncio.Task[object] | None] = {}
        self._lost: set[str] = set()  # tasks whose lease another process took while this one ran them
        self._beat: asyncio.Task[None] | None = None

    @property
    def interval_s(self) -> float:
        """How often leases are renewed: four chances before one lapses."""
        return self.ttl_s / 4

    def take(self, task_id: str, new: NewTask | None = None) -> None:
        """Take ``task_id``'s lease (an explicit resume; with ``new``, a task written now), or say in one line why
        not. A holder that is a dead process of this host is not waited out."""
        if self.store.take_lease(task_id, self.holder, self.ttl_s):
            return
        try:
            task = self.store.get_task(task_id)
        except NotFound:
            if new is None:
                raise
            self.store.enqueue_task(task_id, new.spec.title(), new.spec.model_dump(), owner=new.owner,
                                    role=new.role, session_id=new.session_id, holder=self.holder,
                                    lease_s=self.ttl_s)
            return
        if task.status in FINISHED:
            raise TaskConflict(f"task {task_id} already finished ({task.status}); nothing to resume "
                               f"(`autoglm trace {task_id}` shows it)")
        if task.lease_owner and dead_here(task.lease_owner):
            self.store.expire_leases(task.lease_owner)
            log.info("dead_holder_leases_ended", holder=task.lease_owner)
            if self.store.take_lease(task_id, self.holder, self.ttl_s):
                return
            task = self.store.get_task(task_id)
        left = max(0.0, (task.lease_expires_at or time.time()) - time.time())
        raise TaskConflict(f"task {task_id} is being run by {task.lease_owner} (lease renewed, {left:.0f}s left); "
                           "wait for it to finish, or cancel it first")

    def hold(self, task_id: str, job: asyncio.Task[object] | None) -> None:
        """Keep ``task_id``'s lease (already taken) alive while ``job`` runs it; ``job`` is cancelled when the
        lease is lost."""
        self._held[task_id] = job
        if self._beat is None or self._beat.done():
            self._beat = asyncio.create_task(self._heartbeat(), name="lease-heartbeat")

    def release(self, task_id: str, unfinished: str = "interrupted", error: str | None = None) -> None:
        """Give the lease back; a task left unfinished becomes ``unfinished`` (see :meth:`Store.release_lease`)."""
        self._held.pop(task_id, None)
        self.store.release_lease(task_id, self.holder, unfinished, error)

    def holds(self, task_id: str) -> bool:
        return task_id in self._held

    def expire_dead_holders(self) -> list[str]:
        """End the leases of this host's processes that died (a restart after a crash finds its predecessor's),
        so their tasks are claimed at once rather than after their leases lapse; the holders it ended."""
        dead = sorted(h for h in self.store.lease_holders() if h != self.holder and dead_here(h))
        for holder in dead:
            self.store.expire_leases(holder)
            log.info("dead_holder_leases_ended", holder=holder)
        return dead

    async def _heartbeat(self) -> None:
        while self._held:
            await asyncio.sleep(self.interval_s)
            ids = list(self._held)
            try:
                kept = await asyncio.to_thread(self.store.renew_leases, self.holder, ids, self.ttl_s)
            except Exception as exc:  # a database hiccup: try again next beat, the lease has slack for it
                log.warning("lease_renew_failed", error=str(exc), tasks=len(ids))
                continue
            for task_id in ids:
                if task_id in kept or task_id not in self._held:
                    continue
                job = self._held.pop(task_id)
                self._lost.add(task_id)
                log.warning("lease_lost", task_id=task_id, holder=self.holder)
                if job is not None:
                    job.cancel()

    @asynccontextmanager
    async def holding(self, task_id: str, new: NewTask | None = None) -> AsyncIterator[None]:
        """Run the body under ``task_id``'s lease, taken now (:class:`TaskConflict` if it cannot be; with ``new``,
        the task's row is written under it) and given back after; a body stopped midway leaves the task as
        :attr:`stopped` says. A body stopped because another process took the lease over raises
        :class:`TaskConflict` rather than a bare cancellation."""
        await asyncio.to_thread(self.take, task_id, new)
        current = asyncio.current_task()
        self.hold(task_id, current)
        error: str | None = None
        unfinished = "interrupted"
        try:
            yield
        except asyncio.CancelledError:
            if task_id in self._lost and current is not None and current.uncancel() == 0:
                raise TaskConflict(f"task {task_id} was taken over by another process (this one's lease lapsed: "
                                   "it stalled past gateway.lease_ttl_s); it goes on there") from None
            unfinished = self.stopped
            raise
        except Exception as exc:  # a bug, not a stop: marked failed, so no worker picks it up again and again
            unfinished, error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            await asyncio.to_thread(self.release, task_id, unfinished, error)

    async def aclose(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            await asyncio.gather(self._beat, return_exceptions=True)

