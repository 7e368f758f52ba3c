"""The model a configuration asks for: one node, or, when ``nodes`` are configured, the router over them."""

from __future__ import annotations

from ..config import NodeConfig, Settings
from ..errors import ConfigError
from .base import ChatModel
from .embedded import EmbeddedModel
from .openai_compat import OpenAICompatibleModel


def model_for_node(node: NodeConfig) -> ChatModel:
    """The client of one configured or registered node."""
    if node.base_url:
        return OpenAICompatibleModel(node.base_url, node.model or node.name, node.api_key, name=node.name,
                                     timeout_s=node.timeout_s,
                                     can_plan=True if node.can_plan is None else node.can_plan,
                                     capabilities=set(node.capabilities))
    # No base_url: a GGUF file run in-process (model_path, or the embedded model when it is unset).
    model = EmbeddedModel(node.model_path, name=node.name)
    model.capabilities = frozenset(node.capabilities)
    if node.can_plan is not None:
        model.can_plan = node.can_plan
    return model


def build_model(settings: Settings) -> ChatModel:
    if settings.nodes:
        from ..router import Router

        return Router.from_settings(settings)
    provider = settings.model_provider
    if provider == "local":
        return EmbeddedModel(settings.model_path)
    if provider.startswith(("http://", "https://")):
        if not settings.model:
            raise ConfigError("model_provider is a URL: also set `model` (the model name the server serves)")
        return OpenAICompatibleModel(provider, settings.model, settings.api_key, timeout_s=settings.timeout_seconds)
    raise ConfigError(
        f"model_provider '{provider}' is neither 'local', a URL, nor the name of a configured node"
    )
