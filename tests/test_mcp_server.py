"""Open-AutoGLM as an MCP server, reached with the SDK's own client: over stdio (`autoglm mcp serve`) and in-process."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

from openautoglm import AutoGLM, tool
from openautoglm.config import Settings
from openautoglm.events import EventKind
from openautoglm.mcp_server import build_server
from openautoglm.models.scripted import ScriptedModel
from openautoglm.planning.base import DirectPlanner

AUTOGLM = str(Path(sys.executable).with_name("autoglm"))
DEMO = Path(__file__).with_name("mcp_demo_server.py")
OWN = {"run_task", "list_workflows", "run_workflow", "search_knowledge"}


def project(tmp_path: Path) -> Path:
    """A working directory whose autoglm.yaml names the demo MCP server and whose workflow uses its tools."""
    root = tmp_path / "project"
    (root / "workflows").mkdir(parents=True)
    (root / "autoglm.yaml").write_text(json.dumps({"mcp_servers": [
        {"name": "demo", "command": sys.executable, "args": [str(DEMO)],
         "env": {"DEMO_NOTES": str(tmp_path / "notes.txt")}}]}), encoding="utf-8")
    (root / "workflows" / "sum_greet.yaml").write_text(
        "name: sum_greet\n"
        "description: Add two numbers and greet the total.\n"
        "inputs: {a: {type: integer}, b: {type: integer, default: 10}}\n"
        "steps:\n"
        "  - {id: total, uses: demo.add, with: {a: '${inputs.a}', b: '${inputs.b}'}}\n"
        "  - {id: hello, uses: demo.greet, with: {name: 'total ${total.output}'}}\n", encoding="utf-8")
    return root


async def test_an_mcp_client_lists_and_calls_autoglm_served_over_stdio(tmp_path: Path, isolated_home: Path) -> None:
    root = project(tmp_path)
    params = StdioServerParameters(command=AUTOGLM, args=["mcp", "serve"], cwd=str(root),
                                   env={"AUTOGLM_HOME": str(isolated_home)})
    async with Client(params) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        workflows = await client.call_tool("list_workflows", {})
        ran = await client.call_tool("run_workflow", {"name": "sum_greet", "inputs": {"a": 5}})
        direct = await client.call_tool("workflow.sum_greet", {"a": 1, "b": 2})
        refused = await client.call_tool("demo.save_note", {"text": "from outside"})
        unknown = await client.call_tool("run_workflow", {"name": "nope"})

    assert OWN | {"workflow.sum_greet", "demo.add", "demo.save_note", "llm.generate"} <= set(listed)
    assert listed["run_workflow"].input_schema["required"] == ["name"]
    assert listed["demo.add"].annotations is not None and listed["demo.add"].annotations.read_only_hint is True
    assert listed["demo.save_note"].annotations is not None
    assert listed["demo.save_note"].annotations.read_only_hint is False
    assert listed["workflow.sum_greet"].input_schema["properties"]["a"] == {"type": "integer"}

    assert [w["name"] for w in workflows.structured_content["workflows"]] == ["sum_greet"]
    assert not ran.is_error
    assert ran.structured_content["status"] == "succeeded"
    assert "你好, total 15!" in ran.content[0].text
    assert not direct.is_error and direct.content[0].text == "你好, total 3!"
    # Nobody can approve over stdio: a tool with side effects is refused, and nothing was written.
    assert refused.is_error and "not approved" in refused.content[0].text
    assert not (tmp_path / "notes.txt").exists()
    assert unknown.is_error and "no workflow named 'nope'" in unknown.content[0].text

    # The run is an ordinary task with an audit trail in the server's store.
    async with AutoGLM(settings=Settings(home=isolated_home)) as app:
        events = app.trace(ran.structured_content["task_id"])
    assert {e.step_id for e in events if e.kind == EventKind.STEP_FINISHED} == {"total", "hello"}


async def test_run_task_plans_runs_and_answers_through_mcp() -> None:
    app = AutoGLM(model=ScriptedModel(["明天北京晴，记得带伞以防万一。"]), planner=DirectPlanner())
    async with Client(build_server(app)) as client:
        ran = await client.call_tool("run_task", {"request": "写一句明天的出行提醒", "session_id": "s1"})
        missing = await client.call_tool("run_task", {})
    assert not ran.is_error
    result = ran.structured_content
    assert ran.content[0].text == result["answer"]  # the answer is the text; the rest is structured
    assert "明天北京晴，记得带伞以防万一。" in result["answer"]
    assert result["status"] == "succeeded" and result["plan"]["steps"][0]["uses"] == "llm.generate"
    assert app.store.get_task(result["task_id"]).session_id == "s1"
    assert missing.is_error and "'request' is a required property" in missing.content[0].text
    await app.aclose()


@tool(name="knowledge.search")
def knowledge_search(query: str, top_k: int = 3) -> list[dict[str, Any]]:
    """A stand-in knowledge base that says what it was asked."""
    return [{"source": "faq.md", "position": i, "score": 1.0 - i / 10, "text": f"{query} #{i}"} for i in range(top_k)]


async def test_search_knowledge_uses_the_apps_knowledge_tool_or_says_it_is_missing() -> None:
    with_kb = AutoGLM(model=ScriptedModel(["unused"]), tools=[knowledge_search])
    async with Client(build_server(with_kb)) as client:
        found = await client.call_tool("search_knowledge", {"query": "退货政策", "k": 2})
    await with_kb.aclose()
    assert not found.is_error
    assert [r["text"] for r in found.structured_content["results"]] == ["退货政策 #0", "退货政策 #1"]

    without = AutoGLM(model=ScriptedModel(["unused"]))
    without.tools.remove("knowledge.search")  # an installation without a knowledge base
    async with Client(build_server(without, expose_tools=False)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        missing = await client.call_tool("search_knowledge", {"query": "退货政策"})
        hidden = await client.call_tool("llm.generate", {"prompt": "hi"})
    await without.aclose()
    assert names == OWN
    assert missing.is_error and "knowledge.search" in missing.content[0].text
    assert hidden.is_error and "no tool named 'llm.generate'" in hidden.content[0].text


async def test_autoglm_serves_mcp_over_streamable_http(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([AUTOGLM, "mcp", "serve", "--http", "--port", str(port), "--no-tools"], cwd=tmp_path,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "autoglm mcp serve --http did not start"
                await asyncio.sleep(0.05)
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            names = {t.name for t in (await client.list_tools()).tools}
            workflows = await client.call_tool("list_workflows", {})
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=15)
    assert names == OWN
    assert workflows.structured_content == {"workflows": []}
    assert "Traceback" not in stderr
