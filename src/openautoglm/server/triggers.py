"""``POST /v1/events/{name}``: a signed event from another system starts a YAML workflow with the event as inputs;
and a workflow schedule's slot starts one (:func:`schedule_starter`, for :mod:`openautoglm.schedules`).

The caller signs ``<timestamp>.<body>`` with HMAC-SHA256 under the trigger's secret and sends
``X-AutoGLM-Timestamp: <unix seconds>`` and ``X-AutoGLM-Signature: sha256=<hex>`` (the shape GitHub and Stripe
webhooks use). The signature is the credential (no API key): it is compared in constant time, a timestamp more than
``max_skew_s`` away is refused so a captured request cannot be replayed later, and a repeat within that window
starts a run whose steps' idempotency keys make it reuse the first run's outputs instead of acting twice.

Answers: 202 with the task id (queued in the store, like ``POST /v1/tasks``); 401 bad or missing signature or
timestamp; 404 unknown trigger; 413 body too large (the gateway's limit); 422 a body that is not a JSON object or
does not fit the workflow's inputs; 503 a trigger whose secret or workflow is not available.

Secrets come from configuration as ``env:VAR`` or as a value sealed with ``autoglm secrets seal`` (never plain
text). The trigger's ``approve:`` list is what its runs may call without waiting for a person
(:func:`trigger_grants`); everything else with side effects waits for ``POST /v1/approvals/{id}``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import os
import time
from typing import Any

from fastapi import APIRouter, Request

from ..app import AutoGLM
from ..config import Settings, TriggerConfig
from ..errors import AuthError, AutoGLMError, ConfigError, NotFound, PlanValidationError
from ..plan import Plan, validate_plan
from ..schedules import StartWorkflow
from ..store.sealing import is_sealed
from ..tools.approval import ApprovalBroker, Grants
from ..tools.base import Tool, ToolContext
from ..tools.workflows import check_inputs
from .deps import Gateway, spend_failed_attempt
from .runner import TaskSpec

router = APIRouter(tags=["triggers"])

SIGNATURE_HEADER = "x-autoglm-signature"
TIMESTAMP_HEADER = "x-autoglm-timestamp"
OWNER_PREFIX = "trigger:"


class BadEvent(AutoGLMError):
    http_status = 422
    error_type = "invalid_event"


class TriggerUnavailable(AutoGLMError):
    http_status = 503
    error_type = "trigger_unavailable"


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``: what a sender computes."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def trigger_secret(trigger: TriggerConfig, glm: AutoGLM) -> str:
    value = trigger.secret
    if value.startswith("env:"):
        secret = os.environ.get(value[4:])
        if not secret:
            raise TriggerUnavailable(f"trigger '{trigger.name}': the environment variable {value[4:]} is not set")
        return secret
    if is_sealed(value):
        opened = glm.store.open_value(value)
        if not opened:
            raise TriggerUnavailable(f"trigger '{trigger.name}': its sealed secret cannot be opened")
        return opened
    raise ConfigError(f"trigger '{trigger.name}': secret must be env:VAR or sealed (`autoglm secrets seal`), "
                      "never plain text in the configuration")


def check_triggers(settings: Settings) -> None:
    """Refuse a configuration with a plain-text secret or a name used twice, before the gateway starts."""
    seen: set[str] = set()
    for trigger in settings.triggers:
        if trigger.name in seen:
            raise ConfigError(f"two triggers are named '{trigger.name}'")
        seen.add(trigger.name)
        if not trigger.secret.startswith("env:") and not is_sealed(trigger.secret):
            raise ConfigError(f"trigger '{trigger.name}': secret must be env:VAR or sealed "
                              "(`autoglm secrets seal`), never plain text in the configuration")


def verify(secret: str, headers: Any, body: bytes, max_skew_s: float, now: float | None = None) -> None:
    """Raise :class:`AuthError` unless the headers carry a fresh timestamp and the body's signature."""
    stamp = headers.get(TIMESTAMP_HEADER)
    given = headers.get(SIGNATURE_HEADER)
    if not stamp or not given:
        raise AuthError("a signed event needs the headers X-AutoGLM-Timestamp and X-AutoGLM-Signature")
    try:
        sent_at = int(stamp)
    except ValueError:
        raise AuthError("X-AutoGLM-Timestamp must be unix seconds") from None
    if abs((now if now is not None else time.time()) - sent_at) > max_skew_s:
        raise AuthError(f"the event's timestamp is more than {max_skew_s:g}s away from now (a replay, or a clock "
                        "off): sign it again with the current time")
    if not hmac.compare_digest(sign(secret, stamp, body).encode(), given.strip().encode()):
        raise AuthError("the event's signature does not match its body")


@router.post("/v1/events/{name}", status_code=202, summary="Start a trigger's workflow from a signed event")
async def receive_event(name: str, request: Request) -> dict[str, Any]:
    gw: Gateway = request.app.state.gateway
    trigger = next((t for t in gw.settings.triggers if t.name == name), None)
    if trigger is None:
        await spend_failed_attempt(gw, request)  # probing for trigger names costs like guessing keys
        raise NotFound(f"no trigger named '{name}'")
    body = await request.body()  # the Guard has capped its size (413)
    try:
        verify(trigger_secret(trigger, gw.glm), request.headers, body, trigger.max_skew_s)
    except AuthError:
        await spend_failed_attempt(gw, request)
        raise
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadEvent(f"the event is not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise BadEvent("the event must be a JSON object (its fields are the workflow's inputs)")
    try:
        workflow = gw.glm.workflows.get(trigger.workflow)
    except NotFound as exc:
        raise TriggerUnavailable(f"trigger '{name}': {exc}") from None
    inputs = {k: v for k, v in event.items() if k in workflow.plan.inputs}
    tools = await gw.glm.load_tools()
    try:
        check_inputs(workflow.plan, inputs)
        validate_plan(workflow.plan, tools.schemas(), inputs)
    except PlanValidationError as exc:
        raise BadEvent(f"the event does not fit workflow '{workflow.name}': {'; '.join(exc.problems)}") from None
    task_id = await gw.runner.submit(TaskSpec(kind="plan", plan=workflow.plan.dump(), inputs=inputs),
                                     owner=OWNER_PREFIX + name, role=trigger.role)
    return {"id": task_id, "status": "queued", "trigger": name, "workflow": workflow.name,
            "links": {"task": f"/v1/tasks/{task_id}", "events": f"/v1/tasks/{task_id}/events"}}


def schedule_starter(gw: Gateway) -> StartWorkflow:
    """How a workflow schedule's slot starts its run: queued like a signed event's, owned by the schedule (or
    whoever made it), with a user's role; its side effects wait for approval like any other run's."""

    async def start(task_id: str, plan: Plan, inputs: dict[str, Any], owner: str) -> None:
        await gw.runner.submit(TaskSpec(kind="plan", plan=plan.dump(), inputs=inputs), owner=owner, role="user",
                               task_id=task_id)

    return start


def trigger_grants(settings: Settings, glm: AutoGLM) -> Grants:
    """Calls a trigger's configuration approved in advance: the tools its ``approve:`` names (``erp.*`` patterns
    too), in the tasks it started (their owner is ``trigger:<name>``)."""
    approve = {t.name: t.approve for t in settings.triggers}

    def grants(tool: Tool, ctx: ToolContext) -> str | None:
        if not approve:
            return None
        try:
            owner = glm.store.get_task(ctx.task_id).owner or ""
        except NotFound:
            return None
        name = owner.removeprefix(OWNER_PREFIX) if owner.startswith(OWNER_PREFIX) else None
        if name is not None and any(fnmatch.fnmatchcase(tool.name, p) for p in approve.get(name, [])):
            return f"{OWNER_PREFIX}{name} (configuration)"
        return None

    return grants


def approval_broker(glm: AutoGLM) -> ApprovalBroker:
    """The gateway's broker: requests in the store (they outlive the process; every replica sees them), timeouts
    and escalation from ``approvals:``, and the triggers' advance approvals."""
    broker = glm.services.stored_approvals()
    broker.grants = trigger_grants(glm.settings, glm)
    return broker
