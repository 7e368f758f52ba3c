"""A fake OpenAI-compatible server on loopback: the test double for model nodes, gateways and benchmarks.

It speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies, chunked server-sent events) on a raw asyncio
protocol in a background thread, so one instance answers many thousands of requests a second and tests stay fast.
Each instance has one behaviour, changeable while it runs::

    with FakeOpenAI("echo") as fake:                  # answers with the last user message
        model = OpenAICompatibleModel(fake.base_url, "fake")
    FakeOpenAI("text", text="hello")                  # a fixed answer; "json" answers json.dumps(json_value)
    FakeOpenAI("error", status=500)                   # every chat completion fails with that status
    FakeOpenAI("echo", error_rate=0.3, seed=1)        # 30 % of them fail with ``status`` (a seeded draw)
    FakeOpenAI("error", status=400, error_message="the request exceeds the available context size")
    FakeOpenAI("malformed")                           # 200 with a body that is not JSON
    FakeOpenAI("stall")                               # reads the request, never answers
    FakeOpenAI("cut_stream", cut_after=2)             # streams two chunks, then drops the connection
    fake.refuse()                                     # stop listening: connections are refused; fake.accept() undoes it
    fake.requests                                     # chat completion requests received so far

``python -m openautoglm.testing --port 8901 --mode echo`` runs one in its own process (benchmarks use
that, so the fake does not share a GIL with the client under test).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

Mode = Literal["echo", "text", "json", "error", "malformed", "stall", "cut_stream"]
MODES: tuple[str, ...] = ("echo", "text", "json", "error", "malformed", "stall", "cut_stream")
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


class FakeOpenAI:
    """One fake OpenAI-compatible server. ``start()`` (or ``with``) runs it on 127.0.0.1 in a background thread."""

    def __init__(
        self,
        mode: Mode = "echo",
        *,
        text: str = "ok",
        json_value: Any = None,
        status: int = 500,
        error_message: str | None = None,
        latency_s: float = 0.0,
        cut_after: int = 2,
        stream_delay_s: float = 0.0,
        model: str = "fake-model",
        port: int = 0,
        host: str = "127.0.0.1",
        error_rate: float = 0.0,
        seed: int | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        self.mode: str = mode
        self.text = text
        self.json_value = json_value
        self.status = status
        self.error_message = error_message
        self.latency_s = latency_s
        self.cut_after = cut_after
        self.stream_delay_s = stream_delay_s
        self.model = model
        self.host = host
        self.port = port
        self.error_rate = error_rate
        self._random = random.Random(seed)
        self.requests = 0  # chat completion requests received (whatever the answer)
        self.other_requests = 0  # /v1/models, health checks
        self.last_request: dict[str, Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._transports: set[asyncio.Transport] = set()
        self._lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._listen())
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name=f"fake-openai:{self.port}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = None
        self._loop = None

    def refuse(self) -> None:
        """Stop listening and drop open connections: new connections are refused until :meth:`accept`."""
        self._call(self._close)

    def accept(self) -> None:
        """Listen again on the same port after :meth:`refuse`."""
        self._call(self._listen)

    def set(self, **changes: Any) -> None:
        """Change the behaviour while running, e.g. ``fake.set(mode="error", status=503)``."""
        for key, value in changes.items():
            if not hasattr(self, key) or key.startswith("_"):
                raise AttributeError(f"FakeOpenAI has no setting {key!r}")
            if key == "mode" and value not in MODES:
                raise ValueError(f"unknown mode {value!r}")
            setattr(self, key, value)

    def reset_counts(self) -> None:
        with self._lock:
            self.requests = 0
            self.other_requests = 0

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, fn: Callable[[], Any]) -> None:
        if self._loop is None:
            raise RuntimeError("the fake server is not running; call start() first")
        asyncio.run_coroutine_threadsafe(fn(), self._loop).result(10)

    async def _listen(self) -> None:
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._server = await loop.create_server(lambda: _Connection(self), sock=sock, backlog=1024)

    async def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()
        if server is not None:
            await server.wait_closed()

    # -- answers ----------------------------------------------------------------------------------------------

    def _count(self, chat: bool) -> None:
        with self._lock:
            if chat:
                self.requests += 1
            else:
                self.other_requests += 1

    def answer_text(self, body: dict[str, Any]) -> str:
        if self.mode == "json":
            return json.dumps(self.json_value, ensure_ascii=False)
        if self.mode == "echo":
            messages = body.get("messages") or []
            users = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
            content = users[-1] if users else ""
            return content if isinstance(content, str) else json.dumps(content)
        return self.text


class _Connection(asyncio.Protocol):
    """One client connection: parses requests off the byte stream and answers them in order."""

    __slots__ = ("buffer", "closed", "fake", "transport")

    def __init__(self, fake: FakeOpenAI) -> None:
        self.fake = fake
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.fake._transports.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.transport is not None:
            self.fake._transports.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            lines = head.split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) < 2:
                self._send(400, {"error": {"message": "bad request line"}}, keep_alive=False)
                return
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return  # the body is still arriving
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            keep_alive = headers.get("connection", "").lower() != "close"
            self.handle(parts[0], parts[1].split("?")[0], body, keep_alive)

    def handle(self, method: str, path: str, body: bytes, keep_alive: bool) -> None:
        fake = self.fake
        if path.endswith("/chat/completions") and method == "POST":
            fake._count(True)
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                self._send(400, {"error": {"message": "the body is not JSON", "type": "invalid_request_error"}},
                           keep_alive)
                return
            fake.last_request = request
            if fake.mode == "stall":
                return  # read, never answered: the client's timeout is what ends it
            if fake.latency_s > 0:
                asyncio.get_running_loop().call_later(fake.latency_s, self.answer_chat, request, keep_alive)
            else:
                self.answer_chat(request, keep_alive)
            return
        fake._count(False)
        if path.endswith("/models") and method == "GET":
            self._send(200, {"object": "list", "data": [{"id": fake.model, "object": "model", "created": 0,
                                                         "owned_by": "fake"}]}, keep_alive)
        elif path in ("/healthz", "/health"):
            self._send(200, {"status": "ok"}, keep_alive)
        else:
            self._send(404, {"error": {"message": f"no route {method} {path}", "type": "not_found"}}, keep_alive)

    def answer_chat(self, request: dict[str, Any], keep_alive: bool) -> None:
        if self.closed:
            return
        fake = self.fake
        if fake.mode == "error" or (fake.error_rate and fake._random.random() < fake.error_rate):
            message = fake.error_message or f"fake failure {fake.status}"
            self._send(fake.status, {"error": {"message": message, "type": "server_error"}}, keep_alive)
            return
        if fake.mode == "malformed":
            self._raw(200, b'{"id": "chatcmpl-fake", "choices": [{"message": ', "application/json", keep_alive)
            return
        text = fake.answer_text(request)
        if request.get("stream"):
            asyncio.get_running_loop().create_task(self.stream(text, keep_alive))
            return
        words = len(text.split()) or 1
        self._send(200, {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": fake.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": words, "total_tokens": words + 1},
        }, keep_alive)

    async def stream(self, text: str, keep_alive: bool) -> None:
        fake = self.fake
        transport = self.transport
        if transport is None:
            return
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
                        b"transfer-encoding: chunked\r\n\r\n")
        pieces = _pieces(text)
        created = int(time.time())
        for index, piece in enumerate(pieces):
            if fake.mode == "cut_stream" and index >= fake.cut_after:
                transport.abort()  # mid-body, no terminating chunk: the client sees a broken stream
                return
            self._chunk(_sse({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created,
                              "model": fake.model,
                              "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}))
            if fake.stream_delay_s:
                await asyncio.sleep(fake.stream_delay_s)
            if self.closed:
                return
        if fake.mode == "cut_stream":
            transport.abort()
            return
        self._chunk(_sse({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created,
                          "model": fake.model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        self._chunk(b"data: [DONE]\n\n")
        transport.write(b"0\r\n\r\n")
        if not keep_alive:
            transport.close()

    def _chunk(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _send(self, status: int, payload: dict[str, Any], keep_alive: bool) -> None:
        self._raw(status, json.dumps(payload, ensure_ascii=False).encode(), "application/json", keep_alive)

    def _raw(self, status: int, body: bytes, content_type: str, keep_alive: bool) -> None:
        if self.transport is None or self.closed:
            return
        connection = "" if keep_alive else "connection: close\r\n"
        head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\ncontent-type: {content_type}\r\n"
                f"content-length: {len(body)}\r\n{connection}\r\n")
        self.transport.write(head.encode() + body)
        if not keep_alive:
            self.transport.close()


def _pieces(text: str) -> list[str]:
    """Split an answer into stream chunks the way tokenizers do: words with their leading space."""
    if not text:
        return [""]
    words = text.split(" ")
    return [words[0]] + [" " + w for w in words[1:]]


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


def closed_port_url() -> str:
    """A loopback base URL nothing listens on: connections to it are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/v1"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="a fake OpenAI-compatible server on loopback")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", choices=MODES, default="echo")
    parser.add_argument("--text", default="ok")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--status", type=int, default=500)
    args = parser.parse_args(argv)
    fake = FakeOpenAI(args.mode, text=args.text, latency_s=args.latency, status=args.status, port=args.port)

    async def serve() -> None:
        await fake._listen()
        print(f"listening {fake.base_url}", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
