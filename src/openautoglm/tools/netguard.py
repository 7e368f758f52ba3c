"""Outbound HTTP that cannot be pointed at the machine it runs on or at its network (SSRF protection).

Every outbound tool (OpenAPI tools, ``web.fetch``, ``weather.forecast``) sends its requests through
:class:`NetGuard`. For each request, and again for every redirect hop, it:

1. parses the URL once (httpx's parser, the same one that builds the request) and accepts only http/https;
2. reads the host in every spelling a resolver would accept: IPv6 literals, dotted quads, and the legacy
   inet_aton forms (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``) — then resolves names with DNS;
3. refuses loopback, private, link-local, multicast, reserved, unspecified, shared (CGNAT), documentation and
   benchmark ranges, and IPv6 forms that carry an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4,
   Teredo) — unless the host or address is allow-listed (``http_allow: [hosts or CIDRs]``);
4. connects to the very address it checked (the request URL is rewritten to the IP; Host header and TLS SNI keep
   the name), so a second DNS answer cannot swap in another address (no DNS-rebinding window);
5. reads at most ``max_bytes`` (after decompression) within ``timeout_s`` for the whole exchange.

Each refusal raises :class:`~openautoglm.errors.UnsafeTargetError` and is recorded as a ``tool.denied`` event.
Proxies from the environment are ignored on purpose: a proxy would connect to a name we never vetted.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..errors import ConfigError, ToolError, UnsafeTargetError
from ..events import EventKind

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

DEFAULT_TIMEOUT_S = 15.0
DEFAULT_MAX_BYTES = 5_000_000
DEFAULT_MAX_REDIRECTS = 5
_PIN = "openautoglm.pinned_target"
_LOCATION = "x-openautoglm-location"
# What a host name may look like; anything else (percent signs, spaces, NUL, backslashes) is refused unread.
_LABEL = r"[a-z0-9_]([a-z0-9_\-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")
_LEGACY_PART = re.compile(r"^(0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*)$")
_REDIRECTS = (301, 302, 303, 307, 308)
# Headers that carry credentials: never forwarded to another origin on a redirect.
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_TEREDO = ipaddress.ip_network("2001::/32")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")


def parse_legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address a C resolver (``inet_aton``) reads in ``host``: 1 to 4 parts, each decimal, octal (leading 0)
    or hex (0x), the last part filling the remaining bytes. None when ``host`` is not such a number."""
    parts = host.lower().split(".")
    if not 1 <= len(parts) <= 4 or not all(_LEGACY_PART.match(p) for p in parts):
        return None
    values: list[int] = []
    for p in parts:
        if p.startswith("0x"):
            values.append(int(p[2:] or "0", 16))
        elif p.startswith("0") and len(p) > 1:
            values.append(int(p, 8))
        else:
            values.append(int(p))
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = 0
    for v in head:
        number = number * 256 + v
    number = number * 256 ** (4 - len(head)) + last
    return ipaddress.IPv4Address(number)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address carries, and how: mapped, compatible, NAT64, 6to4."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped IPv6"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "IPv4-compatible IPv6"
    return None


def unsafe_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be reached from a tool, or None when it is an ordinary public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "a scoped (zone) IPv6 address"
        carried = embedded_ipv4(ip)
        if carried is not None:
            inner, how = carried
            reason = unsafe_reason(inner)
            # These translation forms have no business in a tool's URL even with a public inner address.
            return f"{how} address of {inner}" + (f" ({reason})" if reason else "")
        if ip in _TEREDO:
            return "a Teredo tunnel address"
        if ip in _NAT64_LOCAL:
            return "a local-use NAT64 address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "shared address space (carrier-grade NAT)"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "not globally routable (special-purpose range)"
    return None


def parse_host(host: str) -> IPAddress | None:
    """The IP address ``host`` spells, in any form a resolver accepts; None for a DNS name."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    return parse_legacy_ipv4(bare)


async def system_resolver(host: str, port: int) -> list[str]:
    """Addresses for ``host`` from the system resolver (getaddrinfo), without blocking the event loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True, slots=True)
class Target:
    """A vetted destination: the URL as given, its host name, and the address to connect to."""

    url: httpx.URL
    host: str
    ip: str
    port: int
    allowed_by: str | None = None  # the allow-list entry that let it through, if any


@dataclass
class FetchedResponse:
    status_code: int
    headers: httpx.Headers
    content: bytes
    url: str
    redirects: list[str] = field(default_factory=list)
    truncated: bool = False

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def text(self) -> str:
        return httpx.Response(self.status_code, headers=self.headers, content=self.content).text

    def json(self) -> Any:
        import json

        return json.loads(self.content)


class AllowList:
    """Hosts (exact, or ``*.example.com`` for subdomains) and address ranges (CIDR or single IP) let through."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.entries = [str(e).strip() for e in entries if str(e).strip()]
        self.names: set[str] = set()
        self.suffixes: list[str] = []
        self.networks: list[IPNetwork] = []
        for entry in self.entries:
            try:
                self.networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            name = entry.lower().rstrip(".")
            if name.startswith("*."):
                self.suffixes.append(name[1:])
            elif _HOSTNAME.match(name):
                self.names.add(name)
            else:
                raise ConfigError(f"http_allow: {entry!r} is neither a host name nor an address/CIDR")

    def host(self, name: str) -> str | None:
        if name in self.names:
            return name
        return next((f"*{s}" for s in self.suffixes if name.endswith(s)), None)

    def address(self, ip: IPAddress) -> str | None:
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        for net in self.networks:
            if any(c.version == net.version and c in net for c in candidates):
                return str(net)
        return None


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """Connects each request to the address NetGuard vetted for it; refuses any request it did not vet."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = request.extensions.pop(_PIN, None)
        if not isinstance(target, Target) or target.url.host != request.url.host:
            raise UnsafeTargetError(f"refused {request.url}: the request was not checked by the network guard")
        if parse_host(target.host) is None:
            # A name: keep it for the Host header (already set) and for TLS, but dial the vetted address.
            request.extensions["sni_hostname"] = target.host
        request.url = request.url.copy_with(host=target.ip)
        response = await super().handle_async_request(request)
        # Hide Location from httpx: it would parse (and may reject) the redirect target itself; NetGuard vets
        # and follows each hop on its own.
        if "location" in response.headers:
            response.headers[_LOCATION] = response.headers["location"]
            del response.headers["location"]
        return response


class NetGuard:
    """Vets and sends outbound HTTP requests. One instance per policy; cheap to make."""

    def __init__(
        self,
        allow: Iterable[str] = (),
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        resolver: Resolver | None = None,
        user_agent: str = "Open-AutoGLM (+https://github.com/open-autoglm)",
    ) -> None:
        self.allow = allow if isinstance(allow, AllowList) else AllowList(allow)
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.resolver = resolver or system_resolver
        self.user_agent = user_agent

    @classmethod
    def from_settings(cls, settings: Any, extra_allow: Iterable[str] = (), **kwargs: Any) -> NetGuard:
        allow = [*(getattr(settings, "http_allow", None) or []), *extra_allow]
        timeout = getattr(settings, "http_timeout_s", None) or DEFAULT_TIMEOUT_S
        max_bytes = getattr(settings, "http_max_bytes", None) or DEFAULT_MAX_BYTES
        return cls(allow, timeout_s=timeout, max_bytes=max_bytes, **kwargs)

    def with_allowed(self, *entries: str) -> NetGuard:
        """The same policy with more allow-list entries (an API the user points at their own service)."""
        return NetGuard([*self.allow.entries, *entries], timeout_s=self.timeout_s, max_bytes=self.max_bytes,
                        max_redirects=self.max_redirects, resolver=self.resolver, user_agent=self.user_agent)

    # -- vetting ------------------------------------------------------------------------------------------------

    def _refuse(self, url: Any, why: str, ctx: Any, tool: str | None) -> UnsafeTargetError:
        shown = str(url)
        if len(shown) > 200:
            shown = shown[:200] + "..."
        message = f"refused {shown}: {why}"
        emit = getattr(ctx, "emit", None)
        if callable(emit):
            emit(EventKind.TOOL_DENIED, tool=tool, reason=message, url=shown)
        return UnsafeTargetError(message)

    async def vet(self, url: str | httpx.URL, ctx: Any = None, tool: str | None = None) -> Target:
        """Check ``url`` and pick the address to connect to, or raise :class:`UnsafeTargetError`."""
        raw = str(url)
        # httpx rejects some spellings (octal quads); say what they are before saying the URL is malformed.
        pre = re.match(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://(?:[^/?#@]*@)?([^/?#:\[\]]+)", raw)
        if pre and (legacy := parse_legacy_ipv4(pre.group(1))) is not None:
            reason = unsafe_reason(legacy)
            if reason and self.allow.address(legacy) is None:
                raise self._refuse(raw, _why(pre.group(1), legacy, reason), ctx, tool)
        try:
            parsed = url if isinstance(url, httpx.URL) else httpx.URL(raw)
        except (httpx.InvalidURL, ValueError) as exc:
            raise self._refuse(raw, f"not a valid URL ({exc})", ctx, tool) from None
        if parsed.scheme not in ("http", "https"):
            raise self._refuse(raw, f"scheme {parsed.scheme or '(none)'!r} is not allowed; use http or https",
                               ctx, tool)
        host = parsed.host.lower().rstrip(".")
        if not host:
            raise self._refuse(raw, "the URL has no host", ctx, tool)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        ip = parse_host(host)
        if ip is None and not _HOSTNAME.match(host):
            raise self._refuse(raw, f"host {host!r} is not a plain host name (encoded or odd characters)", ctx, tool)
        allowed_name = self.allow.host(host) if ip is None else None

        if ip is not None:
            addresses = [ip]
        else:
            if allowed_name is None and (host == "localhost" or host.endswith(".localhost")):
                raise self._refuse(raw, f"host {host!r} is this machine (loopback)", ctx, tool)
            try:
                async with asyncio.timeout(self.timeout_s):
                    found = await self.resolver(host, port)
            except TimeoutError:
                raise ToolError(f"cannot reach {host}: DNS lookup timed out after {self.timeout_s:g}s") from None
            except OSError as exc:
                raise ToolError(f"cannot reach {host}: DNS lookup failed ({exc}); check the host name and the "
                                "network") from None
            addresses = []
            for text in found:
                try:
                    addresses.append(ipaddress.ip_address(text.split("%")[0] if "%" in text else text))
                except ValueError:
                    raise self._refuse(raw, f"{host} resolved to something that is not an address: {text!r}",
                                       ctx, tool) from None
            if not addresses:
                raise ToolError(f"cannot reach {host}: DNS returned no address")

        allowed_by = allowed_name
        if allowed_by is None:
            for address in addresses:
                reason = unsafe_reason(address)
                if reason is None:
                    continue
                entry = self.allow.address(address)
                if entry is None:
                    raise self._refuse(raw, _why(host, address, reason), ctx, tool)
                allowed_by = entry
        return Target(parsed, host, str(addresses[0]), port, allowed_by)

    # -- sending -----------------------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        ctx: Any = None,
        tool: str | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        secret_headers: Iterable[str] = (),
        max_bytes: int | None = None,
        truncate: bool = False,
        timeout_s: float | None = None,
    ) -> FetchedResponse:
        """Send one request, following redirects hop by hop (each vetted). Raise :class:`ToolError` when the
        server cannot be reached or the body passes ``max_bytes`` (unless ``truncate``)."""
        limit = max_bytes or self.max_bytes
        timeout = timeout_s or self.timeout_s
        secrets = {h.lower() for h in secret_headers} | _CREDENTIAL_HEADERS
        send_headers = {"user-agent": self.user_agent, **{k.lower(): v for k, v in (headers or {}).items()}}
        current: httpx.URL | str = url
        if params:
            try:
                current = httpx.URL(str(url), params={k: v for k, v in params.items() if v is not None})
            except (httpx.InvalidURL, ValueError) as exc:
                raise self._refuse(url, f"not a valid URL ({exc})", ctx, tool) from None
        redirects: list[str] = []
        body_json, body_content = json, content
        try:
            async with asyncio.timeout(timeout):
                first: Target | None = await self.vet(current, ctx, tool)  # refuse before building a client
                transport = _PinnedTransport(retries=0, verify=_ssl_context())
                async with httpx.AsyncClient(transport=transport, follow_redirects=False,
                                             trust_env=False, timeout=httpx.Timeout(timeout)) as client:
                    for _hop in range(self.max_redirects + 1):
                        target = first or await self.vet(current, ctx, tool)
                        first = None
                        request = client.build_request(method, target.url, headers=send_headers, json=body_json,
                                                       content=body_content)
                        request.extensions[_PIN] = target
                        response = await client.send(request, stream=True)
                        try:
                            location = response.headers.get(_LOCATION)
                            if response.status_code in _REDIRECTS and location:
                                try:
                                    nxt = target.url.join(location)
                                except (httpx.InvalidURL, ValueError):
                                    await self.vet(location, ctx, tool)  # says what an odd spelling means
                                    raise self._refuse(location, "the redirect target is not a valid URL", ctx,
                                                       tool) from None
                                redirects.append(str(nxt))
                                if (nxt.scheme, nxt.host, nxt.port) != (target.url.scheme, target.url.host,
                                                                         target.url.port):
                                    send_headers = {k: v for k, v in send_headers.items() if k not in secrets}
                                if response.status_code == 303 or (response.status_code in (301, 302)
                                                                   and method.upper() == "POST"):
                                    method, body_json, body_content = "GET", None, None
                                current = nxt
                                continue
                            data, cut = await _read_limited(response, limit, truncate, target.url)
                            headers = response.headers.copy()
                            if location:  # e.g. 201 Created: give the caller its Location back
                                headers["location"] = location
                                del headers[_LOCATION]
                            return FetchedResponse(response.status_code, headers, data, str(target.url),
                                                   redirects, cut)
                        finally:
                            await response.aclose()
        except TimeoutError:
            raise ToolError(f"{_origin(url)} did not answer within {timeout:g}s") from None
        except httpx.TimeoutException:
            raise ToolError(f"{_origin(url)} did not answer within {timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise ToolError(f"cannot reach {_origin(url)}: {type(exc).__name__}: {exc or 'connection failed'}") \
                from None
        raise ToolError(f"{_origin(url)}: more than {self.max_redirects} redirects")

    async def get(self, url: str | httpx.URL, **kwargs: Any) -> FetchedResponse:
        return await self.request("GET", url, **kwargs)


async def _read_limited(response: httpx.Response, limit: int, truncate: bool, url: httpx.URL) -> tuple[bytes, bool]:
    declared = response.headers.get("content-length")
    if not truncate and declared and declared.isdigit() and int(declared) > limit:
        raise ToolError(f"{url} sent {int(declared)} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            if not truncate:
                raise ToolError(f"{url} sent more than {limit} bytes (the limit); stopped reading")
            chunks.append(chunk[: len(chunk) - (size - limit)])
            return b"".join(chunks), True
        chunks.append(chunk)
    return b"".join(chunks), False


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Building a verifying context loads the CA bundle (tens of milliseconds): do it once per process.
    return httpx.create_ssl_context()


def _why(host: str, address: IPAddress, reason: str) -> str:
    spelled = f"{address} is" if str(address) == host.strip("[]") else f"host {host!r} is {address},"
    return f"{spelled} {reason}; add it to http_allow only if you mean to reach it"


def _origin(url: str | httpx.URL) -> str:
    try:
        parsed = httpx.URL(str(url))
        return f"{parsed.scheme}://{parsed.netloc.decode('ascii', 'replace')}"
    except (httpx.InvalidURL, ValueError):
        return str(url)[:100]
