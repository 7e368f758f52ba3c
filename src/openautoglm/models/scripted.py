"""A model that answers from a script, for tests and demos: ``ScriptedModel(["first answer", "second"])``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ModelUnavailable
from .base import ChatModel, ChatRequest, ChatResponse

Reply = str | dict[str, Any] | Exception | Callable[[ChatRequest], Any]


class ScriptedModel(ChatModel):
    """Replies in order (a dict is sent as JSON, an exception is raised, a callable is called with the request);
    after the script runs out, the last reply repeats. Every request is kept in ``requests``."""

    def __init__(
        self,
        replies: Sequence[Reply],
        name: str = "scripted",
        supports_json_schema: bool = True,
        can_plan: bool = False,
        delay_s: float = 0.0,
    ) -> None:
        if not replies:
            raise ValueError("a ScriptedModel needs at least one reply")
        self.replies = list(replies)
        self.name = name
        self.supports_json_schema = supports_json_schema
        self.can_plan = can_plan
        self.delay_s = delay_s
        self.requests: list[ChatRequest] = []

    async def complete(self, request: ChatRequest) -> ChatResponse:
        index = min(len(self.requests), len(self.replies) - 1)
        self.requests.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        reply = self.replies[index]
        if callable(reply) and not isinstance(reply, Exception):
            reply = reply(request)
            if asyncio.iscoroutine(reply):
                reply = await reply
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, ChatResponse):
            return reply
        text = reply if isinstance(reply, str) else json.dumps(reply, ensure_ascii=False)
        prompt_words = sum(len(m.content.split()) for m in request.messages)
        return ChatResponse(text=text, model=self.name, prompt_tokens=prompt_words,
                            completion_tokens=len(text.split()) or 1)


class DeadModel(ChatModel):
    """A node that is always down: for fallback tests."""

    def __init__(self, name: str = "dead") -> None:
        self.name = name

    async def complete(self, request: ChatRequest) -> ChatResponse:
        raise ModelUnavailable(f"model node '{self.name}' is unreachable")
