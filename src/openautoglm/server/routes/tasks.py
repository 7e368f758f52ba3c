"""Tasks over HTTP: start one (``POST /v1/tasks``), read it, follow its events live (SSE), read its trace, cancel
it, resume it.

Each caller sees only the tasks they own (operators and admins see all); someone else's task id answers 404,
exactly like an id that does not exist, so ids cannot be probed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import StreamingResponse

from ...errors import NotFound, TaskConflict
from ...events import Event, EventKind
from ...store import FINISHED, TERMINAL, TaskRecord
from ..auth import Principal
from ..deps import Gateway, caller, gateway
from ..runner import TaskSpec
from ..schemas import TaskIn

router = APIRouter(tags=["tasks"])
END_KINDS = {EventKind.TASK_FINISHED, EventKind.TASK_FAILED, EventKind.CLARIFICATION}


def _task_json(task: TaskRecord) -> dict[str, Any]:
    return {"id": task.id, "status": task.status, "request": task.request, "owner": task.owner,
            "session_id": task.session_id, "plan": task.plan, "answer": task.answer, "confidence": task.confidence,
            "error": task.error, "created_at": task.created_at, "updated_at": task.updated_at}


def _missing(task_id: str) -> NotFound:
    return NotFound(f"no task '{task_id}' visible to you")


async def _visible(gw: Gateway, principal: Principal, task_id: str) -> TaskRecord:
    """The task if the caller may see it; NotFound otherwise (someone else's task too)."""
    try:
        return await asyncio.to_thread(gw.glm.store.get_task, task_id, principal.owner_filter)
    except NotFound:
        raise _missing(task_id) from None


@router.post("/v1/tasks", status_code=202, summary="Start a task; returns its id at once")
async def create_task(body: TaskIn, principal: Principal = Depends(caller("user")),
                      gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    if body.plan is not None:
        from ...plan import parse_plan, validate_plan

        # A plan written by a person is checked now, so its mistakes are a 400 here, not a failed task later.
        parsed = parse_plan(body.plan)
        validate_plan(parsed, (await gw.glm.load_tools()).schemas(), dict(body.inputs))
        spec = TaskSpec(kind="plan", plan=parsed.dump(), inputs=dict(body.inputs))
    else:
        text = body.request or ""
        if not text.strip():
            from ...errors import PlanError

            raise PlanError("the request is empty: say what you want done")
        spec = TaskSpec(kind="request", request=text)
    # Stored as queued before the 202: the task runs even if this process dies the next instant.
    task_id = await gw.runner.submit(spec, owner=principal.subject, role=principal.role,
                                     session_id=body.session_id if body.plan is None else None)
    return {"id": task_id, "status": "queued", "events": f"/v1/tasks/{task_id}/events",
            "trace": f"/v1/tasks/{task_id}/trace"}


@router.post("/v1/tasks/{task_id}/cancel", summary="Stop a task that is not over")
async def cancel_task(task_id: str, principal: Principal = Depends(caller("user")),
                      gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    task = await _visible(gw, principal, task_id)
    if not await gw.runner.cancel(task_id):
        raise TaskConflict(f"task {task_id} is already over ({task.status}); nothing to cancel")
    return {"id": task_id, "status": "cancelled"}


@router.post("/v1/tasks/{task_id}/resume", status_code=202,
             summary="Resume a cancelled or interrupted task from its log; finished steps are not run again")
async def resume_task(task_id: str, principal: Principal = Depends(caller("user")),
                      gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    await _visible(gw, principal, task_id)
    if not await gw.runner.resume(task_id):
        task = await _visible(gw, principal, task_id)
        if task.status in FINISHED:
            raise TaskConflict(f"task {task_id} already finished ({task.status}); nothing to resume")
        if task.status != "queued":
            raise TaskConflict(f"task {task_id} is running (status {task.status}); cancel it first")
    return {"id": task_id, "status": "queued", "events": f"/v1/tasks/{task_id}/events"}


@router.get("/v1/tasks", summary="Your recent tasks")
async def list_tasks(limit: int = Query(50, ge=1, le=500), principal: Principal = Depends(caller("viewer")),
                     gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    tasks = await asyncio.to_thread(gw.glm.store.list_tasks, principal.owner_filter, limit)
    return {"data": [_task_json(t) for t in tasks]}


@router.get("/v1/tasks/{task_id}", summary="A task's state and answer")
async def get_task(task_id: str, principal: Principal = Depends(caller("viewer")),
                   gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    return _task_json(await _visible(gw, principal, task_id))


@router.get("/v1/tasks/{task_id}/trace", summary="A task's audit trail")
async def get_trace(task_id: str, principal: Principal = Depends(caller("viewer")),
                    gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    task = await _visible(gw, principal, task_id)
    events = await asyncio.to_thread(gw.glm.store.events, task_id)
    return {"task_id": task_id, "status": task.status, "events": [e.to_dict() for e in events]}


@router.get("/v1/tasks/{task_id}/events", summary="A task's events, live, as server-sent events",
            response_class=StreamingResponse)
async def stream_events(task_id: str, principal: Principal = Depends(caller("viewer")),
                        gw: Gateway = Depends(gateway),
                        last_event_id: str | None = Header(default=None, max_length=20)) -> StreamingResponse:
    await _visible(gw, principal, task_id)
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    return StreamingResponse(_follow(gw, task_id, after), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _sse(ev: Event) -> bytes:
    data = json.dumps(ev.to_dict(), ensure_ascii=False, default=str)
    return f"id: {ev.seq}\nevent: {ev.kind}\ndata: {data}\n\n".encode()


async def _follow(gw: Gateway, task_id: str, after: int) -> AsyncIterator[bytes]:
    """Replay what is stored after ``after``, then follow live events (server/live.py) until the task is over;
    every ``live_poll_s`` without one, the log is read again (a task on another replica without Redis)."""
    store, runner = gw.glm.store, gw.runner
    poll_s = gw.settings.gateway.live_poll_s
    # Subscribed before the store is read, so nothing falls between the two.
    async with runner.live.follow(task_id) as queue:
        last = after
        while True:
            for ev in await asyncio.to_thread(store.events, task_id, last):
                yield _sse(ev)
                last = ev.seq
            if not runner.running_here(task_id) and await _finished(gw, task_id):
                for ev in await asyncio.to_thread(store.events, task_id, last):
                    yield _sse(ev)
                    last = ev.seq
                yield b"event: end\ndata: {}\n\n"
                return
            try:
                ev = await asyncio.wait_for(queue.get(), timeout=poll_s)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            while True:
                if ev.seq == last + 1:  # live, in order; a gap (or the end sentinel) is filled from the log
                    yield _sse(ev)
                    last = ev.seq
                if queue.empty():
                    break
                ev = queue.get_nowait()


async def _finished(gw: Gateway, task_id: str) -> bool:
    task = await asyncio.to_thread(gw.glm.store.get_task, task_id)
    return task.status in TERMINAL
