"""Typed events: each kind has a payload class; emitting refuses what it does not list; resume reads payloads."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from openautoglm import AutoGLM, ScriptedModel, Settings, tool
from openautoglm.events import (
    PAYLOADS,
    Event,
    EventEmitter,
    EventKind,
    EventSchemaError,
    Fallback,
    StepFinished,
    TaskStarted,
)
from openautoglm.store import Store


def test_every_kind_has_a_payload_class_and_events_py_imports_nothing_of_the_project() -> None:
    assert set(PAYLOADS) == {str(k) for k in EventKind}
    source = Path(__file__).parent.parent / "src" / "openautoglm" / "events.py"
    imports = [node for node in ast.walk(ast.parse(source.read_text(encoding="utf-8")))
               if isinstance(node, ast.ImportFrom | ast.Import)]
    assert imports and all(isinstance(n, ast.Import) or (n.level == 0 and not (n.module or "").startswith(
        "openautoglm")) for n in imports)


def test_an_unknown_kind_is_refused_and_nothing_is_recorded() -> None:
    seen: list[Event] = []
    emitter = EventEmitter("t", [seen.append])
    with pytest.raises(EventSchemaError, match=r"unknown event kind 'step\.exploded'"):
        emitter.emit("step.exploded", "s", reason="boom")
    assert seen == []
    assert emitter.emit(EventKind.TASK_FINISHED, status="succeeded").seq == 1  # the refused one took no number


def test_unknown_and_missing_fields_are_refused_naming_them() -> None:
    emitter = EventEmitter("t", [])
    with pytest.raises(EventSchemaError, match=r"unknown field\(s\) colour.*missing field\(s\) error_type"):
        emitter.emit(EventKind.TASK_FAILED, error="x", colour="red")
    with pytest.raises(EventSchemaError, match=r"missing field\(s\) duration_s, node"):
        emitter.emit(EventKind.STEP_FINISHED, "s", uses="t", attempts=1, output=1)
    # Optional fields may be left out; what is given is stored exactly as given.
    event = emitter.emit(EventKind.TASK_STARTED, request="hi", session_id=None)
    assert event.data == {"request": "hi", "session_id": None}
    assert event.payload == TaskStarted(request="hi", session_id=None)


def test_payloads_parse_from_stored_data_and_keep_the_stored_names() -> None:
    fallback = EventEmitter("t", []).emit(EventKind.FALLBACK, to="b", reason="down", **{"from": "a"})
    assert fallback.data == {"from": "a", "to": "b", "reason": "down"}
    assert fallback.payload == Fallback(from_="a", to="b", reason="down")
    assert fallback.payload.to_data() == fallback.data
    # A field an older version wrote and this one no longer lists does not stop an old database being read.
    old = Event("t", 1, "step.finished", 0.0, "s", {"uses": "u", "attempts": 2, "node": None, "duration_s": 0.1,
                                                    "output": 5, "retired_field": True})
    assert old.payload_as(StepFinished) == StepFinished("u", 2, None, 0.1, 5)
    assert old.payload_as(TaskStarted) is None
    with pytest.raises(EventSchemaError, match="lacks field"):
        _ = Event("t", 1, "answer", 0.0, None, {"answer": "x"}).payload


async def test_resume_rebuilds_finished_steps_from_typed_payloads(tmp_path: Path) -> None:
    runs = {"first": 0, "second": 0}

    @tool(name="test.first")
    def first() -> dict:
        """First."""
        runs["first"] += 1
        return {"n": 0}

    @tool(name="test.second")
    def second(n: int, bonus: int) -> int:
        """Second."""
        runs["second"] += 1
        return n + bonus

    store = Store(f"sqlite:///{tmp_path / 'resume.db'}")
    plan = {"inputs": {"bonus": {"type": "integer"}},
            "steps": [{"id": "a", "uses": "test.first"},
                      {"id": "b", "uses": "test.second", "with": {"n": "${a.output.n}", "bonus": "${inputs.bonus}"}}]}
    # The log of a task that died after its first step (written by a validated emitter, as the executor does).
    store.create_task("dead", "plan", owner="ann")
    log = EventEmitter("dead", [store.append])
    log.emit(EventKind.TASK_STARTED, request="plan", inputs={"bonus": 1})
    log.emit(EventKind.PLAN_MADE, plan=plan, planner="given")
    log.emit(EventKind.STEP_STARTED, "a", uses="test.first", args={}, timeout_s=30, attempts_allowed=3)
    log.emit(EventKind.STEP_FINISHED, "a", uses="test.first", attempts=3, node="node-7", duration_s=0.01,
             output={"n": 41})
    store.flush()

    app = AutoGLM(settings=Settings(), model=ScriptedModel(["unused"]), tools=[first, second], store=store)
    result = await app.resume("dead")
    assert result.status == "succeeded", result.answer
    by_id = {s.id: s for s in result.steps}
    assert runs == {"first": 0, "second": 1}
    # Step a's result is the payload's: its output, attempts and node; b used that output and the task's inputs.
    assert (by_id["a"].output, by_id["a"].attempts, by_id["a"].node) == ({"n": 41}, 3, "node-7")
    assert by_id["b"].output == 42
    resumed = [e.payload_as(TaskStarted) for e in app.trace("dead")]
    assert [p.steps_done for p in resumed if p is not None and p.resumed] == [["a"]]
    await app.aclose()


def test_every_emit_in_the_source_names_a_registered_kind_and_its_fields() -> None:
    """Read every ``emit(EventKind.X, ...)`` call in the package, so a wrong field fails here, not in production
    on the one path that emits it."""
    root = Path(__file__).parent.parent / "src" / "openautoglm"
    checked, problems = 0, []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name) and node.args):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            kind = node.args[0]
            if name != "emit" or not (isinstance(kind, ast.Attribute) and ast.unparse(kind.value) == "EventKind"):
                continue
            checked += 1
            schema = PAYLOADS[str(EventKind[kind.attr])]
            given = {k.arg for k in node.keywords if k.arg is not None}
            given |= {str(key.value) for k in node.keywords if k.arg is None and isinstance(k.value, ast.Dict)
                      for key in k.value.keys if isinstance(key, ast.Constant)}
            spread = any(k.arg is None and not isinstance(k.value, ast.Dict) for k in node.keywords)
            where = f"{path.relative_to(root)}:{node.lineno}"
            if unknown := given - schema.keys:
                problems.append(f"{where}: {kind.attr} has no field {sorted(unknown)}")
            if not spread and (missing := schema.required - given):
                problems.append(f"{where}: {kind.attr} lacks {sorted(missing)}")
    assert checked > 40 and problems == []
