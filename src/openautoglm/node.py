"""A model node: serve a local GGUF model as an OpenAI-compatible endpoint and join a coordinator's pool.

::

    node = Node(name="local-glm-01", model_path="model.gguf")
    node.register("http://gateway:8000")      # or AUTOGLM_COORDINATOR_URL
    node.enable_task("text-generation")
    node.start()                              # serves on a free port, registers, heartbeats in the background
    ...
    node.stop()                               # leaves the pool, stops serving

The endpoint (``/v1/chat/completions`` with streaming, ``/v1/models``, ``/healthz``) runs in uvicorn on a background
thread; registration and heartbeats are plain HTTP calls from another thread, so ``start()`` returns at once and
works from synchronous code, a notebook, or a test. A heartbeat answered 404 (the coordinator restarted, or this
node lapsed and was forgotten) makes the node register again.

A node that registers serves its endpoint only to callers holding its **node token**, which the coordinator gives
it in the answer to the registration (and sends with each call): until then, and to anyone else, ``/v1/*`` answers
401. ``/healthz`` stays open. A node that never registers serves anyone who can reach it (a local endpoint).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import structlog

from .errors import AutoGLMError, ConfigError, ModelError
from .models.base import ChatModel, ChatRequest, ChatResponse, Message

log = structlog.get_logger("openautoglm.node")
SERVER_HINT = "the node endpoint needs the server extra: pip install 'openautoglm[server]'"


class Node:
    def __init__(
        self,
        name: str,
        model_path: str | Path | None = None,
        *,
        model: ChatModel | None = None,
        coordinator: str | None = None,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        advertise_url: str | None = None,
        ttl_s: float = 30.0,
        weight: float = 1.0,
    ) -> None:
        """``model`` (any ChatModel) replaces the GGUF file; ``api_key`` is this node's credential at the
        coordinator; ``advertise_url`` is how the coordinator reaches it when that is not ``http://host:port``."""
        self.name = name
        self._owns_model = model is None
        if model is None:
            from .models.embedded import EmbeddedModel

            model = EmbeddedModel(model_path, name=name)
        self.model = model
        self.coordinator = coordinator.rstrip("/") if coordinator else None
        self.api_key = api_key
        self.host = host
        self.port = port
        self.advertise_url = advertise_url
        self.ttl_s = ttl_s
        self.weight = weight
        self.capabilities: list[str] = []
        self.node_id: str | None = None
        self.node_token: str | None = None  # from the coordinator; the endpoint's credential once registering
        self.registrations = 0
        self._wants_registration = False
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._heartbeat: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- the user's verbs -------------------------------------------------------------------------------------

    def register(self, coordinator: str | None = None, api_key: str | None = None) -> Node:
        """Join the coordinator's pool when started (at once, if already started)."""
        if coordinator:
            self.coordinator = coordinator.rstrip("/")
        if api_key:
            self.api_key = api_key
        if self.coordinator is None:
            from .config import load_settings

            url = load_settings().coordinator_url
            if not url:
                raise ConfigError("no coordinator to register with: pass its URL (Node.register(url), "
                                  "--coordinator) or set AUTOGLM_COORDINATOR_URL")
            self.coordinator = url.rstrip("/")
        self._wants_registration = True
        if self.running:
            self._announce()
        return self

    def enable_task(self, capability: str) -> Node:
        """Serve ``capability`` (``text-generation``, ``planning``, ...); announced on (re-)registration."""
        if capability not in self.capabilities:
            self.capabilities.append(capability)
            if self.running and self._wants_registration:
                self._announce()
        return self

    def start(self, block: bool = False) -> Node:
        """Serve the endpoint and, if :meth:`register` was called, register and heartbeat until :meth:`stop`.

        Returns at once (the work runs on background threads); ``block=True`` serves until Ctrl-C, then stops,
        which is what a script whose last line is ``node.start()`` wants.
        """
        if block:
            self.start()
            try:
                self.wait()
            except KeyboardInterrupt:
                pass
            finally:
                self.stop()
            return self
        if self.running:
            return self
        self._serve()
        if self._wants_registration:
            self._announce()
            self._stopping.clear()
            self._heartbeat = threading.Thread(target=self._beat, name=f"node-heartbeat:{self.name}", daemon=True)
            self._heartbeat.start()
        return self

    def stop(self) -> None:
        """Leave the pool (best effort: the coordinator drops a silent node anyway), then stop serving."""
        self._stopping.set()
        if self._heartbeat is not None:
            self._heartbeat.join(10)
            self._heartbeat = None
        if self.node_id is not None and self.coordinator:
            try:
                with self._client() as client:
                    client.delete(f"{self.coordinator}/v1/nodes/{self.node_id}")
            except Exception as exc:  # the coordinator may be gone first; its TTL removes us then
                log.warning("node.deregister_failed", node=self.name, error=str(exc))
            self.node_id = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(15)
            self._thread = None
        self._server = None
        if self._owns_model:
            # The weights are ours to free; a thread of its own, as stop() may be called inside an event loop.
            closer = threading.Thread(target=lambda: asyncio.run(self.model.aclose()), name="node-close")
            closer.start()
            closer.join(30)

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C in the CLI)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def __enter__(self) -> Node:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def base_url(self) -> str:
        return (self.advertise_url or f"http://{self.host}:{self.port}").rstrip("/") + "/v1"

    # -- serving --------------------------------------------------------------------------------------------------

    def _serve(self) -> None:
        try:
            import uvicorn
        except ImportError as exc:
            raise ConfigError(SERVER_HINT) from exc
        config = uvicorn.Config(build_node_app(self.model, self.name, self._admits), host=self.host,
                                port=self.port, log_level="warning", access_log=False, lifespan="off")
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=server.run, name=f"node:{self.name}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"node '{self.name}' could not listen on {self.host}:{self.port} "
                                  "(in use? choose another --port)")
            time.sleep(0.01)
        if self.port == 0:
            self.port = server.servers[0].sockets[0].getsockname()[1]

    def _admits(self, authorization: str | None) -> bool:
        """Whether a call with this Authorization header may use the endpoint."""
        if not self._wants_registration and self.node_token is None:
            return True
        token = self.node_token
        scheme, _, credential = (authorization or "").partition(" ")
        return (token is not None and scheme.lower() == "bearer"
                and hmac.compare_digest(credential.strip().encode(), token.encode()))

    # -- the coordinator ----------------------------------------------------------------------------------------

    def _client(self) -> Any:
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return httpx.Client(headers=headers, timeout=10.0)

    def _announce(self) -> None:
        payload = {"name": self.name, "base_url": self.base_url, "model": self.name,
                   "capabilities": self.capabilities or ["text-generation"], "weight": self.weight,
                   "ttl_s": self.ttl_s}
        try:
            with self._client() as client:
                response = client.post(f"{self.coordinator}/v1/nodes", json=payload)
        except Exception as exc:
            raise ConfigError(f"cannot reach the coordinator at {self.coordinator}: {exc}; "
                              "is `autoglm serve` running there?") from exc
        if response.status_code >= 400:
            raise ConfigError(f"the coordinator at {self.coordinator} refused node '{self.name}' "
                              f"({response.status_code}): {response.text[:300]}")
        answer = response.json()
        if not answer.get("node_token"):
            raise ConfigError(f"the coordinator at {self.coordinator} gave node '{self.name}' no node token; "
                              "upgrade it (a node serves only callers holding its token)")
        self.node_token = str(answer["node_token"])
        self.node_id = str(answer["id"])
        self.registrations += 1
        log.info("node.registered", node=self.name, coordinator=self.coordinator, url=self.base_url)

    def _beat(self) -> None:
        from .hostload import HostLoad

        interval = max(0.05, self.ttl_s / 3)
        load = HostLoad()
        with self._client() as client:
            while not self._stopping.wait(interval):
                try:
                    response = client.post(f"{self.coordinator}/v1/nodes/{self.node_id}/heartbeat",
                                           json=load.read())
                    if response.status_code == 404:
                        self._announce()
                    elif response.status_code >= 400:
                        log.warning("node.heartbeat_refused", node=self.name, status=response.status_code)
                except Exception as exc:  # the coordinator is down: keep beating, rejoin when it is back
                    log.warning("node.heartbeat_failed", node=self.name, error=str(exc))


# -- the OpenAI-compatible endpoint -------------------------------------------------------------------------------


def build_node_app(model: ChatModel, served_name: str,
                   admits: Callable[[str | None], bool] | None = None) -> Any:
    """A small Starlette app serving ``model`` the way OpenAI's API does (the subset clients use); ``admits``
    decides from a request's Authorization header whether it may use ``/v1/*`` (default: everyone)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    def error(status: int, kind: str, message: str) -> JSONResponse:
        return JSONResponse({"error": {"type": kind, "message": message, "param": None, "code": kind}},
                            status_code=status)

    def refused(request: Request) -> JSONResponse | None:
        if admits is None or admits(request.headers.get("authorization")):
            return None
        return error(401, "authentication_error", "this node serves only its coordinator: send its node token "
                     "as 'Authorization: Bearer <token>'")

    async def chat(request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        try:
            body = await request.json()
            chat_request = to_chat_request(body)
        except (ValueError, TypeError, KeyError, AutoGLMError) as exc:
            return error(400, "invalid_request_error", f"bad request: {exc}")
        created = int(time.time())
        if body.get("stream"):
            return StreamingResponse(_sse(model, chat_request, served_name, created), media_type="text/event-stream")
        try:
            answer = await model.complete(chat_request)
        except ModelError as exc:
            return error(503 if exc.retryable else exc.http_status, exc.error_type, str(exc))
        return JSONResponse(completion_body(answer, served_name, created))

    async def models(request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        return JSONResponse({"object": "list", "data": [{"id": served_name, "object": "model", "created": 0,
                                                         "owned_by": "openautoglm-node"}]})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "model": served_name})

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                             Route("/v1/models", models, methods=["GET"]),
                             Route("/healthz", health, methods=["GET"])])


def to_chat_request(body: dict[str, Any]) -> ChatRequest:
    messages = []
    for m in body["messages"]:
        content = m.get("content") or ""
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        role = "system" if m.get("role") == "developer" else m.get("role")
        messages.append(Message(role=role, content=str(content)))
    options: dict[str, Any] = {}
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens:
        options["max_tokens"] = int(max_tokens)
    for key in ("temperature", "top_p", "seed"):
        if body.get(key) is not None:
            options[key] = body[key]
    stop = body.get("stop")
    if stop:
        options["stop"] = [stop] if isinstance(stop, str) else list(stop)
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        options["json_schema"] = (response_format.get("json_schema") or {}).get("schema") or {"type": "object"}
    elif response_format.get("type") == "json_object":
        options["json_schema"] = {"type": "object"}
    return ChatRequest(messages=messages, **options)


def completion_body(answer: ChatResponse, served_name: str, created: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{created}", "object": "chat.completion", "created": created, "model": served_name,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                     "finish_reason": answer.finish_reason}],
        "usage": {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
                  "total_tokens": answer.prompt_tokens + answer.completion_tokens},
    }


async def _sse(model: ChatModel, request: ChatRequest, served_name: str, created: int) -> AsyncIterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return "data: " + json.dumps({"id": f"chatcmpl-{created}", "object": "chat.completion.chunk",
                                      "created": created, "model": served_name,
                                      "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]},
                                     ensure_ascii=False) + "\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        async for piece in model.stream(request):
            yield chunk({"content": piece})
    except Exception as exc:
        # Headers are sent: the only honest signal left is an error event and no finish_reason.
        log.warning("node.stream_failed", error=str(exc))
        yield "data: " + json.dumps({"error": {"type": "model_error", "message": str(exc)}}) + "\n\n"
        return
    yield chunk({}, "stop")
    yield "data: [DONE]\n\n"
