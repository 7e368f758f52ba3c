"""What a policy says: per capability the routing strategy, node weights, concurrency limits, fallbacks and retries;
and further sections (cache, planner, composer, ...) each a registered model whose every knob has bounds.

A new section is one class and one registration, and an unknown section is refused (so a typo is not stored)::

    @policy_sections.register("support")
    class SupportSection(Section):
        escalate_below: float = Field(default=0.4, ge=0, le=1)
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError
from ..registry import Registry

MAX_WEIGHT = 100.0
MAX_LIMIT = 1024
NAME = r"^[A-Za-z0-9_.:\-]{1,64}$"


class Section(BaseModel):
    """One section of a policy besides routing. Subclasses list their knobs, each with bounds."""

    model_config = ConfigDict(extra="forbid")


policy_sections: Registry[Section] = Registry("openautoglm.policy_sections", "policy section", Section)


@policy_sections.register("cache")
class CacheSection(Section):
    """Applied by the router (models/pool/arms.py): False turns the response cache off while the policy is active."""

    enabled: bool = True


@policy_sections.register("planner")
class PlannerSection(Section):
    """Stored and validated; the planner does not read it yet."""

    max_steps: int = Field(default=12, ge=1, le=64)
    model_fill: bool = True


@policy_sections.register("composer")
class ComposerSection(Section):
    """Stored and validated; the composer does not read it yet."""

    min_confidence: float = Field(default=0.5, ge=0, le=1, description="below it, the model writer is not used")
    max_reply_chars: int = Field(default=4000, ge=200, le=50_000)


class RoutePolicy(BaseModel):
    """How one capability is routed. ``weights`` multiply the router's own (latency/error) weights (unlisted: 1);
    a weight of 0 takes a node out of that capability's rotation, but the router still calls it when no other is
    usable (strategies.py: availability before policy). ``limits`` cap a node's
    concurrency below what the router's adaptive limit allows. Strategy, fallbacks and retries left out (None) stay
    as configured (``router.routes``)."""

    model_config = ConfigDict(extra="forbid")

    strategy: str | None = Field(default=None, pattern=r"^[a-z_]{1,32}$", description="None: as configured")
    weights: dict[str, float] = Field(default_factory=dict)
    limits: dict[str, int] = Field(default_factory=dict)
    fallbacks: list[str] | None = Field(default=None, max_length=8)
    retries: int | None = Field(default=None, ge=0, le=5)

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        for name, weight in value.items():
            _check_name(name)
            if not 0 <= weight <= MAX_WEIGHT:
                raise ValueError(f"weight of '{name}' must be within 0..{MAX_WEIGHT:g}, not {weight}")
        return value

    @field_validator("limits")
    @classmethod
    def _limits(cls, value: dict[str, int]) -> dict[str, int]:
        for name, limit in value.items():
            _check_name(name)
            if not 1 <= limit <= MAX_LIMIT:
                raise ValueError(f"limit of '{name}' must be within 1..{MAX_LIMIT}, not {limit}")
        return value

    def weight(self, node: str) -> float:
        return self.weights.get(node, 1.0)


class Policy(BaseModel):
    """A whole policy document: ``routes`` by capability, then the other sections by name."""

    model_config = ConfigDict(extra="forbid")

    routes: dict[str, RoutePolicy] = Field(default_factory=dict, max_length=64)
    sections: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("routes")
    @classmethod
    def _capabilities(cls, value: dict[str, RoutePolicy]) -> dict[str, RoutePolicy]:
        for capability in value:
            _check_name(capability)
        return value

    @model_validator(mode="after")
    def _sections(self) -> Policy:
        for name, body in self.sections.items():
            if name not in policy_sections:
                raise ValueError(f"unknown policy section '{name}'; known: "
                                 f"{', '.join(sorted(policy_sections.names()))}")
            section = policy_sections.get(name)
            self.sections[name] = section.model_validate(body).model_dump()
        return self

    def route(self, capability: str) -> RoutePolicy | None:
        return self.routes.get(capability)

    def section(self, name: str) -> Section:
        """A section's settings (its defaults when the policy leaves it out)."""
        cls = policy_sections.get(name)
        return cls.model_validate(self.sections.get(name, {}))


def _check_name(name: str) -> None:
    import re

    if not re.match(NAME, name):
        raise ValueError(f"'{name}' is not a node or capability name (letters, digits, _.:- up to 64)")


def parse_policy(data: Any) -> Policy:
    """A policy from JSON-like data; :class:`ConfigError` with every problem on one line when it is not valid."""
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid policy: {problems}") from None


def diff_policies(old: Policy, new: Policy) -> list[str]:
    """What changed from ``old`` to ``new``, one line per knob (``routes.chat.weights.a: 1 -> 0.5``)."""
    lines: list[str] = []
    _diff(old.model_dump(exclude_defaults=True), new.model_dump(exclude_defaults=True), "", lines)
    return lines


def _diff(old: Any, new: Any, path: str, out: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys()):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                out.append(f"+ {sub}: {new[key]!r}")
            elif key not in new:
                out.append(f"- {sub}: {old[key]!r}")
            else:
                _diff(old[key], new[key], sub, out)
    elif old != new:
        out.append(f"~ {path}: {old!r} -> {new!r}")
