"""Helpers for the HTTP/safety tool tests: SSRF spellings of one loopback port, recording contexts, resolvers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from openautoglm.tools.base import ToolContext


def loopback_spellings(port: int) -> list[str]:
    """URLs that all mean 127.0.0.1:port (or this machine) to a permissive client."""
    hosts = [
        "127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.1", "0x7f000001", "017700000001", "127.1", "127.0.1",
        "0x7f.0.0.1", "0177.0.0.01", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]",
        "[::127.0.0.1]", "[64:ff9b::127.0.0.1]", "[2002:7f00:1::]", "[::1]", "localhost", "localhost.", "LOCALHOST",
        "foo.localhost", "0", "0.0.0.0", "[::]", "127.255.255.254", "evil.com@127.0.0.1", "user:pw@127.0.0.1",
        "%31%32%37.0.0.1",
    ]
    return [f"http://{h}:{port}/admin" for h in hosts] + [
        f"http://127.0.0.1:{port}#@example.com/",
        f"http://evil.com\\@127.0.0.1:{port}/",
        f"https://127.0.0.1:{port}/",
    ]


# Other private, link-local, reserved, multicast and special addresses (nothing listens; they must be refused
# before any connection is tried, so the tests stay on loopback).
OTHER_UNSAFE = [
    "http://10.0.0.1/", "http://172.16.5.4/", "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/", "http://100.64.0.1/", "http://100.127.255.254/", "http://224.0.0.1/",
    "http://239.255.255.250:1900/", "http://255.255.255.255/", "http://240.0.0.1/", "http://192.0.0.170/",
    "http://198.18.0.1/", "http://192.0.2.10/", "http://[fe80::1]/", "http://[fe80::1%25eth0]/", "http://[ff02::1]/",
    "http://[fc00::1]/", "http://[fec0::1]/", "http://[2001:db8::1]/", "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    "http://[::ffff:169.254.169.254]/", "http://[::ffff:a9fe:a9fe]/", "http://2852039166/", "http://0xa9fea9fe/",
    "http://0251.0376.0251.0376/", "http://169.254.43518/", "http://[64:ff9b:1::a00:1]/", "http://0x0a.0.0.1/",
    "http://012.1/",
]

NOT_HTTP = ["file:///etc/passwd", "gopher://127.0.0.1:70/_x", "ftp://127.0.0.1/", "dict://127.0.0.1:11211/",
            "javascript:alert(1)", "data:text/html,hi", "//127.0.0.1/", "http:///etc/passwd", "ldap://127.0.0.1/"]


class Recorder:
    """A ToolContext whose events are kept: ``ctx``, ``events``, ``kinds()``."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.ctx = ToolContext(task_id="t", step_id="s", emit=self.emit)

    def emit(self, kind: str, **data: Any) -> None:
        self.events.append((str(kind), data))

    def kinds(self) -> list[str]:
        return [k for k, _ in self.events]


def static_resolver(table: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    """A DNS stand-in: names in ``table`` resolve to their addresses, others fail like an unknown name."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        if host not in table:
            raise OSError(-2, "Name or service not known")
        return list(table[host])

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve
