"""The model a configuration asks for: one node, or, when ``nodes`` are configured, the pool over them.

Which class serves a node is looked up by name in :data:`models.backends.model_backends`; the pool is given
:func:`model_for_node` to make the clients of the nodes that join it.
"""

from __future__ import annotations

from ..config import NodeConfig, Settings
from ..errors import ConfigError
from .backends import model_backends
from .base import ChatModel
from .pool import Router


def backend_of(config: NodeConfig) -> str:
    """The node's backend: as configured, else ``openai`` for a node with a URL and ``local`` for one without."""
    return config.backend or ("openai" if config.base_url else "local")


def model_for_node(config: NodeConfig) -> ChatModel:
    """The client of one configured or registered node."""
    return model_backends.get(backend_of(config)).from_node(config)


def provider_node(settings: Settings) -> NodeConfig:
    """``model_provider`` as a node: a URL is an OpenAI-compatible server, any other value a backend's name."""
    provider = settings.model_provider
    if provider.startswith(("http://", "https://")):
        if not settings.model:
            raise ConfigError("model_provider is a URL: also set `model` (the model name the server serves)")
        return NodeConfig(name=settings.model, backend="openai", base_url=provider, model=settings.model,
                          api_key=settings.api_key, timeout_s=settings.timeout_seconds)
    if provider not in model_backends:
        raise ConfigError(f"model_provider '{provider}' is neither a URL nor a model backend "
                          f"({', '.join(model_backends.names())}); or configure `nodes:`")
    return NodeConfig(name=provider, backend=provider, model_path=settings.model_path, model=settings.model,
                      api_key=settings.api_key, timeout_s=settings.timeout_seconds)


def build_model(settings: Settings) -> ChatModel:
    if settings.nodes:
        return Router.from_settings(settings, node_factory=model_for_node)
    return model_for_node(provider_node(settings))
