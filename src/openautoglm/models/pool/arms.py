"""A policy as the router applies it (an arm), and the choice of arm per call: the active policy, or a canary on
a share of the traffic while the loop (policies/loop.py) tries one.

An arm overrides a capability's strategy, retries and fallbacks, and gives its strategies the policy's node weights
and limits; the active policy's ``cache`` section can turn the response cache off. What the policy leaves out stays
as configured."""

from __future__ import annotations

import random

from ...config import RouteConfig
from ...policies.document import Policy
from .membership import Membership
from .strategies import Strategy, strategies


class Arm:
    """One policy version, applied: a strategy per target, made again when the members change."""

    def __init__(self, version: int, policy: Policy) -> None:
        for route in policy.routes.values():
            if route.strategy is not None:
                strategies.get(route.strategy)  # an unknown strategy fails when the policy is applied, not on a call
        self.version = version
        self.policy = policy
        self.cache_enabled = bool(policy.sections.get("cache", {}).get("enabled", True))
        self._pickers: dict[str, Strategy] = {}
        self._generation = -1

    def route(self, members: Membership, capability: str) -> RouteConfig:
        base = members.route(capability)
        override = self.policy.route(capability)
        if override is None:
            return base
        return RouteConfig(strategy=override.strategy or base.strategy,
                           retries=base.retries if override.retries is None else override.retries,
                           fallbacks=base.fallbacks if override.fallbacks is None else override.fallbacks)

    def picker(self, members: Membership, target: str) -> Strategy:
        if self._generation != members.generation:
            self._pickers = {}
            self._generation = members.generation
        picker = self._pickers.get(target)
        if picker is None:
            override = self.policy.route(target)
            picker = strategies.get(self.route(members, target).strategy)(
                members.candidates(target), weights=override.weights if override else None,
                limits=override.limits if override else None)
            self._pickers[target] = picker
        return picker


class Arms:
    """The active arm (None: routing as configured) and a canary with its share of calls."""

    def __init__(self, seed: int | None = None) -> None:
        self.active: Arm | None = None
        self.canary: Arm | None = None
        self.share = 0.0
        self._random = random.Random(seed)

    def choose(self) -> Arm | None:
        if self.canary is not None and self._random.random() < self.share:
            return self.canary
        return self.active

    @property
    def version(self) -> int | None:
        return None if self.active is None else self.active.version

    def activate(self, version: int, policy: Policy) -> Arm:
        self.active = Arm(version, policy)
        return self.active

    def try_canary(self, version: int, policy: Policy, share: float) -> Arm:
        self.canary = Arm(version, policy)
        self.share = share
        return self.canary

    def end_canary(self) -> None:
        self.canary = None
        self.share = 0.0
