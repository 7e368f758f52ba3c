"""The versions of the routing policy in the store, and their application to a running router.

Every change (create, activate, rollback, pin) is one transaction on the store's policy state and one entry in the
policy log (who, when, why). The process that made a change applies it at once; every other replica sharing the
store applies it on its next poll (``policy.poll_s``, 1 s by default), since :meth:`PolicyBook.sync` compares the
state's change counter with the one it applied last."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog

from ..errors import AutoGLMError, NotFound, PolicyConflict
from ..events import EventKind
from ..models.pool import Router
from ..models.pool.arms import Arm
from ..repeating import Repeating
from ..store import PolicyLogEntry, PolicyRecord, PolicyState, Store
from .document import Policy, diff_policies, parse_policy

log = structlog.get_logger("openautoglm.policies")


class PolicyBook:
    """Policies of one store. ``router``: the pool the active one is applied to, or a callable giving it once it
    exists (None until then: the book never builds a model); the CLI has none."""

    def __init__(self, store: Store, router: Router | Callable[[], Router | None] | None = None,
                 poll_s: float = 1.0) -> None:
        self.store = store
        self._router = router
        self.poll_s = poll_s
        self.applied_serial = -1
        self._applied_to: Router | None = None
        self._poller = Repeating(lambda: asyncio.to_thread(self.sync), log, "policy poll failed")

    @property
    def router(self) -> Router | None:
        if self._router is None or isinstance(self._router, Router):
            return self._router
        return self._router()

    # -- reading ----------------------------------------------------------------------------------------------

    def versions(self) -> list[PolicyRecord]:
        return self.store.policies()

    def get(self, version: int) -> PolicyRecord:
        return self.store.policy(version)

    def document(self, version: int) -> Policy:
        return parse_policy(self.get(version).body)

    def state(self) -> PolicyState:
        return self.store.policy_state()

    def history(self, limit: int = 200) -> list[PolicyLogEntry]:
        return self.store.policy_log(limit)

    def diff(self, old: int | None, new: int) -> list[str]:
        """What ``new`` changes from ``old`` (None: from routing as configured, an empty policy)."""
        before = Policy() if old is None else self.document(old)
        return diff_policies(before, self.document(new))

    # -- changing ---------------------------------------------------------------------------------------------

    def create(self, body: Any, author: str, reason: str | None = None, *, origin: str = "operator",
               parent: int | None = None) -> PolicyRecord:
        """Validate and store a new version (not active yet)."""
        policy = parse_policy(body)
        Arm(0, policy)  # its strategies exist: refused now rather than when it is applied
        return self.store.add_policy(policy.model_dump(exclude_defaults=True), author, reason, origin, parent)

    def activate(self, version: int, author: str, reason: str | None = None, *, pin: bool = False) -> PolicyState:
        self.document(version)  # exists and still reads as a valid policy
        state = self.state()
        if state.pinned and version != state.active:
            raise PolicyConflict(f"version {state.active} is pinned; unpin it first (autoglm policy pin --off)")
        new = self.store.switch_policy(EventKind.POLICY_ACTIVATED, version, author=author, reason=reason,
                                       pinned=pin or state.pinned,
                                       data={"previous": state.active, "pinned": pin or state.pinned})
        assert new is not None
        self.sync()
        return new

    def rollback(self, author: str, reason: str | None = None, *, test: dict[str, Any] | None = None,
                 by_loop: bool = False) -> PolicyState | None:
        """Make the version active before the current one active again. The loop's rollback (``by_loop``) yields
        to a pin and to a change made since it looked (None)."""
        state = self.state()
        if state.active is None:
            raise PolicyConflict("no policy is active: routing is as configured, nothing to roll back")
        if state.pinned and not by_loop:
            raise PolicyConflict(f"version {state.active} is pinned; unpin it first (autoglm policy pin --off)")
        new = self.store.switch_policy(EventKind.POLICY_ROLLED_BACK, state.previous, author=author, reason=reason,
                                       data={"to": state.previous, "test": test}, unless_pinned=by_loop,
                                       expect_active=state.active, subject=state.active)
        self.sync()
        return new

    def pin(self, version: int | None, author: str, reason: str | None = None) -> PolicyState:
        """Pin ``version`` (activating it; None: the active one): the loop leaves it alone until unpinned."""
        state = self.state()
        target = state.active if version is None else version
        if target is None:
            raise PolicyConflict("no policy is active to pin; activate a version first")
        self.document(target)
        new = self.store.switch_policy(EventKind.POLICY_PINNED, target, author=author, reason=reason, pinned=True,
                                       data={"previous": state.active})
        assert new is not None
        self.sync()
        return new

    def unpin(self, author: str, reason: str | None = None) -> PolicyState:
        state = self.state()
        new = self.store.switch_policy(EventKind.POLICY_UNPINNED, state.active, author=author, reason=reason,
                                       pinned=False, data={"previous": state.previous})
        assert new is not None
        self.sync()
        return new

    # -- applying ---------------------------------------------------------------------------------------------

    def sync(self) -> bool:
        """Apply the store's active version to the router if it changed since the last look; True when it did."""
        router = self.router
        if router is None:
            return False
        state = self.state()
        if state.serial == self.applied_serial and router is self._applied_to:
            return False
        arms = router.arms
        if state.active is None:
            arms.active = None
        elif arms.version != state.active:
            try:
                arms.activate(state.active, self.document(state.active))
            except (AutoGLMError, NotFound) as exc:  # an unreadable version: keep routing as it was, say so
                log.error("policy not applied", version=state.active, error=str(exc))
        if arms.canary is not None and arms.canary.version == state.active:
            arms.end_canary()
        self.applied_serial = state.serial
        self._applied_to = router
        log.info("policy applied", version=state.active, pinned=state.pinned, serial=state.serial)
        return True

    def start(self) -> None:
        """Poll the store in the background (every replica), so others' changes are applied within ``poll_s``."""
        if self._router is not None:
            self._poller.start(self.poll_s)

    async def aclose(self) -> None:
        await self._poller.aclose()
