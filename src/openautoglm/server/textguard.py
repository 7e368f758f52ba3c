"""A pure-ASGI middleware that refuses JSON bodies the gateway could store but never send back, before any route
sees them.

Python's JSON parser accepts ``"\\ud800"`` (and, from bytes, raw surrogates) and hands the route a string that
cannot be encoded, and it accepts values nested hundreds of levels deep that no response can serialise again:
stored, either breaks every later read of the record (the task list answers 500 to everyone); a surrogate sent to
a node fails in the HTTP client and looks like the node's fault. So every JSON body is checked once, here, for every
route (ours and the ones other rooms mount): bytes that are not UTF-8 are a 400, a lone surrogate or nesting past
``MAX_DEPTH`` a 422 naming the field (``messages.0.content``), in the gateway's JSON error shape.

The check is cheap for ordinary bodies: a strict UTF-8 decode, one regular-expression scan for a ``\\uD8..``-
``\\uDF..`` escape and a count of opening brackets; only a body that could hold either problem is parsed.
"""

from __future__ import annotations

import json
from email.message import Message as MimeMessage

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..encodable import TOO_DEEP, may_be_unstorable, unstorable_at
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
    if not may_be_unstorable(text):
        return None
    try:
        data = json.loads(text)
    except ValueError:  # not JSON at all: the route's own validation answers that
        return None
    except RecursionError:  # nested past what the parser can read, let alone store
        return 422, f"invalid request: body: {TOO_DEEP}", "body"
    found = unstorable_at(data)
    if found is None:
        return None  # e.g. surrogate escapes that pair up into real characters (an emoji as \ud83d\ude00)
    field = found[0] or "body"
    return 422, f"invalid request: {field}: {found[1]}", field


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later calls wait for the client to disconnect, as they would have

    return replayed
