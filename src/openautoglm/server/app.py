"""The gateway: ``create_app(glm)`` builds the FastAPI app over one :class:`~openautoglm.AutoGLM`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import Depends, FastAPI
from opentelemetry.sdk.trace.export import SpanExporter

from ..app import AutoGLM
from ..tools.approval import ApprovalBroker
from . import console, triggers
from .auth import Authenticator
from .deps import Gateway, role_by_method
from .errors import install_error_handlers
from .guard import Guard
from .keys import KeyRing
from .live import open_live_events
from .metrics import Metrics
from .ratelimit import LocalBuckets, RateLimiter, RedisBuckets
from .routes import admin, chat, oauth, ops, policies, reports, support, tasks
from .runner import TaskRunner
from .shared_nodes import SharedNodes
from .telemetry import make_tracer_provider
from .textguard import TextGuard

log = structlog.get_logger("openautoglm.gateway")


def create_app(
    glm: AutoGLM,
    *,
    span_exporter: SpanExporter | None = None,
    limiter: RateLimiter | None = None,
    access_log: bool = True,
    close_glm: bool = False,
    approvals: ApprovalBroker | None = None,
) -> FastAPI:
    """The gateway over ``glm``; its settings (``glm.settings``) choose auth, limits and telemetry.

    ``span_exporter`` receives the spans too (tests pass an in-memory one); ``limiter`` overrides the rate limiter
    the settings describe; ``close_glm`` closes the facade when the app shuts down; ``approvals`` is the broker
    whose ``approver`` the facade was given: ``/v1/approvals`` lists and decides its pending requests.
    """
    settings = glm.settings
    g = settings.gateway
    metrics = Metrics()
    provider = make_tracer_provider(g.otlp_endpoint, span_exporter)
    rate = g.rate_limit_per_minute / 60.0
    if limiter is None:
        limiter = (RedisBuckets(settings.redis_url, rate, g.rate_limit_burst, settings.redis_prefix + "rl:")
                   if settings.redis_url
                   else LocalBuckets(rate, g.rate_limit_burst))
    keyring = KeyRing(glm.store)
    gw = Gateway(
        glm=glm, settings=settings, keyring=keyring,
        auth=Authenticator(keyring, g, required=settings.auth == "required"),
        limiter=limiter, metrics=metrics, tracer_provider=provider,
        runner=TaskRunner(glm, metrics, provider.get_tracer("openautoglm.gateway"), g.max_running_tasks,
                          lease_ttl_s=g.lease_ttl_s,
                          live=open_live_events(settings.redis_url, glm.store, settings.redis_prefix)),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await glm.load_tools()  # MCP servers connect now: a broken one stops the start, not a user's request
        await asyncio.to_thread(_build_model_and_planner, glm)
        await gw.runner.start()  # claims what a dead process left in the queue, then whatever is submitted
        schedule = glm.knowledge_sync_schedule()  # knowledge.sources every knowledge.sync_interval_s, if set
        if schedule is not None:
            schedule.start()
        app.state.kb_sync = schedule
        app.state.shared_nodes.start()  # nodes registered or removed through any replica, from the store
        glm.policies.start()  # applies the store's active routing policy, now and whenever it changes
        # Due schedules (reports, workflows), each slot run by one replica (schedules.py).
        scheduler = glm.scheduler(triggers.schedule_starter(gw))
        schedule_loop = asyncio.create_task(scheduler.run_forever()) if scheduler is not None else None
        glm.start_policy_loop()  # with policy.loop on: proposes, tries and keeps or rolls back policies
        yield
        if schedule_loop is not None:
            schedule_loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await schedule_loop
        if schedule is not None:
            await schedule.aclose()
        # Drain: running tasks stop at a step boundary, left interrupted for the next process to resume.
        await gw.runner.aclose(g.drain_timeout_s)
        await glm.policies.aclose()
        await app.state.shared_nodes.aclose()
        await gw.limiter.aclose()
        provider.shutdown()
        if close_glm:
            await glm.aclose()

    app = FastAPI(
        title="Open-AutoGLM gateway",
        version="1",
        description="OpenAI-compatible chat, tasks with live events and traces, nodes, keys. "
                    "Send `Authorization: Bearer <API key or JWT>`.",
        lifespan=lifespan,
    )
    app.state.gateway = gw
    app.state.shared_nodes = SharedNodes(lambda: glm.router, glm.store, settings.router.node_sync_s,
                                         built=lambda: glm.services.loaded_router)
    install_error_handlers(app)
    app.include_router(chat.router)
    app.include_router(tasks.router)
    app.include_router(admin.router)
    app.include_router(oauth.router)
    app.include_router(ops.router)
    app.include_router(support.router)
    app.include_router(reports.router)
    app.include_router(policies.router)
    app.include_router(console.router)  # GET /console: the web console (static files, no data)
    app.include_router(triggers.router)  # POST /v1/events/{name}: the HMAC signature is the credential
    _mount_parts(app, approvals)
    app.add_middleware(TextGuard)  # inside the Guard, so the body it reads is already size-capped
    app.add_middleware(Guard, metrics=metrics, max_body=g.max_body_bytes,
                       max_concurrent=g.max_concurrent_requests, timeout_s=g.request_timeout_s,
                       access_log=access_log)
    return app


def _build_model_and_planner(glm: AutoGLM) -> None:
    """Built at start, in a thread: the first request would build them on the event loop (importing the node
    client took 3 s on 2 busy cores, every other request and /healthz waiting). One that cannot be built yet is left
    to the first request that needs it, which says why."""
    try:
        glm.planner  # noqa: B018 - the property builds the model, then the planner for it
    except Exception as exc:
        log.warning("model_not_built_at_start", error=f"{type(exc).__name__}: {exc}")


def _mount_parts(app: FastAPI, approvals: ApprovalBroker | None) -> None:
    """Routers over other rooms' parts: model nodes (read: viewer, change: operator), tool approvals (operator)."""
    from .approvals import router as approvals_router
    from .nodes import router as nodes_router

    app.include_router(nodes_router, dependencies=[Depends(role_by_method("viewer", "operator"))])
    app.state.approvals = approvals
    app.include_router(approvals_router)
