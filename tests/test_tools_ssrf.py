"""SSRF attacks through every outbound tool: refused before any connection, recorded, and the vetted address is
the one connected to."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from openautoglm import AutoGLM
from openautoglm.config import OpenAPIConfig, Settings
from openautoglm.errors import ConfigError, ToolError, UnsafeTargetError
from openautoglm.events import EventKind
from openautoglm.models.scripted import ScriptedModel
from openautoglm.testing.loopback import LoopbackRequest, LoopbackServer, json_reply
from openautoglm.tools.netguard import AllowList, NetGuard, parse_legacy_ipv4, unsafe_reason
from openautoglm.tools.openapi import openapi_tools
from openautoglm.tools.weather import WeatherTool
from openautoglm.tools.web import WebFetchTool
from tools_net_support import NOT_HTTP, OTHER_UNSAFE, Recorder, loopback_spellings, static_resolver


@pytest.fixture
def listener() -> Iterator[LoopbackServer]:
    """The target an attacker wants to reach: it counts every TCP connection it gets."""
    with LoopbackServer(lambda r: (200, {"content-type": "text/plain"}, "internal secret")) as server:
        yield server


def attack_urls(port: int) -> list[str]:
    return loopback_spellings(port) + OTHER_UNSAFE + NOT_HTTP


# -- the address rules ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spelling", "address"), [
    ("2130706433", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("127.1", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"), ("017700000001", "127.0.0.1"), ("169.254.43518", "169.254.169.254"),
    ("0", "0.0.0.0"), ("012.1", "10.0.0.1"), ("1.2.3.4", "1.2.3.4"),
])
def test_legacy_ipv4_spellings_read_like_inet_aton(spelling: str, address: str) -> None:
    import socket

    assert str(parse_legacy_ipv4(spelling)) == address
    assert socket.inet_ntoa(socket.inet_aton(spelling)) == address  # the C resolver agrees


@pytest.mark.parametrize("text", ["example.com", "1.2.3.4.5", "256.1.1.1", "0x", "08.1.1.1", "1..1", ""])
def test_non_numbers_are_not_addresses(text: str) -> None:
    assert parse_legacy_ipv4(text) is None or text == "0x"


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert unsafe_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("address", ["::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1", "::8.8.8.8"])
def test_ipv6_forms_that_carry_ipv4_are_refused_even_when_public(address: str) -> None:
    assert unsafe_reason(ipaddress.ip_address(address)) is not None


def test_allow_list_entries() -> None:
    allow = AllowList(["127.0.0.1/32", "internal.example", "*.corp.example", "fd00::/8"])
    assert allow.address(ipaddress.ip_address("127.0.0.1")) == "127.0.0.1/32"
    assert allow.address(ipaddress.ip_address("::ffff:127.0.0.1")) == "127.0.0.1/32"
    assert allow.address(ipaddress.ip_address("127.0.0.2")) is None
    assert allow.host("internal.example") and allow.host("a.corp.example")
    assert allow.host("corp.example.evil.com") is None and allow.host("xinternal.example") is None
    with pytest.raises(ConfigError):
        AllowList(["not a host!"])


# -- refused before any connection, through every outbound tool --------------------------------------------------


async def test_netguard_refuses_every_spelling_without_connecting(listener: LoopbackServer) -> None:
    guard = NetGuard()
    rec = Recorder()
    for url in attack_urls(listener.port):
        with pytest.raises(UnsafeTargetError) as caught:
            await guard.get(url, ctx=rec.ctx, tool="test")
        assert str(caught.value).startswith("refused "), url
    assert listener.connections == 0
    denied = [d for k, d in rec.events if k == EventKind.TOOL_DENIED]
    assert len(denied) == len(attack_urls(listener.port))
    assert all(d["tool"] == "test" and d["reason"].startswith("refused") for d in denied)


async def test_positive_control_the_listener_counts(listener: LoopbackServer) -> None:
    # The same listener does count a connection when loopback is allow-listed: zero above means refused.
    response = await NetGuard(["127.0.0.1"]).get(f"{listener.url}/x")
    assert response.text == "internal secret"
    assert listener.connections == 1


async def test_web_fetch_refuses_every_spelling(listener: LoopbackServer) -> None:
    tool = WebFetchTool(NetGuard())
    rec = Recorder()
    for url in attack_urls(listener.port):
        with pytest.raises(UnsafeTargetError):
            await tool({"url": url}, rec.ctx)
    assert listener.connections == 0
    assert rec.kinds().count(EventKind.TOOL_DENIED) == len(attack_urls(listener.port))


async def test_weather_refuses_unsafe_service_urls(listener: LoopbackServer) -> None:
    for url in loopback_spellings(listener.port)[:20] + OTHER_UNSAFE[:8]:
        tool = WeatherTool(NetGuard(), geocoding_url=url, forecast_url=url)
        with pytest.raises(UnsafeTargetError):
            await tool({"city": "北京", "date": "明天"}, Recorder().ctx)
    assert listener.connections == 0


def _spec(server_url: str) -> dict[str, object]:
    return {
        "openapi": "3.0.3", "info": {"title": "internal", "version": "1"}, "servers": [{"url": server_url}],
        "paths": {"/items/{id}": {"get": {"operationId": "getItem", "parameters": [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]}}},
    }


async def test_openapi_tools_refuse_unsafe_servers_without_allow_private(listener: LoopbackServer,
                                                                          tmp_path: Path) -> None:
    for i, url in enumerate(loopback_spellings(listener.port)[:24]):
        base = url.rsplit("/", 1)[0]
        spec = tmp_path / f"spec{i}.json"
        spec.write_text(json.dumps(_spec(base)), encoding="utf-8")
        try:
            tools = openapi_tools(OpenAPIConfig(name="internal", spec=str(spec)), NetGuard())
        except ConfigError:
            continue  # a URL httpx cannot even parse as a server: refused at load time, fine
        with pytest.raises(UnsafeTargetError):
            await tools[0]({"id": "1"}, Recorder().ctx)
    assert listener.connections == 0


def test_openapi_spec_url_on_loopback_is_refused_without_allow_private(listener: LoopbackServer) -> None:
    with pytest.raises(ConfigError, match="loopback"):
        openapi_tools(OpenAPIConfig(name="x", spec=f"http://127.0.0.1:{listener.port}/openapi.json"), NetGuard())
    assert listener.connections == 0


# -- DNS: names that resolve to internal addresses; no rebinding window ------------------------------------------


async def test_names_resolving_to_internal_addresses_are_refused(listener: LoopbackServer) -> None:
    resolver = static_resolver({
        "localtest.me": ["127.0.0.1"], "127.0.0.1.nip.io": ["127.0.0.1"], "metadata.test": ["169.254.169.254"],
        "mixed.test": ["93.184.216.34", "127.0.0.1"], "v6.test": ["::1"], "mapped.test": ["::ffff:10.0.0.1"],
    })
    guard = NetGuard(resolver=resolver)
    for host in ("localtest.me", "127.0.0.1.nip.io", "metadata.test", "mixed.test", "v6.test", "mapped.test"):
        with pytest.raises(UnsafeTargetError, match="is "):
            await guard.get(f"http://{host}:{listener.port}/")
    assert listener.connections == 0


async def test_connects_to_the_checked_address_keeping_the_host_name(listener: LoopbackServer) -> None:
    seen: list[LoopbackRequest] = []

    def handler(request: LoopbackRequest) -> tuple[int, dict[str, str], str]:
        seen.append(request)
        return json_reply({"ok": True})

    with LoopbackServer(handler) as server:
        # The system resolver has never heard of svc.test: the request can only arrive if the guard dialled the
        # address it checked itself, and the server still sees the name in Host.
        resolver = static_resolver({"svc.test": ["127.0.0.1"]})
        response = await NetGuard(["svc.test"], resolver=resolver).get(f"http://svc.test:{server.port}/ping")
        assert response.json() == {"ok": True}
        assert seen[0].headers["host"] == f"svc.test:{server.port}"
        assert resolver.calls == ["svc.test"]  # type: ignore[attr-defined]


async def test_rebinding_second_answer_is_never_used(listener: LoopbackServer) -> None:
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    guard = NetGuard(["127.0.0.1/32"], resolver=rebinding)
    response = await guard.get(f"http://rebind.test:{listener.port}/")
    assert response.status_code == 200 and listener.connections == 1
    with pytest.raises(UnsafeTargetError, match=r"10\.0\.0\.1"):  # the next lookup's answer is vetted again
        await guard.get(f"http://rebind.test:{listener.port}/")


async def test_dns_failure_is_a_clear_error() -> None:
    with pytest.raises(ToolError, match="DNS lookup failed"):
        await NetGuard(resolver=static_resolver({})).get("http://no-such-host.test/")


# -- redirects: every hop is vetted ------------------------------------------------------------------------------


async def test_redirects_to_internal_addresses_are_refused(listener: LoopbackServer) -> None:
    targets = [*loopback_spellings(listener.port)[:22], "http://169.254.169.254/", "file:///etc/passwd"]
    index = {"i": 0}

    def redirector(request: LoopbackRequest) -> tuple[int, dict[str, str], str]:
        return 302, {"location": targets[int(request.arg("i") or 0)]}, ""

    with LoopbackServer(redirector) as server:
        resolver = static_resolver({"public.test": ["127.0.0.1"]})
        guard = NetGuard(["public.test"], resolver=resolver)  # only the first hop's name is allowed
        rec = Recorder()
        for i in range(len(targets)):
            index["i"] = i
            with pytest.raises(UnsafeTargetError):
                await guard.get(f"http://public.test:{server.port}/go?i={i}", ctx=rec.ctx, tool="web.fetch")
        assert server.connections == len(targets)  # the allowed first hop was reached...
    assert listener.connections == 0  # ...and not one redirect hop got through
    assert rec.kinds().count(EventKind.TOOL_DENIED) == len(targets)


async def test_redirect_chain_limit_and_credentials_dropped_across_origins() -> None:
    received: list[LoopbackRequest] = []

    def second(request: LoopbackRequest) -> tuple[int, dict[str, str], str]:
        received.append(request)
        return json_reply({"at": "second"})

    with LoopbackServer(second) as other:
        def first(request: LoopbackRequest) -> tuple[int, dict[str, str], str]:
            if request.path == "/loop":
                return 302, {"location": "/loop"}, ""
            return 307, {"location": f"http://other.test:{other.port}/landing"}, ""

        with LoopbackServer(first) as server:
            resolver = static_resolver({"api.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
            guard = NetGuard(["api.test", "other.test"], resolver=resolver, max_redirects=3)
            response = await guard.get(f"http://api.test:{server.port}/start",
                                       headers={"Authorization": "Bearer s3cret", "X-Api-Key": "k"},
                                       secret_headers=["X-Api-Key"])
            assert response.json() == {"at": "second"} and len(response.redirects) == 1
            assert "authorization" not in received[0].headers and "x-api-key" not in received[0].headers
            with pytest.raises(ToolError, match="more than 3 redirects"):
                await guard.get(f"http://api.test:{server.port}/loop")


# -- size and time limits ----------------------------------------------------------------------------------------


async def test_response_size_limit() -> None:
    with LoopbackServer(lambda r: (200, {"content-type": "text/plain"}, "x" * 50_000)) as server:
        guard = NetGuard(["127.0.0.1"], max_bytes=10_000)
        with pytest.raises(ToolError, match="limit is 10000"):
            await guard.get(server.url)
        cut = await guard.get(server.url, truncate=True)
        assert len(cut.content) == 10_000 and cut.truncated


async def test_gzip_bomb_is_limited_after_decompression() -> None:
    import gzip

    bomb = gzip.compress(b"\0" * 5_000_000)
    headers = {"content-encoding": "gzip", "content-type": "text/plain"}
    with LoopbackServer(lambda r: (200, headers, bomb)) as server, \
            pytest.raises(ToolError, match="more than 100000 bytes"):
        await NetGuard(["127.0.0.1"], max_bytes=100_000).get(server.url)
    assert len(bomb) < 100_000  # the compressed body alone would have passed a naive check


async def test_stalling_server_times_out() -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)  # accepts into the backlog, never answers
    try:
        guard = NetGuard(["127.0.0.1"], timeout_s=0.5)
        with pytest.raises(ToolError, match=r"did not answer within 0.5s"):
            await guard.get(f"http://127.0.0.1:{sock.getsockname()[1]}/")
    finally:
        sock.close()


async def test_proxy_environment_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    with LoopbackServer(lambda r: json_reply({"direct": True})) as server:
        monkeypatch.setenv("HTTP_PROXY", "http://10.255.255.1:3128")
        monkeypatch.setenv("ALL_PROXY", "http://10.255.255.1:3128")
        response = await NetGuard(["127.0.0.1"], timeout_s=3).get(server.url)
        assert response.json() == {"direct": True}


# -- through the executor: the refusal is a clear error in the trace ---------------------------------------------


async def test_refusal_through_a_plan_is_in_the_trace(listener: LoopbackServer) -> None:
    app = AutoGLM(settings=Settings(), model=ScriptedModel(["unused"]))
    result = await app.execute({"steps": [
        {"id": "page", "uses": "web.fetch", "with": {"url": f"http://0x7f.1:{listener.port}/admin"}}]})
    assert result.status == "failed"
    assert "refused" in (result.steps[0].error or "") and "127.0.0.1" in (result.steps[0].error or "")
    kinds = [e.kind for e in app.trace(result.task_id)]
    assert EventKind.TOOL_DENIED in kinds and EventKind.STEP_FAILED in kinds
    assert result.steps[0].attempts == 1  # a refusal is not retried
    assert listener.connections == 0
    await app.aclose()


async def test_tls_keeps_the_host_name_for_sni_while_dialling_the_vetted_address(tmp_path: Path) -> None:
    import datetime as dt
    import socket
    import ssl
    import threading

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "svc.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    seen: list[str | None] = []
    server_ctx.sni_callback = lambda sslsock, server_name, ctx: seen.append(server_name)  # type: ignore[assignment]
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            server_ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            pass  # the client rejects the self-signed certificate: expected
        finally:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        guard = NetGuard(["svc.test"], resolver=static_resolver({"svc.test": ["127.0.0.1"]}), timeout_s=5)
        with pytest.raises(ToolError, match=r"cannot reach https://svc\.test"):
            await guard.get(f"https://svc.test:{port}/")  # certificate checked against the name, not the IP
    finally:
        thread.join(timeout=5)
        listener.close()
    assert seen == ["svc.test"]
