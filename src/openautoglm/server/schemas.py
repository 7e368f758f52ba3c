"""Request bodies of the gateway.

The OpenAI-compatible bodies ignore fields they do not know (the official clients send more over time, and refusing
them would break the clients); the gateway's own bodies forbid unknown fields. Text fields refuse NUL characters,
which no database column can hold.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


def _no_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str = Field(max_length=64)
    text: str | None = Field(default=None, max_length=200_000)

    _check = field_validator("text")(_no_nul)


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = Field(default=None)
    name: str | None = Field(default=None, max_length=256)

    _check = field_validator("content")(_no_nul)

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type in ("text", "input_text"))
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ChatCompletionIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=256, description="'autoglm' for the whole orchestration, "
                       "or a node's name for a plain completion")
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=1000)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=32768)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=32768)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(default=None, ge=-(2**63), lt=2**63)
    n: int = Field(default=1, ge=1, le=1, description="only one choice is produced")
    user: str | None = Field(default=None, max_length=256)
    session_id: str | None = Field(default=None, max_length=128, description="extension: the autoglm session")

    _check = field_validator("model", "user", "session_id")(_no_nul)

    @field_validator("stop")
    @classmethod
    def _stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        items = [value] if isinstance(value, str) else (value or [])
        if len(items) > 4:
            raise ValueError("at most 4 stop sequences")
        for item in items:
            _no_nul(item)
        return value


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request: str | None = Field(default=None, max_length=20_000, description="what to do, in words")
    plan: dict[str, Any] | None = Field(default=None, description="a plan to run instead of planning one")
    inputs: dict[str, Any] = Field(default_factory=dict, description="inputs for the plan")
    session_id: str | None = Field(default=None, max_length=128)

    _check = field_validator("request", "session_id")(_no_nul)

    @model_validator(mode="after")
    def _one(self) -> TaskIn:
        if (self.request is None) == (self.plan is None):
            raise ValueError("give exactly one of 'request' and 'plan'")
        return self


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: str = Field(min_length=1, max_length=64)
    rating: int = Field(ge=-1, le=1, description="-1 bad, 0 neutral, 1 good")
    comment: str | None = Field(default=None, max_length=4000)

    _check = field_validator("task_id", "comment")(_no_nul)


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["viewer", "user", "operator", "admin"]
    owner: str | None = Field(default=None, min_length=1, max_length=128,
                              description="whose tasks the key creates and reads; defaults to the key's id")
    name: str | None = Field(default=None, max_length=128)

    _check = field_validator("owner", "name")(_no_nul)


class RevokeTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jti: str = Field(min_length=1, max_length=128)
    expires_at: float | None = Field(default=None, description="the token's exp, after which the entry may go")

    _check = field_validator("jti")(_no_nul)


class SupportMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000, description="the customer's message")
    conversation_id: str | None = Field(default=None, min_length=1, max_length=128,
                                        description="keeps the customer's earlier messages (a follow-up leans on "
                                        "the previous one)")

    _check = field_validator("text", "conversation_id")(_no_nul)


class TicketDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["approve", "edit", "reject", "reply"] = Field(
        description="approve: send the draft; edit: send your version of it; reply: send your own answer; "
        "reject: discard the draft (the ticket stays open for a reply)")
    text: str | None = Field(default=None, min_length=1, max_length=4000, description="for edit and reply")

    _check = field_validator("text")(_no_nul)

    @model_validator(mode="after")
    def _text_when_sending_it(self) -> TicketDecisionIn:
        if self.action in ("edit", "reply") and not (self.text or "").strip():
            raise ValueError(f"{self.action} needs the text to send")
        return self
