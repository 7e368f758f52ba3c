"""YAML workflows: loaded from a folder, validated with errors naming the file, run as tools `workflow.<name>`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from openautoglm import AutoGLM, tool
from openautoglm.config import Settings
from openautoglm.errors import ConfigError, PlanValidationError
from openautoglm.events import Event, EventKind
from openautoglm.models.scripted import ScriptedModel
from openautoglm.tools.workflows import WorkflowRegistry, default_dirs, load_workflow

AUTOGLM = str(Path(sys.executable).with_name("autoglm"))
DEMO = Path(__file__).with_name("mcp_demo_server.py")

SHOUT_PAIR = """
name: shout_pair
description: Upper-case two words and join them.
inputs:
  first: {type: string, description: the first word}
  second: {type: string, default: world}
steps:
  - id: up1
    uses: text.upper
    with: {text: "${inputs.first}"}
  - id: up2
    uses: text.upper
    with: {text: "${inputs.second}"}
  - id: joined
    uses: text.join
    with: {a: "${up1.output}", b: "${up2.output}", sep: "-"}
"""


@tool(name="text.upper")
def upper(text: str) -> str:
    """Upper-case text."""
    return text.upper()


@tool(name="text.join")
def join(a: str, b: str, sep: str = " ") -> str:
    """Join two texts."""
    return f"{a}{sep}{b}"


@tool(name="text.broken")
def broken(text: str) -> str:
    """Always fails."""
    raise RuntimeError(f"cannot handle {text!r}")


@tool(name="notes.save", side_effects=True)
def save(text: str) -> str:
    """Pretend to save a note."""
    return f"saved {text}"


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def make_app(folder: Path, **kwargs: Any) -> AutoGLM:
    return AutoGLM(settings=Settings(workflows_dir=folder), model=ScriptedModel(["unused"]),
                   tools=[upper, join, broken, save], **kwargs)


def test_a_workflow_becomes_a_tool_whose_schema_is_its_inputs(tmp_path: Path) -> None:
    write(tmp_path / "wf", "shout_pair.yaml", SHOUT_PAIR)
    app = make_app(tmp_path / "wf")
    spec = app.tools.get("workflow.shout_pair").spec()
    assert spec.source == "workflow"
    assert spec.description == "Upper-case two words and join them."
    assert spec.parameters == {
        "type": "object",
        "properties": {"first": {"type": "string", "description": "the first word"},
                       "second": {"type": "string", "default": "world"}},
        "required": ["first"],
        "additionalProperties": False,
    }
    assert [w.name for w in app.workflows] == ["shout_pair"]


async def test_a_workflow_runs_as_a_nested_step_recorded_under_the_calling_task(tmp_path: Path) -> None:
    write(tmp_path / "wf", "shout_pair.yaml", SHOUT_PAIR)
    events: list[Event] = []
    async with make_app(tmp_path / "wf") as app:
        result = await app.execute({"steps": [
            {"id": "greet", "uses": "workflow.shout_pair", "with": {"first": "hello"}},
            {"id": "after", "uses": "text.upper", "with": {"text": "${greet.output}!"}},
        ]}, on_event=events.append)
        stored = app.trace(result.task_id)
    assert result.status == "succeeded", result.answer
    assert [s.output for s in result.steps] == ["HELLO-WORLD", "HELLO-WORLD!"]
    finished = [e.step_id for e in events if e.kind == EventKind.STEP_FINISHED]
    assert set(finished) == {"greet.up1", "greet.up2", "greet.joined", "greet", "after"}
    assert finished.index("greet.joined") < finished.index("greet") < finished.index("after")
    # One log: the nested run's events share the task and its sequence numbers.
    assert {e.task_id for e in events} == {result.task_id}
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.seq for e in stored] == [e.seq for e in events]
    call = next(e for e in events if e.kind == EventKind.TOOL_CALL)
    assert call.step_id == "greet"
    assert call.data["workflow"] == "shout_pair" and call.data["inputs"] == {"first": "hello"}


async def test_inputs_are_checked_against_the_schema_before_anything_runs(tmp_path: Path) -> None:
    write(tmp_path / "wf", "shout_pair.yaml", SHOUT_PAIR)
    async with make_app(tmp_path / "wf") as app:
        with pytest.raises(PlanValidationError) as caught:
            await app.execute({"steps": [{"id": "greet", "uses": "workflow.shout_pair",
                                          "with": {"first": 3, "third": "x"}}]})
    message = str(caught.value)
    assert "workflow.shout_pair" in message and "3 is not of type 'string'" in message and "third" in message


async def test_a_workflow_file_run_directly_checks_its_input_types(tmp_path: Path) -> None:
    path = write(tmp_path / "wf", "shout_pair.yaml", SHOUT_PAIR)
    async with make_app(tmp_path / "other") as app:
        with pytest.raises(PlanValidationError, match="input 'first': 3 is not of type 'string'"):
            await app.execute(path, inputs={"first": 3})
        result = await app.execute(path, inputs={"first": "a", "second": "b"})
    assert result.steps[-1].output == "A-B"


async def test_a_failing_inner_step_fails_the_workflow_step_and_says_which(tmp_path: Path) -> None:
    write(tmp_path / "wf", "fragile.yaml", """
        name: fragile
        inputs: {word: {type: string}}
        steps:
          - {id: up, uses: text.upper, with: {text: "${inputs.word}"}}
          - {id: oops, uses: text.broken, with: {text: "${up.output}"}}
    """)
    async with make_app(tmp_path / "wf") as app:
        result = await app.execute({"steps": [{"id": "w", "uses": "workflow.fragile", "with": {"word": "hi"}}]})
    assert result.status == "failed"
    error = result.steps[0].error or ""
    assert "workflow 'fragile'" in error and "'oops'" in error and "cannot handle 'HI'" in error


async def test_a_workflow_that_calls_itself_is_stopped(tmp_path: Path) -> None:
    write(tmp_path / "wf", "ping.yaml", """
        name: ping
        steps: [{id: again, uses: workflow.pong}]
    """)
    write(tmp_path / "wf", "pong.yaml", """
        name: pong
        steps: [{id: again, uses: workflow.ping}]
    """)
    async with make_app(tmp_path / "wf") as app:
        result = await app.execute({"steps": [{"id": "start", "uses": "workflow.ping"}]})
    assert result.status == "failed"
    assert "workflow 'ping' calls itself: ping -> pong -> ping" in (result.steps[0].error or "")


async def test_inner_tools_with_side_effects_need_the_callers_approval(tmp_path: Path) -> None:
    write(tmp_path / "wf", "note.yaml", """
        name: note
        inputs: {text: {type: string}}
        steps: [{id: save, uses: notes.save, with: {text: "${inputs.text}"}}]
    """)
    plan = {"steps": [{"id": "n", "uses": "workflow.note", "with": {"text": "milk"}}]}
    async with make_app(tmp_path / "wf") as app:
        denied = await app.execute(plan)
    assert denied.status == "failed" and "not approved" in (denied.steps[0].error or "")

    async def approve(tool: Any, args: dict[str, Any], ctx: Any) -> bool:
        return tool.name == "notes.save" and args == {"text": "milk"}

    events: list[Event] = []
    async with make_app(tmp_path / "wf", approver=approve) as app:
        approved = await app.execute(plan, on_event=events.append)
    assert approved.steps[0].output == "saved milk"
    assert [(e.step_id, e.data["approved"]) for e in events if e.kind == EventKind.APPROVAL] == [("n.save", True)]


INVALID = {
    "yaml": ("broken.yaml", "name: broken\nsteps: [ {id: a, uses: text.upper\n", "cannot be parsed"),
    "cycle": ("cycle.yaml", """
        steps:
          - {id: a, uses: text.upper, with: {text: "${b.output}"}}
          - {id: b, uses: text.upper, with: {text: "${a.output}"}}
    """, "cycle"),
    "type": ("typed.yaml", """
        inputs: {n: {type: integr}}
        steps: [{id: a, uses: text.upper, with: {text: "${inputs.n}"}}]
    """, "unknown type 'integr'"),
    "input": ("undeclared.yaml", """
        steps: [{id: a, uses: text.upper, with: {text: "${inputs.city}"}}]
    """, "unknown input 'city'"),
    "field": ("extra.yaml", """
        steps: [{id: a, uses: text.upper, with: {text: hi}, retries: 3}]
    """, "retries"),
    "name": ("named.yaml", """
        name: "two words"
        steps: [{id: a, uses: text.upper, with: {text: hi}}]
    """, "name 'two words'"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_an_invalid_workflow_is_a_one_line_error_naming_the_file(tmp_path: Path, case: str) -> None:
    filename, text, expected = INVALID[case]
    write(tmp_path / "wf", filename, text)
    with pytest.raises(ConfigError) as caught:
        load_workflow(tmp_path / "wf" / filename)
    message = str(caught.value)
    assert filename in message and expected in message
    assert "\n" not in message


@pytest.mark.parametrize("case", sorted(INVALID))
def test_an_invalid_workflow_in_the_folder_is_skipped_and_reported_on_one_line(tmp_path: Path, case: str) -> None:
    filename, text, expected = INVALID[case]
    write(tmp_path / "wf", "good.yaml", SHOUT_PAIR)
    write(tmp_path / "wf", filename, text)
    registry = WorkflowRegistry.from_dirs([tmp_path / "wf"])
    assert [w.name for w in registry] == ["shout_pair"]
    [problem] = registry.skipped
    assert filename in problem and expected in problem and "\n" not in problem


def test_two_workflows_with_one_name_keep_the_first_and_report_the_second(tmp_path: Path) -> None:
    write(tmp_path / "a", "one.yaml", SHOUT_PAIR)
    write(tmp_path / "b", "two.yaml", SHOUT_PAIR)
    registry = WorkflowRegistry.from_dirs([tmp_path / "a", tmp_path / "b"])
    assert [str(w.path) for w in registry] == [str(tmp_path / "a" / "one.yaml")]
    [problem] = registry.skipped
    assert re.search(r"two workflows are named 'shout_pair'.*one\.yaml.*two\.yaml", problem)


def test_default_folders_are_the_data_dir_and_the_working_directory(
    tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(isolated_home / "workflows", "shout_pair.yaml", SHOUT_PAIR)
    write(tmp_path / "workflows", "local.yaml", "steps: [{id: a, uses: text.upper, with: {text: hi}}]\n")
    settings = Settings()
    assert default_dirs(settings) == [isolated_home / "workflows", tmp_path / "workflows"]
    assert sorted(w.name for w in WorkflowRegistry.from_settings(settings)) == ["local", "shout_pair"]


def autoglm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AUTOGLM, *args], capture_output=True, text=True, timeout=60, cwd=cwd,
                          env=os.environ.copy(), stdin=subprocess.DEVNULL)


def test_cli_runs_a_workflow_file_with_inputs(tmp_path: Path) -> None:
    # The steps are tools of a real MCP server named in autoglm.yaml, so no model is needed.
    (tmp_path / "autoglm.yaml").write_text(json.dumps({"mcp_servers": [
        {"name": "demo", "command": sys.executable, "args": [str(DEMO)]}]}), encoding="utf-8")
    wf = write(tmp_path / "workflows", "sum_greet.yaml", """
        name: sum_greet
        description: Add two numbers and greet the total.
        inputs:
          a: {type: integer}
          b: {type: integer, default: 10}
        steps:
          - {id: total, uses: demo.add, with: {a: "${inputs.a}", b: "${inputs.b}"}}
          - {id: hello, uses: demo.greet, with: {name: "total ${total.output}"}}
    """)
    ran = autoglm("exec", str(wf), "--inputs", '{"a": 5}', "--json", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["status"] == "succeeded"
    assert "你好, total 15!" in result["answer"]


def test_cli_lists_workflows_and_names_a_broken_file_on_one_line(tmp_path: Path) -> None:
    write(tmp_path / "workflows", "sum_greet.yaml", """
        name: sum_greet
        inputs:
          a: {type: integer}
          b: {type: integer, default: 10}
        steps:
          - {id: total, uses: demo.add, with: {a: "${inputs.a}", b: "${inputs.b}"}}
    """)
    listed = autoglm("workflows", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["tool"] == "workflow.sum_greet" and row["inputs"]["b"] == {"type": "integer", "default": 10}

    write(tmp_path / "workflows", "bad.yaml", "name: bad\nsteps: [{id: x, uses: demo.add, with: {a: ${inputs.q}}}]\n")
    # One broken file is reported on one line naming it, and every command goes on without it.
    for args in (["workflows", "list", "--json"], ["tools", "--json"]):
        listed = autoglm(*args, cwd=tmp_path)
        lines = [line for line in listed.stderr.splitlines() if line.strip()]
        assert listed.returncode == 0 and len(lines) == 1, listed.stderr
        assert "bad.yaml" in lines[0] and "Traceback" not in listed.stderr
        names = [row.get("tool", row.get("name")) for row in json.loads(listed.stdout)]
        assert "workflow.sum_greet" in names and "workflow.bad" not in names
