"""AutoGLM.run replans once when a step fails for good, keeping what succeeded, all of it in the trace."""

from __future__ import annotations

from openautoglm import AutoGLM, ScriptedModel, Settings, tool
from openautoglm.events import EventKind
from openautoglm.planning import RulePlanner, planning_embedder
from openautoglm.store import Store
from test_planning_replan import broken_forecast


async def test_run_replaces_a_failed_step_and_finishes() -> None:
    model = ScriptedModel(["北京明天天气未能查到，出门前请再看一下天气预报，备好雨具。"])
    settings = Settings(retries=0)
    # time.resolve fits the request's words (明天) well enough to pass the score bar; only its job is different.
    app = AutoGLM(settings=settings, model=model, tools=[broken_forecast], store=Store.temporary(),
                  planner=RulePlanner(embedder=planning_embedder(settings)))
    result = await app.run("查询北京明天的天气并生成一段提醒文案")
    by_id = {s.id: s for s in result.steps}
    assert by_id["forecast"].uses == "llm.generate"  # the stand-in took the failed step's place
    assert "weather.forecast failed" in model.requests[0].messages[-1].content
    # A small model cannot know the weather: the forecast part is reported as not done, with the tool's error,
    # and the status says so, though the reminder was written.
    assert result.status == "partial", result.answer
    assert "「查询北京明天的天气」没能完成：upstream weather service is down" in result.answer
    # The reminder's prompt holds the stand-in's words as data, fenced once (by the tool, not also the planner).
    reminder = model.requests[1].messages[-1].content
    assert reminder.count("<data>") == 1 and reminder.count("</data>") == 1
    kinds = [e.kind for e in app.trace(result.task_id)]
    assert kinds.count(EventKind.PLAN_MADE) == 2
    assert kinds.index(EventKind.STEP_FAILED) < kinds.index(EventKind.REPLAN) < len(kinds) - 1
    planners = [e.data["planner"] for e in app.trace(result.task_id) if e.kind == EventKind.PLAN_MADE]
    assert planners == ["rules", "replan"]
    await app.aclose()


@tool(name="weather2.current")
def second_provider(city: str, date: str | None = None) -> dict[str, str]:
    """Current weather and the forecast for the next days in a city, from a second provider.

    Args:
        city: the city
        date: the day
    """
    return {"city": city, "date": date or "", "summary": "小雨, 8-14°C"}


async def test_a_tool_doing_the_same_job_stands_in_and_an_unrelated_one_does_not() -> None:
    model = ScriptedModel(["明天小雨，记得带伞。"])
    settings = Settings(retries=0)
    app = AutoGLM(settings=settings, model=model, tools=[broken_forecast, second_provider],
                  store=Store.temporary(), planner=RulePlanner(embedder=planning_embedder(settings)))
    result = await app.run("查询北京明天的天气并生成一段提醒文案")
    by_id = {s.id: s for s in result.steps}
    # time.resolve also matches "明天" in the request, but it does not do a weather service's job.
    assert by_id["forecast"].uses == "weather2.current" and by_id["forecast"].output["city"] == "北京"
    assert "weather.forecast 没能给出结果，改由 weather2.current 回答" in result.answer
    assert result.status == "succeeded"  # a tool doing the same job did it
    await app.aclose()
