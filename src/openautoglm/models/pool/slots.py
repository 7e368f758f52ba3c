"""Admission: a usable node for the next attempt, its concurrency slot taken, or a wait while every one is full."""

from __future__ import annotations

import asyncio

from ..base import ChatRequest
from .membership import Membership
from .node import PoolNode
from .strategies import Strategy


class Slots:
    """Hands out nodes within their concurrency limits; a call that finds them all full waits for a release."""

    def __init__(self, members: Membership) -> None:
        self.members = members
        self._waiters: list[asyncio.Future[None]] = []

    async def acquire(self, link: str, request: ChatRequest, tried: set[PoolNode],
                      picker: Strategy) -> PoolNode | None:
        """A node for the next attempt on ``link``, its slot taken; None when no usable node is left there."""
        while True:
            now = self.members.clock()
            usable: list[PoolNode] = []
            saturated = False
            for node in self.members.link_candidates(link, request):
                if node in tried or not node.live(now) or not node.breaker.admits(now):
                    continue
                if node.in_flight >= picker.limit(node):
                    saturated = True
                    continue
                usable.append(node)
            if usable:
                node = picker.choose(usable, request)
                node.in_flight += 1
                node.breaker.claim()
                return node
            if not saturated:
                return None
            # Every usable node is at its concurrency limit: wait for a slot rather than overload one.
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def release(self, node: PoolNode) -> None:
        node.in_flight -= 1
        if node.retired and not node.in_flight:
            self.members.close_later(node)
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                break
