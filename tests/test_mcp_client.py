"""Tools from real MCP servers (tests/mcp_demo_server.py, started by the tests over stdio and streamable HTTP)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openautoglm import AutoGLM
from openautoglm.config import Settings, load_settings
from openautoglm.errors import ConfigError, ToolError
from openautoglm.events import Event, EventKind
from openautoglm.models.scripted import ScriptedModel

DEMO = Path(__file__).with_name("mcp_demo_server.py")


def demo(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    env = {"DEMO_NOTES": str(tmp_path / "notes.txt"), "DEMO_PID_FILE": str(tmp_path / "demo.pid")}
    return {"name": "demo", "command": sys.executable, "args": [str(DEMO)], "env": env} | extra


def make_app(*servers: dict[str, Any], **kwargs: Any) -> AutoGLM:
    return AutoGLM(settings=Settings(mcp_servers=list(servers)), model=ScriptedModel(["unused"]), **kwargs)


async def test_mcp_tools_join_the_registry_with_schema_source_and_permissions(tmp_path: Path) -> None:
    async with make_app(demo(tmp_path)) as app:
        registry = await app.load_tools()
        specs = {s.name: s for s in registry.specs()}
    assert {"demo.add", "demo.greet", "demo.forecast", "demo.save_note", "demo.refuse"} <= set(specs)
    add = specs["demo.add"]
    assert add.source == "mcp:demo"
    assert add.parameters["properties"] == {"a": {"type": "integer"}, "b": {"type": "integer"}}
    assert sorted(add.parameters["required"]) == ["a", "b"]
    assert add.description == "Add two integers."
    assert add.returns == {"type": "integer"}  # the SDK's {"result": ...} wrapper is looked through
    assert add.timeout_s == 30.0
    # Safe by default: only a read-only hint (without a destructive one) frees a tool of approval.
    assert add.side_effects is False
    assert specs["demo.save_note"].side_effects is True
    assert specs["demo.contradictory"].side_effects is True


async def test_a_plan_uses_mcp_tools_and_passes_their_results_on(tmp_path: Path) -> None:
    events: list[Event] = []
    async with make_app(demo(tmp_path)) as app:
        result = await app.execute({"steps": [
            {"id": "total", "uses": "demo.add", "with": {"a": 2, "b": 3}},
            {"id": "hello", "uses": "demo.greet", "with": {"name": "n=${total.output}"}},
            {"id": "weather", "uses": "demo.forecast", "with": {"city": "北京"}},
            {"id": "loud", "uses": "demo.shout", "with": {"text": "${weather.output.sky}"}},
        ]}, on_event=events.append)
    assert result.status == "succeeded", result.answer
    outputs = {s.id: s.output for s in result.steps}
    assert outputs["total"] == 5
    assert outputs["hello"] == "你好, n=5!"
    assert outputs["weather"] == {"city": "北京", "high_c": 21, "low_c": 12, "sky": "sunny"}
    assert outputs["loud"] == "SUNNY"  # a tool without structured content gives its text
    calls = [e for e in events if e.kind == EventKind.TOOL_CALL]
    assert {(e.step_id, e.data["server"], e.data["remote_tool"]) for e in calls} == {
        ("total", "demo", "add"), ("hello", "demo", "greet"), ("weather", "demo", "forecast"),
        ("loud", "demo", "shout")}


async def test_an_mcp_tool_with_side_effects_runs_only_when_approved(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    plan = {"steps": [{"id": "note", "uses": "demo.save_note", "with": {"text": "buy milk"}}]}
    async with make_app(demo(tmp_path)) as app:
        denied = await app.execute(plan)
    assert denied.status == "failed"
    assert "not approved" in (denied.steps[0].error or "")
    assert not notes.exists()

    asked: list[tuple[str, dict[str, Any]]] = []

    async def approve(tool: Any, args: dict[str, Any], ctx: Any) -> bool:
        asked.append((tool.name, args))
        return True

    events: list[Event] = []
    async with make_app(demo(tmp_path), approver=approve) as app:
        approved = await app.execute(plan, on_event=events.append)
    assert approved.status == "succeeded"
    assert asked == [("demo.save_note", {"text": "buy milk"})]
    assert notes.read_text(encoding="utf-8") == "buy milk\n"
    assert [e.data["approved"] for e in events if e.kind == EventKind.APPROVAL] == [True]


async def test_an_error_result_raises_a_tool_error_with_the_servers_words(tmp_path: Path) -> None:
    async with make_app(demo(tmp_path)) as app:
        with pytest.raises(ToolError) as caught:
            await app.call_tool("demo.refuse", {"reason": "the vault is closed"})
    assert "the vault is closed" in str(caught.value)
    assert "'demo'" in str(caught.value)


async def test_the_server_process_lives_as_long_as_the_app(tmp_path: Path) -> None:
    app = make_app(demo(tmp_path))
    assert not (tmp_path / "demo.pid").exists()  # lazy: nothing starts until tools are needed
    await app.load_tools()
    pid = int((tmp_path / "demo.pid").read_text())
    assert _alive(pid)
    assert await app.call_tool("demo.add", {"a": 1, "b": 1}) == 2
    assert await app.call_tool("demo.add", {"a": 2, "b": 2}) == 4  # the same session, still open
    assert int((tmp_path / "demo.pid").read_text()) == pid
    await app.aclose()
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes; /proc says which.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


async def test_a_missing_command_is_a_clear_error_naming_the_server(tmp_path: Path) -> None:
    app = make_app({"name": "ghost", "command": str(tmp_path / "no-such-mcp-server"), "args": ["--stdio"]})
    with pytest.raises(ConfigError) as caught:
        await app.load_tools()
    message = str(caught.value)
    assert "'ghost'" in message and "no-such-mcp-server" in message and "not found" in message
    await app.aclose()


async def test_a_server_that_dies_at_start_is_named_with_its_last_words(tmp_path: Path) -> None:
    crash = "import sys; sys.stderr.write('fatal: DEMO_TOKEN is not set\\n'); sys.exit(3)"
    app = make_app({"name": "crashy", "command": sys.executable, "args": ["-c", crash], "connect_timeout_s": 20})
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        await app.load_tools()
    assert time.monotonic() - started < 10  # noticed when the process ends, not at the timeout
    message = str(caught.value)
    assert "'crashy'" in message and sys.executable in message
    assert "DEMO_TOKEN is not set" in message
    assert "\n" not in message
    # Nothing was registered; a later call tries again (and fails the same way) rather than pretending.
    with pytest.raises(ConfigError):
        await app.load_tools()
    await app.aclose()


def test_a_server_needs_exactly_one_transport(tmp_path: Path) -> None:
    config = tmp_path / "autoglm.yaml"
    config.write_text("mcp_servers:\n  - {name: both, command: x, url: 'http://127.0.0.1:1/mcp'}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="either `command`"):
        load_settings(config)
    config.write_text("mcp_servers:\n  - {name: 'bad name', command: x}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="name"):
        load_settings(config)


@pytest.fixture
def http_demo(tmp_path: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = os.environ | {"DEMO_NOTES": str(tmp_path / "notes.txt")}
    proc = subprocess.Popen([sys.executable, str(DEMO), "--http", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the demo MCP server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_tools_from_a_streamable_http_server(http_demo: str) -> None:
    async with make_app({"name": "web", "url": http_demo, "headers": {"X-Demo": "1"}}) as app:
        result = await app.execute({"steps": [
            {"id": "total", "uses": "web.add", "with": {"a": 20, "b": 22}},
            {"id": "hello", "uses": "web.greet", "with": {"name": "${total.output}号"}},
        ]})
        source = app.tools.get("web.add").source
    assert result.status == "succeeded", result.answer
    assert [s.output for s in result.steps] == [42, "你好, 42号!"]
    assert source == "mcp:web"


def test_one_app_across_two_event_loops_reconnects(tmp_path: Path) -> None:
    app = make_app(demo(tmp_path))
    assert asyncio.run(app.call_tool("demo.add", {"a": 1, "b": 2})) == 3
    first = int((tmp_path / "demo.pid").read_text())
    # The first loop's end closed its connection; the next loop starts the server again instead of hanging.
    assert asyncio.run(app.call_tool("demo.add", {"a": 3, "b": 4})) == 7
    second = int((tmp_path / "demo.pid").read_text())
    asyncio.run(app.aclose())
    assert second != first and not _alive(first)


async def test_several_servers_start_side_by_side_and_one_broken_one_is_named(tmp_path: Path) -> None:
    second = demo(tmp_path, name="other")
    async with make_app(demo(tmp_path), second) as app:
        registry = await app.load_tools()
        assert {"demo.add", "other.add"} <= set(registry.names())
        assert registry.get("other.add").source == "mcp:other"
        assert await app.call_tool("other.add", {"a": 1, "b": 2}) == 3
    broken = {"name": "broken", "command": sys.executable, "args": ["-c", "raise SystemExit(1)"]}
    app = make_app(demo(tmp_path), broken)
    with pytest.raises(ConfigError, match="'broken'"):
        await app.load_tools()
    assert "demo.add" not in app.tools  # all or nothing: no half-loaded servers
    await app.aclose()
