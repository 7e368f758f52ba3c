"""Model nodes behind one interface: :class:`ChatModel`."""

from .base import ChatModel, ChatRequest, ChatResponse, Message
from .scripted import DeadModel, ScriptedModel

__all__ = ["ChatModel", "ChatRequest", "ChatResponse", "DeadModel", "Message", "ScriptedModel"]
