"""The one interface every model node implements: :meth:`ChatModel.complete`."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ContextLengthExceeded

if TYPE_CHECKING:
    from ..config import NodeConfig


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant", "tool"]
    content: str


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[Message]
    max_tokens: int = Field(default=256, ge=1, le=32768)
    temperature: float = Field(default=0.0, ge=0, le=2)
    top_p: float = Field(default=1.0, gt=0, le=1)
    stop: list[str] = Field(default_factory=list)
    json_schema: dict[str, Any] | None = Field(
        default=None, description="constrain the output to JSON of this schema where the backend can"
    )
    capability: str = "text-generation"
    seed: int | None = None

    @classmethod
    def of(cls, prompt: str, system: str | None = None, **options: Any) -> ChatRequest:
        messages = [Message(role="system", content=system)] if system else []
        messages.append(Message(role="user", content=prompt))
        return cls(messages=messages, **options)

    @property
    def deterministic(self) -> bool:
        return self.temperature == 0 or self.seed is not None


class ChatResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    node: str | None = Field(default=None, description="the node that served it, when routed")


class ChatModel:
    """A model node. Subclasses implement :meth:`complete`; :meth:`stream` defaults to one chunk.

    A backend that autoglm.yaml can name (``nodes[].backend``, ``model_provider``) also implements
    :meth:`from_node` and registers: ``@model_backends.register("name")`` (``models/backends.py``)."""

    name: str = "model"
    supports_json_schema: bool = False
    capabilities: frozenset[str] = frozenset({"text-generation"})
    # A model that can be trusted to write a whole plan as JSON (see planning.choose_planner).
    can_plan: bool = False

    @classmethod
    def from_node(cls, config: NodeConfig) -> ChatModel:
        """The client of a node configured with this backend."""
        raise NotImplementedError(f"{cls.__name__} cannot be made from a node's configuration")

    def serves(self, capability: str) -> bool:
        """A call asking for ``capability`` reaches a model able to do it: one that declares it, or for
        ``planning`` one trusted to write plans. A pool answers for its members at this moment."""
        return capability in self.capabilities or (capability == "planning" and self.can_plan)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        raise NotImplementedError

    def context_window(self) -> int | None:
        """How many tokens the model reads at most (prompt and answer together); None when unknown."""
        return None

    def count_tokens(self, text: str) -> int | None:
        """How many tokens ``text`` is for this model; None when the backend cannot tell without a call."""
        return None

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        response = await self.complete(request)
        yield response.text

    async def probe(self) -> None:
        """A cheap health check for active probing; raises :class:`ModelUnavailable` when the node is down."""

    async def aclose(self) -> None:
        """Release what the node holds (connections, model weights)."""


# Messages of llama.cpp, its server, vLLM and OpenAI when a prompt does not fit: recognised so that such a
# failure is never taken for a node's fault and retried.
CONTEXT_LENGTH_MESSAGE = re.compile(r"context (?:window|length|size)|exceed_context_size|maximum context|"
                                    r"prompt is too long|n_ctx", re.IGNORECASE)


def ensure_fits(model: ChatModel, text: str, what: str = "the request") -> None:
    """Raise :class:`ContextLengthExceeded` at once when ``text`` alone is longer than ``model``'s context
    window (both known); a model that cannot tell lets it through."""
    window = model.context_window()
    if window is None:
        return
    tokens = model.count_tokens(text)
    if tokens is not None and tokens >= window:
        raise ContextLengthExceeded(
            f"{what} is {tokens:,} tokens ({len(text):,} characters), longer than the {window:,}-token context "
            f"of model '{model.name}': shorten it (about {len(text) * window // max(tokens, 1):,} characters fit) "
            "or configure a model with a longer context")


# Where a routed call reports its attempts (one per node tried), fallbacks and cache hits: ``emit(kind, **data)``,
# the same signature as ``ToolContext.emit``. A context variable, so ChatModel.complete keeps its one argument and
# planners and tools that call a model need no change to have its attempts land in their task's trace.
ModelEventSink = Callable[..., Any]
model_events: ContextVar[ModelEventSink | None] = ContextVar("model_events", default=None)


@contextmanager
def reporting_model_events(emit: ModelEventSink | None) -> Iterator[None]:
    """Within this block, routed model calls report their attempts to ``emit``."""
    token = model_events.set(emit)
    try:
        yield
    finally:
        model_events.reset(token)
