"""A pure-ASGI middleware that refuses JSON bodies holding text UTF-8 cannot carry, before any route sees them.

Python's JSON parser accepts ``"\\ud800"`` (and, from bytes, raw surrogates) and hands the route a string that
cannot be encoded: stored, it breaks every later read of the record (the task list answers 500 to everyone); sent
to a node, it fails in the HTTP client and looks like the node's fault. So every JSON body is checked once, here,
for every route (ours and the ones other rooms mount): bytes that are not UTF-8 are a 400, a lone surrogate a 422
naming the field (``messages.0.content``), both in the gateway's JSON error shape.

The check is cheap for ordinary bodies: a strict UTF-8 decode and one regular-expression scan for a ``\\uD8..``-
``\\uDF..`` escape; only a body holding such an escape is parsed to find (or clear) the field.
"""

from __future__ import annotations

import json
from email.message import Message as MimeMessage

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..encodable import PROBLEM, may_hold_surrogates, unencodable_at
from .errors import error_response

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class TextGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in BODY_METHODS or not _json_body(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:  # the Guard outside has already capped the size
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = _problem(body)
        if problem is not None:
            status, message_text, param = problem
            response = error_response(status, "invalid_request_error", message_text, scope.get("path", ""),
                                      param=param)
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


def _json_body(scope: Scope) -> bool:
    """What FastAPI parses as JSON: no Content-Type at all, ``application/json`` or ``application/*+json``."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            mime = MimeMessage()
            mime["content-type"] = value.decode("latin-1")
            subtype = mime.get_content_subtype()
            return mime.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))
    return True


def _problem(body: bytes) -> tuple[int, str, str | None] | None:
    """(status, message, field) when ``body`` holds text that cannot be carried; None when it is fine."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return 400, f"the request body is not valid UTF-8 (byte {exc.start}); send JSON encoded as UTF-8", None
    if not may_hold_surrogates(text):
        return None
    try:
        data = json.loads(text)
    except ValueError:  # not JSON at all: the route's own validation answers that
        return None
    where = unencodable_at(data)
    if where is None:
        return None  # surrogate escapes that pair up into real characters (an emoji escaped as \ud83d\ude00)
    field = where or "body"
    return 422, f"invalid request: {field}: {PROBLEM}", field


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later calls wait for the client to disconnect, as they would have

    return replayed
