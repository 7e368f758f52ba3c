"""``POST /v1/chat/completions`` and ``GET /v1/models``, as the OpenAI clients expect them.

Model ``autoglm`` runs the whole orchestration over the whole ``messages`` array (memory/conversation.py): the
system prompt instructs every writer, earlier turns are the planner's history. The answer is the message; the task
id, status, plan and steps ride along in an ``autoglm`` extension field (the official clients keep unknown
fields). Streamed, it sends a chunk per progress event (plan made, step started/finished/failed/retried) with an
empty delta and the event in ``autoglm``, then the answer as content chunks. Any other model name goes to that
node as a plain completion.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse

from ...app import RunResult, new_task_id
from ...errors import AutoGLMError, NotFound, PlanError
from ...events import Event, EventKind, EventSink
from ...memory.conversation import conversation
from ...models.base import ChatModel, ChatRequest, ChatResponse, Message
from ..auth import Principal
from ..deps import Gateway, caller, gateway
from ..errors import error_body
from ..runner import TaskSpec
from ..schemas import ChatCompletionIn

router = APIRouter()
AUTOGLM = "autoglm"
PROGRESS = {EventKind.PLAN_MADE, EventKind.STEP_STARTED, EventKind.STEP_FINISHED, EventKind.STEP_FAILED,
            EventKind.STEP_RETRY, EventKind.STEP_SKIPPED, EventKind.CLARIFICATION, EventKind.FALLBACK}
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class ModelNotFound(NotFound):
    error_type = "model_not_found"


@router.get("/v1/models", summary="Models: 'autoglm' and each model node")
async def list_models(_: Principal = Depends(caller("viewer")), gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    rows = await asyncio.to_thread(gw.glm.describe_models)
    data = [{"id": AUTOGLM, "object": "model", "created": 0, "owned_by": "openautoglm",
             "description": "plans the request, runs the steps, answers with a trace"}]
    data += [{"id": str(r.get("name")), "object": "model", "created": 0, "owned_by": "node",
              "state": r.get("state"), "capabilities": r.get("capabilities")} for r in rows]
    return {"object": "list", "data": data}


@router.post("/v1/chat/completions", summary="Chat completion (OpenAI-compatible; model 'autoglm' orchestrates)",
             response_model=None)
async def chat_completions(body: ChatCompletionIn, request: Request,
                           principal: Principal = Depends(caller("user")),
                           gw: Gateway = Depends(gateway)) -> JSONResponse | StreamingResponse:
    if body.model == AUTOGLM:
        return await _orchestrate(body, principal, gw)
    model = resolve_model(gw, body.model)
    chat = _chat_request(body)
    if body.stream:
        return await _stream_plain(model, chat, body)
    response = await model.complete(chat)
    gw.metrics.tokens.labels("prompt", response.node or body.model).inc(response.prompt_tokens)
    gw.metrics.tokens.labels("completion", response.node or body.model).inc(response.completion_tokens)
    return JSONResponse(_completion(body.model, response))


# -- plain completions on a node ------------------------------------------------------------------------------


def resolve_model(gw: Gateway, name: str) -> ChatModel:
    """The node called ``name``: a router's member if the app's model is a router, else the model itself."""
    model = gw.glm.model
    for attr in ("node", "get_node"):
        pick = getattr(model, attr, None)
        if callable(pick):
            try:
                found = pick(name)
            except (KeyError, LookupError, AutoGLMError):
                found = None
            if isinstance(found, ChatModel):
                return found
    nodes = getattr(model, "nodes", None)
    if isinstance(nodes, Mapping) and isinstance(nodes.get(name), ChatModel):
        return nodes[name]
    if isinstance(nodes, list | tuple):
        for node in nodes:
            if isinstance(node, ChatModel) and node.name == name:
                return node
    if model.name == name:
        return model
    raise ModelNotFound(f"no model '{name}'; GET /v1/models lists them ('{AUTOGLM}' runs the whole orchestration)")


def _chat_request(body: ChatCompletionIn) -> ChatRequest:
    messages = [Message(role="system" if m.role == "developer" else m.role, content=m.text) for m in body.messages]
    options: dict[str, Any] = {}
    max_tokens = body.max_completion_tokens or body.max_tokens
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    if body.temperature is not None:
        options["temperature"] = body.temperature
    if body.top_p is not None:
        options["top_p"] = body.top_p
    if body.stop:
        options["stop"] = [body.stop] if isinstance(body.stop, str) else list(body.stop)
    if body.seed is not None:
        options["seed"] = body.seed
    return ChatRequest(messages=messages, **options)


def _completion(model: str, response: ChatResponse) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{new_task_id()}", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": response.text},
                     "finish_reason": response.finish_reason, "logprobs": None}],
        "usage": {"prompt_tokens": response.prompt_tokens, "completion_tokens": response.completion_tokens,
                  "total_tokens": response.prompt_tokens + response.completion_tokens},
    }


def _chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None = None,
           extension: dict[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
                            "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if extension is not None:
        body[AUTOGLM] = extension
    return sse(body)


def sse(body: Any) -> bytes:
    return b"data: " + json.dumps(body, ensure_ascii=False, default=str).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


async def _stream_plain(model: ChatModel, chat: ChatRequest, body: ChatCompletionIn) -> StreamingResponse:
    pieces = model.stream(chat).__aiter__()
    # The first piece is awaited before answering, so a node that is down is a proper HTTP error, not a stream.
    try:
        first: str | None = await pieces.__anext__()
    except StopAsyncIteration:
        first = None
    cid = f"chatcmpl-{new_task_id()}"

    async def gen() -> AsyncIterator[bytes]:
        yield _chunk(cid, body.model, {"role": "assistant", "content": ""})
        try:
            if first:
                yield _chunk(cid, body.model, {"content": first})
            async for piece in pieces:
                if piece:
                    yield _chunk(cid, body.model, {"content": piece})
        except AutoGLMError as exc:
            yield sse(error_body(exc.http_status, exc.error_type, str(exc), "/v1/chat"))
            yield DONE
            return
        yield _chunk(cid, body.model, {}, "stop")
        yield DONE

    return StreamingResponse(gen(), media_type="text/event-stream", headers=SSE_HEADERS)


# -- the orchestration ----------------------------------------------------------------------------------------


def _extension(result: RunResult) -> dict[str, Any]:
    return {"task_id": result.task_id, "status": result.status, "confidence": result.confidence,
            "question": result.question,
            "plan": result.plan.dump() if result.plan else None, "steps": [s.summary() for s in result.steps]}


def _usage(events: list[Event]) -> dict[str, int]:
    prompt = sum(int(e.data.get("prompt_tokens") or 0) for e in events if e.kind == EventKind.MODEL_COMPLETION)
    completion = sum(int(e.data.get("completion_tokens") or 0) for e in events
                     if e.kind == EventKind.MODEL_COMPLETION)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def _orchestrate(body: ChatCompletionIn, principal: Principal, gw: Gateway) -> JSONResponse | StreamingResponse:
    session = body.session_id
    # The whole conversation counts: the system prompt instructs every writer, and earlier turns are the history
    # (a session's own record when the client names one; otherwise the messages, matched to this owner's tasks).
    said = await asyncio.to_thread(conversation, [(m.role, m.text) for m in body.messages],
                                   None if session else gw.glm.store, principal.subject)
    text = said.request
    if not text.strip():
        raise PlanError("the last user message is empty: say what you want done")
    # Stored (queued under this process's lease) before it runs: if the process dies, another one finishes it.
    history = None if session else said.history
    task_id = await gw.runner.reserve(TaskSpec.chat(text, history, said.instructions), owner=principal.subject,
                                      role=principal.role, session_id=session)
    seen: list[Event] = []

    def start(tid: str, sink: EventSink) -> Any:
        return gw.glm.run(text, session_id=session, owner=principal.subject, on_event=sink, task_id=tid,
                          role=principal.role, history=history, instructions=said.instructions, leased=True)

    if not body.stream:
        # Shielded: if the request times out (504) or the client leaves, the task still finishes and is recorded.
        job = asyncio.create_task(gw.runner.run("chat", start, task_id=task_id, on_event=seen.append,
                                                owner=principal.subject), name=f"chat:{task_id}")
        gw.runner.keep(job)
        result = await asyncio.shield(job)
        payload = {
            "id": f"chatcmpl-{result.task_id}", "object": "chat.completion", "created": int(time.time()),
            "model": AUTOGLM,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": result.answer},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": _usage(seen), AUTOGLM: _extension(result),
        }
        return JSONResponse(payload)

    queue: asyncio.Queue[Event | None] = asyncio.Queue()
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def on_event(ev: Event) -> None:
        seen.append(ev)
        if ev.kind in PROGRESS:
            queue.put_nowait(ev)

    async def run() -> RunResult:
        try:
            return await gw.runner.run("chat", start, task_id=task_id, on_event=on_event, owner=principal.subject)
        finally:
            queue.put_nowait(None)

    # The task runs to the end even if the client goes away: it is recorded, and its trace stays readable.
    job = asyncio.create_task(run(), name=f"chat:{task_id}")
    gw.runner.keep(job)
    cid = f"chatcmpl-{task_id}"

    async def gen() -> AsyncIterator[bytes]:
        yield _chunk(cid, AUTOGLM, {"role": "assistant", "content": ""}, extension={"task_id": task_id})
        while (ev := await queue.get()) is not None:
            yield _chunk(cid, AUTOGLM, {}, extension={"task_id": task_id, "event": ev.kind, "step": ev.step_id,
                                                      "seq": ev.seq, "uses": ev.data.get("uses")})
        try:
            result = await job
        except AutoGLMError as exc:
            yield sse(error_body(exc.http_status, exc.error_type, str(exc), "/v1/chat"))
            yield DONE
            return
        for piece in _pieces(result.answer):
            yield _chunk(cid, AUTOGLM, {"content": piece})
        yield _chunk(cid, AUTOGLM, {}, "stop", extension=_extension(result))
        if include_usage:
            usage_chunk = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
                           "model": AUTOGLM, "choices": [], "usage": _usage(seen)}
            yield sse(usage_chunk)
        yield DONE

    return StreamingResponse(gen(), media_type="text/event-stream", headers=SSE_HEADERS)


def _pieces(text: str, size: int = 48) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]
