"""The executor: eager start, concurrency, timeouts, retries with backoff, skips, permissions, resume."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from openautoglm import AutoGLM, ScriptedModel, Settings, tool
from openautoglm.engine import Executor, StepStatus
from openautoglm.errors import PlanValidationError, ToolArgumentError
from openautoglm.events import Event, EventEmitter, EventKind
from openautoglm.plan import RetryPolicy, parse_plan
from openautoglm.store import Store
from openautoglm.tools import ToolContext, ToolRegistry


@tool(name="test.sleep")
async def sleep_tool(seconds: float, value: str = "") -> str:
    """Sleep, then return value."""
    await asyncio.sleep(seconds)
    return value


@tool(name="test.echo")
def echo_tool(text: str) -> dict:
    """Return the text in a dict."""
    return {"text": text, "length": len(text)}


class Flaky:
    """Times out (sleeps past any small timeout) on the first `failures` calls, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def tool(self) -> Any:
        @tool(name="test.flaky")
        async def flaky() -> str:
            """Slow at first."""
            self.calls += 1
            if self.calls <= self.failures:
                await asyncio.sleep(5)
            return "ok"

        return flaky


def collect() -> tuple[list[Event], EventEmitter]:
    events: list[Event] = []
    return events, EventEmitter("t1", [events.append])


def registry(*extra: Any) -> ToolRegistry:
    return ToolRegistry([sleep_tool, echo_tool, *extra])


async def test_a_step_starts_when_its_own_dependencies_finish_not_a_whole_level() -> None:
    plan = parse_plan({"steps": [
        {"id": "fast", "uses": "test.sleep", "with": {"seconds": 0.02, "value": "f"}},
        {"id": "slow", "uses": "test.sleep", "with": {"seconds": 0.4, "value": "s"}},
        {"id": "after_fast", "uses": "test.echo", "with": {"text": "${fast.output}!"}},
    ]})
    _, emitter = collect()
    results = await Executor(registry()).run(plan, emitter)
    assert results["after_fast"].output == {"text": "f!", "length": 2}
    # after_fast ran while slow was still running: no barrier between "levels"
    assert results["after_fast"].finished_at < results["slow"].finished_at


async def test_independent_steps_overlap() -> None:
    plan = parse_plan({"steps": [
        {"id": f"s{i}", "uses": "test.sleep", "with": {"seconds": 0.2}} for i in range(5)
    ]})
    _, emitter = collect()
    results = await Executor(registry()).run(plan, emitter)
    assert all(r.status == StepStatus.SUCCEEDED for r in results.values())
    latest_start = max(r.started_at for r in results.values())
    earliest_finish = min(r.finished_at for r in results.values())
    assert latest_start < earliest_finish  # all five were running at once


async def test_timeout_is_retried_with_backoff_and_recorded() -> None:
    flaky = Flaky(failures=1)
    delays: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        delays.append(seconds)

    plan = parse_plan({"steps": [{"id": "f", "uses": "test.flaky", "timeout_s": 0.05,
                                  "retry": {"attempts": 3, "backoff_s": 0.25}}]})
    events, emitter = collect()
    results = await Executor(registry(flaky.tool()), sleep=fake_sleep).run(plan, emitter)
    assert results["f"].status == StepStatus.SUCCEEDED
    assert results["f"].attempts == 2
    assert delays == [0.25]
    retries = [e for e in events if e.kind == EventKind.STEP_RETRY]
    assert len(retries) == 1 and "timed out after 0.05s" in retries[0].data["error"]


async def test_a_step_failing_for_good_skips_its_dependents_and_the_rest_go_on() -> None:
    flaky = Flaky(failures=10)

    async def no_wait(_: float) -> None:
        return None

    plan = parse_plan({"steps": [
        {"id": "f", "uses": "test.flaky", "timeout_s": 0.05, "retry": {"attempts": 2, "backoff_s": 0.1}},
        {"id": "child", "uses": "test.echo", "with": {"text": "${f.output}"}},
        {"id": "grandchild", "uses": "test.echo", "with": {"text": "${child.output.text}"}},
        {"id": "other", "uses": "test.echo", "with": {"text": "independent"}},
    ]})
    events, emitter = collect()
    results = await Executor(registry(flaky.tool()), sleep=no_wait).run(plan, emitter)
    assert flaky.calls == 2
    assert results["f"].status == StepStatus.FAILED and "timed out" in (results["f"].error or "")
    assert results["child"].status == StepStatus.SKIPPED
    assert results["child"].error == "needs 'f', which failed"
    assert results["grandchild"].status == StepStatus.SKIPPED
    assert "was skipped" in (results["grandchild"].error or "")
    assert results["other"].status == StepStatus.SUCCEEDED
    skipped = {e.step_id: e.data["reason"] for e in events if e.kind == EventKind.STEP_SKIPPED}
    assert set(skipped) == {"child", "grandchild"}


async def test_argument_errors_are_not_retried() -> None:
    plan = parse_plan({"steps": [
        {"id": "a", "uses": "test.echo", "with": {"text": "x"}},
        {"id": "b", "uses": "test.sleep", "with": {"seconds": "${a.output.text}"}, "retry": {"attempts": 3}},
    ]})
    events, emitter = collect()
    results = await Executor(registry()).run(plan, emitter)
    assert results["b"].status == StepStatus.FAILED
    assert "seconds" in (results["b"].error or "")
    assert not [e for e in events if e.kind == EventKind.STEP_RETRY]


async def test_invalid_plan_is_never_executed() -> None:
    calls: list[str] = []

    @tool(name="test.record")
    def record(x: str) -> str:
        """Record."""
        calls.append(x)
        return x

    plan = parse_plan({"steps": [
        {"id": "a", "uses": "test.record", "with": {"x": "${b.output}"}},
        {"id": "b", "uses": "test.record", "with": {"x": "${a.output}"}},
        {"id": "c", "uses": "test.record", "with": {"x": "fine"}},
    ]})
    _, emitter = collect()
    with pytest.raises(PlanValidationError, match="cycle"):
        await Executor(ToolRegistry([record])).run(plan, emitter)
    assert calls == []


async def test_side_effect_tools_need_approval() -> None:
    @tool(name="test.send", side_effects=True)
    def send(to: str) -> str:
        """Send a message."""
        return f"sent to {to}"

    plan = parse_plan({"steps": [{"id": "s", "uses": "test.send", "with": {"to": "boss"}}]})
    events, emitter = collect()
    denied = await Executor(ToolRegistry([send])).run(plan, emitter)
    assert denied["s"].status == StepStatus.FAILED and "not approved" in (denied["s"].error or "")

    seen: list[dict] = []

    async def approve(tool: Any, args: dict, ctx: ToolContext) -> bool:
        seen.append(args)
        return True

    events, emitter = collect()
    allowed = await Executor(ToolRegistry([send]), approver=approve).run(plan, emitter)
    assert allowed["s"].output == "sent to boss" and seen == [{"to": "boss"}]
    approvals = [e for e in events if e.kind == EventKind.APPROVAL]
    assert approvals and approvals[0].data["approved"] is True


async def test_roles_are_enforced() -> None:
    @tool(name="test.admin_only", roles=["admin"])
    def admin_only() -> str:
        """Only for admins."""
        return "secret"

    plan = parse_plan({"steps": [{"id": "s", "uses": "test.admin_only"}]})
    events, emitter = collect()
    results = await Executor(ToolRegistry([admin_only])).run(plan, emitter, role="viewer")
    assert results["s"].status == StepStatus.FAILED and "viewer" in (results["s"].error or "")
    assert [e for e in events if e.kind == EventKind.TOOL_DENIED]


async def test_when_condition_skips_a_step() -> None:
    plan = parse_plan({"steps": [
        {"id": "a", "uses": "test.echo", "with": {"text": ""}},
        {"id": "b", "uses": "test.echo", "with": {"text": "yes"}, "when": "${a.output.text}"},
        {"id": "c", "uses": "test.echo", "with": {"text": "yes"}, "when": "${a.output.length}",
         "depends_on": ["a"]},
    ]})
    _, emitter = collect()
    results = await Executor(registry()).run(plan, emitter)
    assert results["b"].status == StepStatus.SKIPPED and "condition" in (results["b"].error or "")
    assert results["c"].status == StepStatus.SKIPPED


async def test_sync_tool_errors_are_reported_with_their_type() -> None:
    @tool(name="test.boom")
    def boom() -> str:
        """Fail."""
        raise ValueError("bad input data")

    plan = parse_plan({"steps": [{"id": "b", "uses": "test.boom", "retry": {"attempts": 1}}]})
    _, emitter = collect()
    results = await Executor(ToolRegistry([boom])).run(plan, emitter)
    assert results["b"].error == "ValueError: bad input data"


def test_function_tool_schema_from_signature_and_docstring() -> None:
    @tool(name="weather.forecast")
    def forecast(city: str, date: str = "today", days: int = 1) -> dict:
        """Weather forecast for a city.

        Args:
            city: the city name, e.g. 北京
            date: a date or 今天/明天
        """
        return {}

    assert forecast.description == "Weather forecast for a city."
    props = forecast.parameters["properties"]
    assert props["city"] == {"type": "string", "description": "the city name, e.g. 北京"}
    assert props["days"]["type"] == "integer"
    assert forecast.parameters["required"] == ["city"]
    assert forecast.validate({"city": "北京", "days": "2"})["days"] == 2
    with pytest.raises(ToolArgumentError, match="city"):
        forecast.validate({"days": 1})


async def test_resume_reruns_only_unfinished_steps(tmp_path: Any) -> None:
    counts = {"first": 0, "second": 0}

    @tool(name="test.first")
    async def first() -> dict:
        """First."""
        counts["first"] += 1
        return {"n": 41}

    @tool(name="test.second")
    async def second(n: int) -> int:
        """Second: hangs the first time (the process 'dies' there)."""
        counts["second"] += 1
        if counts["second"] == 1:
            await asyncio.sleep(60)
        return n + 1

    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    app = AutoGLM(settings=Settings(), model=ScriptedModel(["unused"]), tools=[first, second], store=store)
    plan = {"steps": [{"id": "a", "uses": "test.first"},
                      {"id": "b", "uses": "test.second", "with": {"n": "${a.output.n}"}, "timeout_s": 120}]}
    task_ids: list[str] = []

    def remember(event: Event) -> None:
        if event.kind == EventKind.TASK_STARTED:
            task_ids.append(event.task_id)

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await app.execute(plan, on_event=remember)
    result = await app.resume(task_ids[0])
    assert result.status == "succeeded"
    assert {s.id: s.output for s in result.steps} == {"a": {"n": 41}, "b": 42}
    assert counts == {"first": 1, "second": 2}
    kinds = [e.kind for e in app.trace(task_ids[0])]
    assert kinds.count(EventKind.TASK_STARTED) == 2 and kinds[-1] == EventKind.TASK_FINISHED
    store.close()


async def test_retry_policy_default_from_settings() -> None:
    flaky = Flaky(failures=1)
    app = AutoGLM(settings=Settings(retries=0), model=ScriptedModel(["x"]), tools=[flaky.tool()],
                  store=Store.temporary())
    result = await app.execute({"steps": [{"id": "f", "uses": "test.flaky", "timeout_s": 0.05}]})
    assert result.status == "failed" and result.steps[0].attempts == 1
    assert RetryPolicy(attempts=1).delay_before(2) == 0.5
    await app.aclose()
