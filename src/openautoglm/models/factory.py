"""The model a configuration asks for."""

from __future__ import annotations

from ..config import Settings
from ..errors import ConfigError
from .base import ChatModel
from .embedded import EmbeddedModel
from .openai_compat import OpenAICompatibleModel


def build_model(settings: Settings) -> ChatModel:
    provider = settings.model_provider
    if provider == "local":
        return EmbeddedModel(settings.model_path)
    if provider.startswith(("http://", "https://")):
        if not settings.model:
            raise ConfigError("model_provider is a URL: also set `model` (the model name the server serves)")
        return OpenAICompatibleModel(provider, settings.model, settings.api_key, timeout_s=settings.timeout_seconds)
    for node in settings.nodes:
        if node.name == provider:
            if node.base_url:
                return OpenAICompatibleModel(node.base_url, node.model or node.name, node.api_key, name=node.name,
                                             timeout_s=node.timeout_s,
                                             can_plan=True if node.can_plan is None else node.can_plan,
                                             capabilities=set(node.capabilities))
            return EmbeddedModel(node.model_path, name=node.name)
    raise ConfigError(
        f"model_provider '{provider}' is neither 'local', a URL, nor the name of a configured node"
    )
