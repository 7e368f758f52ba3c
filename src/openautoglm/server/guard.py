"""One pure-ASGI middleware for what every request goes through: a cap on requests in flight (503), a body-size
limit enforced while the body is read (413; Content-Length is checked first but not trusted), a timeout until the
response starts (504), request metrics, a JSON access log line with the trace id, and a last-resort catch that
turns an unexpected exception into a JSON 500 without a stack trace.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import traceback

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_body, type_for_status
from .metrics import Metrics

log = structlog.get_logger("openautoglm.gateway")


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class Guard:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body: int, max_concurrent: int,
                 timeout_s: float, access_log: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body
        self.max_concurrent = max_concurrent
        self.timeout_s = timeout_s
        self.access_log = access_log
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope.get("path", "")
        trace_id = _trace_id(scope)
        structlog.contextvars.bind_contextvars(trace_id=trace_id)
        state = {"status": 500, "started": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-trace-id", trace_id.encode())]
                if deadline is not None:
                    deadline.reschedule(None)  # streams may run long once they have begun
            await send(message)

        deadline: asyncio.Timeout | None = None
        if self.in_flight >= self.max_concurrent:
            await _send_error(send, 503, "server_busy", "too many requests in flight; retry shortly", path,
                              [(b"retry-after", b"1")])
            self._observe(scope, 503, start, trace_id)
            return
        self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            length = _content_length(scope)
            if length is not None and length > self.max_body:
                await _send_error(send, 413, "request_too_large",
                                  f"request body larger than {self.max_body} bytes", path)
                state["status"] = 413
                return
            limited = _limit_body(receive, self.max_body)
            async with asyncio.timeout(self.timeout_s) as deadline:
                await self.app(scope, limited, send_wrapper)
        except TimeoutError:
            if not state["started"]:
                await _send_error(send, 504, "timeout",
                                  f"no response within {self.timeout_s:g}s; the work may still finish: "
                                  "use POST /v1/tasks for long requests", path)
                state["status"] = 504
        except BodyTooLarge as exc:
            if not state["started"]:
                await _send_error(send, 413, "request_too_large", str(exc.detail), path)
                state["status"] = 413
        except Exception as exc:
            # The traceback as plain text: for the operator's log, never for the client.
            log.error("unhandled_error", path=path, trace_id=trace_id, error_type=type(exc).__name__,
                      error=str(exc)[:500], traceback=traceback.format_exc(limit=20))
            self.metrics.errors.labels("internal_error").inc()
            if not state["started"]:
                await _send_error(send, 500, "internal_error",
                                  f"internal error; the server log has details under trace id {trace_id}", path)
            state["status"] = 500
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()
            self._observe(scope, int(state["status"]), start, trace_id)

    def _observe(self, scope: Scope, status: int, start: float, trace_id: str) -> None:
        elapsed = time.perf_counter() - start
        route = scope.get("route")
        name = getattr(route, "path", None) or "unmatched"
        self.metrics.requests.labels(scope.get("method", ""), name, str(status)).inc()
        self.metrics.request_latency.labels(name).observe(elapsed)
        if status >= 400:
            self.metrics.errors.labels(type_for_status(status)).inc()
        if self.access_log:
            log.info("request", method=scope.get("method"), path=scope.get("path"), status=status,
                     duration_ms=round(elapsed * 1000, 3), trace_id=trace_id)


def _trace_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"traceparent":
            parts = value.decode("latin-1").split("-")
            if len(parts) >= 2 and len(parts[1]) == 32:
                return parts[1]
    return secrets.token_hex(16)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _limit_body(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return limited


async def _send_error(send: Send, status: int, error_type: str, message: str, path: str,
                      headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(error_body(status, error_type, message, path)).encode()
    trace_id = structlog.contextvars.get_contextvars().get("trace_id", "")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"x-trace-id", str(trace_id).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
