"""The one retry/fallback walk of a routed call, shared by complete and stream.

The chain is the target (a capability or a node's name), then its route's ``fallbacks``; on each link up to
``1 + retries`` attempts, each on a node not yet tried for that link. A FALLBACK event marks entering each later
link; every attempt is a MODEL_ATTEMPT event. So one call makes at most ``(1 + retries) x (1 + len(fallbacks))``
upstream requests, and the error the walk finally gives is marked not retryable: the router already retried, the
executor must not multiply the calls.
"""

from __future__ import annotations

import time
from typing import Any

from ...config import RouteConfig
from ...errors import ContextLengthExceeded, ModelError, ModelUnavailable, NoNodeAvailable
from ...events import EventKind
from ..base import CONTEXT_LENGTH_MESSAGE, ChatRequest, ModelEventSink
from .arms import Arm
from .membership import Membership
from .node import PoolNode
from .signals import Signals
from .slots import Slots
from .strategies import Strategy

FALLBACK_CAPABILITY = "text-generation"


def chain(members: Membership, target: str, route: RouteConfig) -> list[str]:
    links = [target, *route.fallbacks]
    # A capability no live node serves (e.g. "planning" in a pool of text-generation nodes, or whose only node
    # has lapsed) falls to text-generation: a plainer answer beats none. It counts as one more fallback.
    # A node asked for by name does not: whoever named it wants that model or a clear error.
    if FALLBACK_CAPABILITY not in links and target not in members.nodes and not members.serves(target):
        links.append(FALLBACK_CAPABILITY)
    return links


class Walk:
    """One call's way along its chain: the next node to try, with the attempts and failures so far. The caller
    makes each attempt and reports it (:meth:`succeeded`, :meth:`failed`, :meth:`refused`)."""

    __slots__ = ("arm", "attempt", "began", "chain", "current", "emit", "failures", "last", "last_node", "left",
                 "link", "members", "picker", "request", "retries", "signals", "slots", "started", "target", "tried")

    def __init__(self, members: Membership, slots: Slots, target: str, request: ChatRequest,
                 emit: ModelEventSink | None, arm: Arm | None = None, signals: Signals | None = None) -> None:
        """``arm``: the policy that routes this call (None: as configured); ``signals``: where outcomes go."""
        route = arm.route(members, request.capability) if arm else members.route(request.capability)
        self.arm = arm
        self.signals = signals
        self.members = members
        self.slots = slots
        self.target = target
        self.request = request
        self.emit = emit
        self.retries = route.retries
        self.chain = chain(members, target, route)
        self.picker = self._picker(target)
        self.link = -1
        self.current = target
        self.tried: set[PoolNode] = set()
        self.left = 0  # attempts left on the current link
        self.attempt = 0
        self.failures: list[str] = []
        self.last: Exception | None = None
        self.started = 0.0
        self.began = time.perf_counter()
        self.last_node: str | None = None

    def _picker(self, target: str) -> Strategy:
        return self.arm.picker(self.members, target) if self.arm else self.members.picker(target)

    @property
    def version(self) -> int | None:
        """The policy version that routed this call."""
        return None if self.arm is None else self.arm.version

    async def next_node(self) -> PoolNode | None:
        """The node for the next attempt, its slot taken (give it back with ``Slots.release``); None when the
        chain is spent."""
        while True:
            if self.left:
                node = await self.slots.acquire(self.current, self.request, self.tried, self.picker)
                if node is not None:
                    self.left -= 1
                    self.tried.add(node)
                    self.attempt += 1
                    self.started = time.perf_counter()
                    self.last_node = node.name
                    return node
            self.link += 1
            if self.link == len(self.chain):
                return None
            self.current = self.chain[self.link]
            if self.link:
                if self.emit is not None:
                    self.emit(EventKind.FALLBACK, to=self.current,
                              reason=self.failures[-1] if self.failures else f"no node for {self.target}",
                              **{"from": self.target})
                self.picker = self._picker(self.current)
            self.tried = set()
            self.left = 1 + self.retries

    def succeeded(self, node: PoolNode, tokens: int = 0, **extra: Any) -> None:
        latency = time.perf_counter() - self.started
        node.succeeded(latency)
        if self.signals is not None:
            capability = self.request.capability
            self.signals.attempt(capability, node.name, latency, True, tokens, node.cost)
            self.signals.call(self.version, capability, node.name, time.perf_counter() - self.began, True)
        if self.emit is not None:
            self.emit(EventKind.MODEL_ATTEMPT, node=node.name, target=self.current, attempt=self.attempt,
                      outcome="ok", latency_ms=round(latency * 1000, 3), **self._policy(), **extra)

    def failed(self, node: PoolNode, error: ModelError) -> None:
        """A retryable failure: it counts against the node, and the walk goes on."""
        node.failed(self.members.clock())
        if self.signals is not None:
            self.signals.attempt(self.request.capability, node.name, time.perf_counter() - self.started, False)
        self.report(node, error)
        self.failures.append(f"{node.name}: {error}")
        self.last = error

    def refused(self, node: PoolNode, error: ModelError) -> None:
        """A non-retryable failure: the request is at fault, not the node, so it is not counted against it."""
        node.breaker.probing = False
        self.report(node, error)

    def report(self, node: PoolNode, error: Exception, **extra: Any) -> None:
        if self.emit is not None:
            self.emit(EventKind.MODEL_ATTEMPT, node=node.name, target=self.current, attempt=self.attempt,
                      outcome="error", error=str(error), error_type=type(error).__name__,
                      retryable=getattr(error, "retryable", False),
                      latency_ms=round((time.perf_counter() - self.started) * 1000, 3), **self._policy(),
                      **extra)

    def _policy(self) -> dict[str, int]:
        """The attempt event's policy field: the version that routed the call, when a policy did."""
        return {} if self.arm is None else {"policy": self.arm.version}

    def exhausted(self) -> ModelError:
        """The error that ends a walk with no answer (counted as a failed call of its policy)."""
        if self.signals is not None:
            self.signals.call(self.version, self.request.capability, self.last_node,
                              time.perf_counter() - self.began, False)
        if not self.attempt:
            now = self.members.clock()
            names = [f"{n.name}: {n.state(now)}" for n in self.members.candidates(self.target)]
            error: ModelError = NoNodeAvailable(
                f"no node can serve '{self.target}' now: " + (
                    f"every one ({', '.join(names)}) has its circuit open or its heartbeat lapsed; "
                    "retry later or add nodes"
                    if names else "none has that capability; add one to `nodes:` or register one"))
        else:
            error = ModelUnavailable(f"all {self.attempt} attempts for '{self.target}' failed: "
                                     + "; ".join(self.failures[-4:]))
            error.__cause__ = self.last
        error.retryable = False  # the router already retried: the executor must not multiply the calls
        return error


def as_model_error(node: PoolNode, exc: Exception) -> ModelError:
    if isinstance(exc, ModelError):
        return exc
    if isinstance(exc, TimeoutError):
        return ModelUnavailable(f"node '{node.name}' timed out after {node.timeout_s:g}s")
    if isinstance(exc, ValueError) and CONTEXT_LENGTH_MESSAGE.search(str(exc)):
        # llama.cpp's own refusal (a backend that does not count first): the prompt's fault, not the node's.
        return ContextLengthExceeded(f"node '{node.name}': {exc}")
    # Anything else from a node (an I/O error, a bug in a backend) is the node's failure: another may do better.
    return ModelUnavailable(f"node '{node.name}' failed: {type(exc).__name__}: {exc}")
