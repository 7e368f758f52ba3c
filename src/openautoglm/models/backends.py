"""The model backends autoglm.yaml can name: ``nodes[].backend`` and ``model_provider``.

Built in: ``local`` (a GGUF file run in-process, the embedded model by default), ``openai`` (any
OpenAI-compatible server by URL) and ``ray`` (a GGUF file served by several Ray actors,
``models/ray_replicas.py``). A new backend is a :class:`ChatModel` with ``from_node`` and one line::

    @model_backends.register("echo")
    class EchoModel(ChatModel): ...

or, from an installed package, an entry point in the group ``openautoglm.models``.
"""

from __future__ import annotations

from ..registry import Registry
from .base import ChatModel

model_backends: Registry[ChatModel] = Registry(
    "openautoglm.models", "model backend", ChatModel,
    builtins=("openautoglm.models.embedded", "openautoglm.models.openai_compat", "openautoglm.models.ray_replicas"),
)
