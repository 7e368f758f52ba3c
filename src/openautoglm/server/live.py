"""Live task events for ``GET /v1/tasks/{id}/events``, wherever the task runs.

The event log in the store is the truth: a follower replays it, then takes live events from a queue, and keeps
only those past the last sequence number it sent, so nothing is sent twice or out of order, and nothing is lost
between the replay and the live part because the queue is subscribed before the replay is read.

What feeds the queue is chosen by configuration:

- :class:`LiveEvents` (no ``redis_url``): the runner's own events, for tasks running in this process; a task
  running on another replica is followed by reading its log every ``poll_s`` (the follower's keep-alive tick).
- :class:`RedisLiveEvents` (``redis_url``): also Redis pub/sub. Each replica publishes every event of the tasks
  it runs on ``<prefix>events:<task id>`` (in order, from one publisher) and the end of each; a follower on any
  replica subscribes to that channel (confirmed before the replay is read) and gets them as they happen. With
  ``encrypt_content`` the events' data travel sealed, as they are stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import structlog

from ..events import Event
from ..redis_client import LoopRedis
from ..store import Store

log = structlog.get_logger("openautoglm.gateway")
END = "stream.end"  # the kind of the sentinel (seq 0) that tells a follower its task is over


class LiveEvents:
    """Subscribers of the tasks running in this process."""

    name = "log polling"  # how a task on another replica is followed

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[Event]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop the subscribers' queues belong to (events may be published from worker threads)."""
        self._loop = loop

    @contextlib.asynccontextmanager
    async def follow(self, task_id: str) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue of ``task_id``'s live events (and an end sentinel) while the context lasts."""
        self._loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.setdefault(task_id, set()).add(queue)
        try:
            yield queue
        finally:
            subs = self._subscribers.get(task_id)
            if subs is not None:
                subs.discard(queue)
                if not subs:
                    self._subscribers.pop(task_id, None)

    def publish(self, ev: Event) -> None:
        self._deliver(ev)

    def publish_end(self, task_id: str) -> None:
        self._deliver(Event(task_id, 0, END, 0.0))

    def _deliver(self, ev: Event) -> None:
        subs = self._subscribers.get(ev.task_id)
        if not subs:
            return
        loop = self._loop
        for queue in list(subs):
            if loop is None or _in_loop(loop):
                queue.put_nowait(ev)
            else:  # a tool emitting from a worker thread: asyncio queues are not thread-safe
                loop.call_soon_threadsafe(queue.put_nowait, ev)

    async def aclose(self) -> None:
        """Stop publishing (what is still queued is sent first)."""


class RedisLiveEvents(LiveEvents):
    """Also through Redis pub/sub, so a follower on any replica gets the events of a task running on another."""

    name = "redis pub/sub"

    def __init__(self, url: str, store: Store, prefix: str = "autoglm:") -> None:
        super().__init__()
        self.redis = LoopRedis(url)
        self.store = store
        self.prefix = prefix
        self._outbox: asyncio.Queue[Event | None] | None = None
        self._publisher: asyncio.Task[None] | None = None

    def channel(self, task_id: str) -> str:
        return f"{self.prefix}events:{task_id}"

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        super().bind(loop)
        if self._publisher is None or self._publisher.get_loop() is not loop:
            self._outbox = asyncio.Queue()
            self._publisher = loop.create_task(self._publish_loop(), name="live-events-publisher")

    def publish(self, ev: Event) -> None:
        super().publish(ev)
        self._send(ev)

    def publish_end(self, task_id: str) -> None:
        super().publish_end(task_id)
        self._send(Event(task_id, 0, END, 0.0))

    def _send(self, ev: Event) -> None:
        loop, outbox = self._loop, self._outbox
        if loop is None or outbox is None:
            return
        if _in_loop(loop):
            outbox.put_nowait(ev)
        else:
            loop.call_soon_threadsafe(outbox.put_nowait, ev)

    async def _publish_loop(self) -> None:
        """One publisher, so each task's events reach Redis in the order they were emitted."""
        assert self._outbox is not None
        while (ev := await self._outbox.get()) is not None:
            batch = [ev]
            while not self._outbox.empty() and (more := self._outbox.get_nowait()) is not None:
                batch.append(more)
            try:
                async with self.redis.get().pipeline(transaction=False) as pipe:
                    for item in batch:
                        pipe.publish(self.channel(item.task_id), self._encode(item))
                    await pipe.execute()
            except Exception as exc:  # followers elsewhere fall back to reading the log on their next tick
                log.warning("live_events_unpublished", events=len(batch), error=str(exc))

    def _encode(self, ev: Event) -> str:
        body = ev.to_dict()
        body["data"] = self.store.seal_json(ev.data) if ev.data else {}
        return json.dumps(body, ensure_ascii=False, default=str)

    def _decode(self, raw: bytes | str) -> Event | None:
        try:
            body = json.loads(raw)
            return Event(body["task_id"], int(body["seq"]), body["kind"], float(body["ts"]), body.get("step_id"),
                         self.store.open_json(body.get("data")) or {})
        except Exception as exc:  # not ours, or sealed under a key this replica does not have
            log.warning("live_event_unreadable", error=str(exc))
            return None

    @contextlib.asynccontextmanager
    async def follow(self, task_id: str) -> AsyncIterator[asyncio.Queue[Event]]:
        async with super().follow(task_id) as queue:
            pubsub = self.redis.get().pubsub()
            reader: asyncio.Task[None] | None = None
            try:
                await pubsub.subscribe(self.channel(task_id))
                # Confirmed before the follower reads the log: from now on every event published reaches us.
                if await pubsub.get_message(timeout=5.0) is None:
                    raise TimeoutError("no subscription confirmed within 5 s")
                reader = asyncio.create_task(self._read(pubsub, queue), name=f"follow:{task_id}")
            except Exception as exc:  # Redis away: the follower reads the log on its ticks instead
                log.warning("live_events_unsubscribed", task_id=task_id, error=str(exc))
            try:
                yield queue
            finally:
                if reader is not None:
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await reader
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _read(self, pubsub: Any, queue: asyncio.Queue[Event]) -> None:
        async for message in pubsub.listen():
            if message.get("type") != "message":
                continue
            ev = self._decode(message["data"])
            if ev is not None:
                queue.put_nowait(ev)

    async def aclose(self) -> None:
        if self._publisher is not None and self._outbox is not None:
            self._outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._publisher, timeout=5)
            self._publisher = None
        await self.redis.aclose()


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def open_live_events(redis_url: str | None, store: Store, prefix: str) -> LiveEvents:
    return RedisLiveEvents(redis_url, store, prefix) if redis_url else LiveEvents()
