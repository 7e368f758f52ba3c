"""A tiny HTTP server on 127.0.0.1 for tests: answers with a handler function, counts every connection.

    def handler(request: LoopbackRequest) -> tuple[int, dict[str, str], bytes | str]: ...
    with LoopbackServer(handler) as server:
        server.url                # http://127.0.0.1:PORT
        server.connections        # TCP connections accepted so far (what SSRF tests assert is 0)
        server.requests           # LoopbackRequest records, in order

A fake service (Open-Meteo, the order API, ...) subclasses :class:`LoopbackService` and writes only its ``handle``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass
class LoopbackRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body or b"null")


Reply = tuple[int, dict[str, str], bytes | str]
Handler = Callable[[LoopbackRequest], Reply]


def json_reply(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return status, {"content-type": "application/json; charset=utf-8", **(headers or {})}, json.dumps(
        value, ensure_ascii=False)


@dataclass
class _Counter:
    connections: int = 0
    requests: list[LoopbackRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    counter: _Counter

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client went away before the answer (a process the test killed): not the server's error
        super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.counter.lock:
            self.counter.connections += 1
        super().process_request(request, client_address)


class LoopbackServer:
    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler = handler
        self.host = host
        self.port_wanted = port
        self._counter = _Counter()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def connections(self) -> int:
        return self._counter.connections

    @property
    def requests(self) -> list[LoopbackRequest]:
        return list(self._counter.requests)

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the server first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LoopbackServer:
        outer = self

        class RequestHandler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                record = LoopbackRequest(self.command, parts.path, parse_qs(parts.query),
                                         {k.lower(): v for k, v in self.headers.items()}, body)
                with outer._counter.lock:
                    outer._counter.requests.append(record)
                try:
                    status, headers, payload = outer.handler(record)
                except Exception as exc:  # a test handler's bug shows up as a 500, not a hung client
                    status, headers, payload = 500, {"content-type": "text/plain"}, f"handler error: {exc!r}"
                data = payload.encode("utf-8") if isinstance(payload, str) else payload
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "content-length" not in {k.lower() for k in headers}:
                    self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = _Server((self.host, self.port_wanted), RequestHandler)
        server.counter = self._counter
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LoopbackService:
    """A fake HTTP service on its own :class:`LoopbackServer`, answered by the subclass's :meth:`handle`:
    ``with Fake() as fake: fake.url ...`` (or ``start()``/``stop()``); ``requests`` is what it was asked."""

    def __init__(self, port: int = 0) -> None:
        self.server = LoopbackServer(self.handle, port=port)

    def handle(self, request: LoopbackRequest) -> Reply:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> list[LoopbackRequest]:
        return self.server.requests

    def start(self) -> Self:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_until_interrupted(self) -> None:  # pragma: no cover - the demo entry points'
        """Keep the (started) service up until Ctrl-C."""
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
