"""The gateway's shared state and the per-route dependency that authenticates, rate-limits and checks the role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request
from opentelemetry.sdk.trace import TracerProvider

from ..app import AutoGLM
from ..config import Settings
from ..errors import AuthError, RateLimited
from .auth import ANONYMOUS, Authenticator, Principal, require
from .keys import KeyRing
from .metrics import Metrics
from .ratelimit import RateLimiter
from .runner import TaskRunner


@dataclass
class Gateway:
    glm: AutoGLM
    settings: Settings
    keyring: KeyRing
    auth: Authenticator
    limiter: RateLimiter
    metrics: Metrics
    tracer_provider: TracerProvider
    runner: TaskRunner


async def gateway(request: Request) -> Gateway:
    # async on purpose: FastAPI runs a sync dependency in a worker thread, a thread hop per request.
    gw: Gateway = request.app.state.gateway
    return gw


async def spend_failed_attempt(gw: Gateway, request: Request) -> None:
    """Failed attempts spend the caller's address's tokens: guessing keys or tokens is rate-limited too (429)."""
    if request.client is not None:
        try:
            await gw.limiter.acquire(f"authfail:{request.client.host}")
        except RateLimited:
            gw.metrics.rate_limited.inc()
            raise


def caller(role: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: who is calling (401 if unknown), within their rate limit (429), holding ``role`` (403)."""

    async def dependency(request: Request) -> Principal:
        gw: Gateway = request.app.state.gateway
        try:
            principal = await gw.auth.authenticate(request.headers.get("authorization"))
        except AuthError:
            await spend_failed_attempt(gw, request)
            raise
        key = principal.limit_key
        if principal is ANONYMOUS and request.client is not None:
            key = f"ip:{request.client.host}"
        try:
            await gw.limiter.acquire(key)
        except Exception:
            gw.metrics.rate_limited.inc()
            raise
        require(principal, role)
        request.state.principal = principal
        return principal

    dependency.__name__ = f"caller_{role}"
    return dependency


def role_by_method(read: str, write: str) -> Callable[[Request], Awaitable[Principal]]:
    """For routers we mount but do not write (nodes, approvals): ``read`` for GET/HEAD, ``write`` otherwise."""
    readers, writers = caller(read), caller(write)

    async def dependency(request: Request) -> Principal:
        if request.method in ("GET", "HEAD"):
            return await readers(request)
        return await writers(request)

    return dependency
