"""``backend: ray``: an embedded GGUF model served by several Ray actors, one node to the router.

Each replica is a Ray actor holding its own llama.cpp (:class:`~.embedded.EmbeddedModel`) on whichever cluster
node has a CPU for it; a request goes to the replica with the fewest requests in flight. The router sees one node
(its name, capabilities, breaker), so fallbacks, cooldowns and the trace work as for any node::

    nodes:
      - name: glm-replicas
        backend: ray
        model_path: /models/glm-4-9b-q4.gguf   # unset: the embedded SmolLM2; every node of the cluster reads it
        replicas: 3
        ray_address: 10.0.0.5:6379           # unset: the executor's cluster, RAY_ADDRESS, or a local Ray

A replica that died (its process or node) is restarted by Ray, and the call it was serving goes to the next
replica; only when every replica fails it is :class:`ModelUnavailable`, which the router counts against the node.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from ..config import NodeConfig
from ..errors import ModelUnavailable
from ..ray_connect import connect
from .backends import model_backends
from .base import ChatModel, ChatRequest, ChatResponse


class _Replica:
    """The actor: one llama.cpp model in one worker process."""

    def __init__(self, model_path: str | None, name: str, n_ctx: int) -> None:
        from .embedded import EmbeddedModel

        self.model = EmbeddedModel(model_path, name=name, n_ctx=n_ctx, n_threads=1)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await self.model.complete(request)

    async def where(self) -> tuple[str, int]:
        import ray

        return ray.get_runtime_context().get_node_id(), os.getpid()


@model_backends.register("ray")
class RayReplicasModel(ChatModel):
    supports_json_schema = True

    def __init__(self, name: str, model_path: str | None = None, replicas: int = 2, address: str | None = None,
                 n_ctx: int = 2048, num_cpus: float = 1.0) -> None:
        self.name = name
        self.model_path = model_path
        self.replicas = replicas
        self.address = address
        self.n_ctx = n_ctx
        self.num_cpus = num_cpus
        self.served = [0] * replicas  # calls answered, by replica
        self.lost = [0] * replicas  # calls a replica died under (each then taken by another replica)
        self._busy = [0] * replicas
        self._actors: list[Any] | None = None
        self._starting = asyncio.Lock()

    @classmethod
    def from_node(cls, config: NodeConfig) -> RayReplicasModel:
        model = cls(config.name, config.model_path, replicas=config.replicas, address=config.ray_address)
        model.capabilities = frozenset(config.capabilities)
        if config.can_plan is not None:
            model.can_plan = config.can_plan
        return model

    async def actors(self) -> list[Any]:
        """The replicas, started on the first call (each loads the model when it is first asked)."""
        if self._actors is None:
            async with self._starting:
                if self._actors is None:
                    await connect(self.address, f"model node '{self.name}' (backend: ray)")
                    import ray

                    replica = ray.remote(_Replica).options(num_cpus=self.num_cpus, max_restarts=-1)
                    self._actors = [replica.remote(self.model_path, self.name, self.n_ctx)
                                    for _ in range(self.replicas)]
        return self._actors

    async def complete(self, request: ChatRequest) -> ChatResponse:
        from ray.exceptions import ActorUnavailableError, RayActorError

        actors = await self.actors()
        # The least busy replica first; when one dies under the call (its process or node), the next takes it
        # (a completion has no side effects to repeat) while Ray restarts the dead one.
        gone: list[str] = []
        for pick in sorted(range(len(actors)), key=lambda i: (self._busy[i], self.served[i])):
            self._busy[pick] += 1
            try:
                response: ChatResponse = await actors[pick].complete.remote(request)
            except (RayActorError, ActorUnavailableError) as exc:
                self.lost[pick] += 1
                gone.append(f"replica {pick}: {type(exc).__name__}")
                continue
            finally:
                self._busy[pick] -= 1
            self.served[pick] += 1
            return response
        raise ModelUnavailable(f"model node '{self.name}': every replica failed the call ({'; '.join(gone)}); "
                               "Ray restarts them")

    async def where(self) -> list[tuple[str, int]]:
        """(Ray node id, pid) of each replica."""
        return list(await asyncio.gather(*(actor.where.remote() for actor in await self.actors())))

    def context_window(self) -> int:
        return self.n_ctx

    async def aclose(self) -> None:
        if self._actors is not None:
            import ray

            for actor in self._actors:
                ray.kill(actor)
            self._actors = None
