"""「你能做什么」 is answered from the tools the assistant has; only a question about the assistant gets that answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from openautoglm import AutoGLM, tool
from openautoglm.config import Settings
from openautoglm.models.scripted import ScriptedModel
from openautoglm.planning import RulePlanner


@tool(name="crm.lookup_customer")
def lookup_customer(name: str) -> dict[str, str]:
    """Find a customer by name in the CRM.

    Args:
        name: the customer's name
    """
    return {"name": name}


@pytest.fixture
def glm(tmp_path: Path) -> AutoGLM:
    # No knowledge tools (nothing here asks the documents), and the store opened before the run: a first run that
    # opens the store and the knowledge base at once on a fresh home has been seen to race on schema creation.
    app = AutoGLM(settings=Settings(home=tmp_path, tools=["math", "measure", "finance", "time", "sales"]),
                  model=ScriptedModel(["unused"]), planner=RulePlanner(), tools=[lookup_customer])
    assert app.store is not None
    return app


@pytest.mark.parametrize("question", ["你能做什么？", "你有哪些功能", "What can you do?", "How can you help me?"])
async def test_a_question_about_the_assistant_lists_what_its_tools_do(glm: AutoGLM, question: str) -> None:
    result = await glm.run(question)
    assert [s.uses for s in result.plan.steps] == ["assistant.capabilities"] and result.status == "succeeded"
    zh = question[0] in "你"
    assert ("单位" if zh else "convert units") in result.answer  # measure.convert, a built-in group
    assert ("知识库" if zh else "knowledge base") not in result.answer  # a group it does not have is not offered
    assert "crm.lookup_customer" in result.answer and "Find a customer by name in the CRM" in result.answer
    assert "llm." not in result.answer  # how it works is not something it offers


@pytest.mark.parametrize("question", ["这个手表有什么功能？", "我能做什么来提高销量？",
                                      "What features does the watch have?"])
async def test_abilities_of_something_else_are_not_the_assistants(glm: AutoGLM, question: str) -> None:
    plan = await glm.plan(question)
    assert "assistant.capabilities" not in [s.uses for s in plan.steps], question
