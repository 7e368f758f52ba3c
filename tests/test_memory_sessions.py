"""Sessions: turns persisted in the Store, the window and running summary, the app's wiring, the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from openautoglm.app import AutoGLM
from openautoglm.config import Settings
from openautoglm.errors import ClarificationNeeded, ModelUnavailable, NotFound
from openautoglm.memory.sessions import ModelSummarizer, Sessions, SessionTurn, TruncatingSummarizer
from openautoglm.models.scripted import ScriptedModel
from openautoglm.plan import Plan, Step
from openautoglm.planning.base import Planner, PlanningContext
from openautoglm.store import Store, sqlite_url


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(sqlite_url(tmp_path / "s.db"))
    yield s
    s.close()


def test_turns_persist_in_order_and_survive_a_reopen(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "s.db")
    store = Store(url)
    sessions = Sessions(store)
    sessions.append("s1", SessionTurn(request="北京明天天气", answer="晴", plan={"steps": []}, task_id="t1"))
    sessions.append("s1", SessionTurn(request="再查一下上海的", answer="多云"))
    sessions.append("s2", SessionTurn(request="other", answer="x"), owner="bob")
    store.close()

    again = Sessions(Store(url))
    turns = again.turns("s1")
    assert [(t.seq, t.request, t.answer) for t in turns] == [(1, "北京明天天气", "晴"), (2, "再查一下上海的", "多云")]
    assert turns[0].task_id == "t1"
    assert {i.id: i.turns for i in again.list()} == {"s1": 2, "s2": 1}
    assert [i.id for i in again.list(owner="bob")] == ["s2"]
    assert again.get("s1").last_request == "再查一下上海的"
    again.store.close()


def test_window_summary_and_truncation(store: Store) -> None:
    sessions = Sessions(store, window=2, summarizer=TruncatingSummarizer(max_chars=200))
    for i in range(1, 6):
        sessions.append("s", SessionTurn(request=f"问题{i} " + "很长" * 80, answer=f"回答{i}"))
    assert [t.request[:3] for t in sessions.recent("s")] == ["问题4", "问题5"]
    assert asyncio.run(sessions.compact("s")) is True  # 5 unfolded > 2 * window
    summary = sessions.summary("s") or ""
    assert "问题3" in summary and "回答3" in summary
    assert "问题4" not in summary  # still in the window, not folded
    assert len(summary) <= 200  # the oldest folded lines were dropped to fit
    assert asyncio.run(sessions.compact("s")) is False  # only the window is left unfolded
    history = sessions.history("s")
    assert [h.answer for h in history] == ["回答4", "回答5"]
    text = sessions.context_text("s")
    assert "回答5" in text and "问题3" in text


def test_model_summary_and_its_fallback(store: Store) -> None:
    sessions = Sessions(store, window=1)
    for i in range(3):
        sessions.append("s", SessionTurn(request=f"trip to city {i}", answer=f"ok {i}"))
    model = ScriptedModel(["The user is planning trips to cities 0 and 1."])
    assert asyncio.run(sessions.compact("s", ModelSummarizer(model)))
    assert sessions.summary("s") == "The user is planning trips to cities 0 and 1."
    assert "trip to city 1" in model.requests[0].messages[-1].content

    for i in range(3, 5):
        sessions.append("s", SessionTurn(request=f"trip to city {i}", answer=f"ok {i}"))
    events: list[tuple[str, dict[str, object]]] = []
    broken = ModelSummarizer(ScriptedModel([ModelUnavailable("down")]),
                             emit=lambda kind, **data: events.append((kind, data)))
    assert asyncio.run(sessions.compact("s", broken))
    summary = sessions.summary("s") or ""
    assert "trip to city 3" in summary  # truncation took over
    assert events and events[0][0] == "session.summary_fallback"


def test_owner_is_enforced_and_delete_forgets(store: Store) -> None:
    sessions = Sessions(store)
    sessions.append("mine", SessionTurn(request="a", answer="b"), owner="alice")
    with pytest.raises(NotFound):
        sessions.append("mine", SessionTurn(request="c"), owner="mallory")
    with pytest.raises(NotFound):
        sessions.history("mine", owner="mallory")
    with pytest.raises(NotFound):
        sessions.export("mine", owner="mallory")
    exported = sessions.export("mine", owner="alice")
    assert exported["session"]["id"] == "mine"
    assert [t["request"] for t in exported["turns"]] == ["a"]
    json.dumps(exported)  # JSON-ready
    assert sessions.delete("mine") == 1
    with pytest.raises(NotFound, match="sessions list"):
        sessions.get("mine")
    assert sessions.history("mine") == []


# -- wired into AutoGLM.run ----------------------------------------------------------------------------------------


class CityPlanner(Planner):
    """Asks for a city unless the request or the last clarified turn supplies one; records what it was given."""

    name = "city"

    def __init__(self) -> None:
        self.seen: list[list[tuple[str, str]]] = []

    async def plan(self, request: str, ctx: PlanningContext) -> Plan:
        self.seen.append([(t.request, t.status) for t in ctx.history])
        last = ctx.history[-1] if ctx.history else None
        if "天气" in request and "城" not in request:
            raise ClarificationNeeded("哪个城市？", missing=["city"])
        clarified = last is not None and last.status == "needs_input"
        prompt = f"{last.request} 城市：{request}" if last is not None and clarified else request
        return Plan(steps=[Step(id="answer", uses="llm.generate", with_={"prompt": prompt})])


async def test_run_loads_history_and_a_clarifying_answer_completes_the_plan(tmp_path: Path) -> None:
    model = ScriptedModel(["上海明天有雨，记得带伞"])
    planner = CityPlanner()
    app = AutoGLM(settings=Settings(home=tmp_path), model=model, planner=planner)
    try:
        first = await app.run("提醒我天气", session_id="chat-1")
        assert first.status == "needs_input"
        second = await app.run("上海", session_id="chat-1")
        assert second.status == "succeeded"
        assert planner.seen[1] == [("提醒我天气", "needs_input")]
        assert second.plan is not None
        assert second.plan.steps[0].with_["prompt"] == "提醒我天气 城市：上海"
        turns = app.sessions.turns("chat-1")
        assert [(t.request, t.status) for t in turns] == [("提醒我天气", "needs_input"), ("上海", "succeeded")]
        assert turns[0].question == "哪个城市？" and turns[0].missing == ["city"]
        assert turns[1].plan is not None and turns[1].task_id == second.task_id
        # No session id: nothing remembered, nothing loaded.
        await app.run("随便说点什么")
        assert planner.seen[-1] == []
        assert [s.id for s in app.sessions.list()] == ["chat-1"]
    finally:
        await app.aclose()


def _autoglm(*args: str) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name("autoglm"))
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, env=os.environ.copy(),
                          stdin=subprocess.DEVNULL, check=False)


def test_sessions_cli_lists_shows_exports_and_deletes(tmp_path: Path) -> None:
    store = Store(Settings().db_url)
    Sessions(store).append("cli-s", SessionTurn(request="北京天气", answer="晴", status="succeeded"))
    store.close()
    listed = _autoglm("sessions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [s["id"] for s in json.loads(listed.stdout)] == ["cli-s"]
    shown = _autoglm("sessions", "show", "cli-s")
    assert shown.returncode == 0 and "北京天气" in shown.stdout
    out = tmp_path / "s.json"
    exported = _autoglm("sessions", "export", "cli-s", "--output", str(out))
    assert exported.returncode == 0, exported.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["turns"][0]["answer"] == "晴"
    assert _autoglm("sessions", "delete", "cli-s").returncode == 0
    missing = _autoglm("sessions", "show", "cli-s")
    assert missing.returncode != 0
    lines = [line for line in missing.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no session 'cli-s'" in lines[0], missing.stderr
