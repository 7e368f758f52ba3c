"""Small talk ("你好", "hello", "谢谢", "how are you?") ends with a short friendly reply and an honest status: the
model writes one line, checked; a line that fails its checks (the 135M model greets Chinese in English, or loops)
gives way to the composer's courtesy reply for the act, never to `failed`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from openautoglm import AutoGLM
from openautoglm.compose import ComposeInput, Composer
from openautoglm.config import Settings
from openautoglm.engine import StepResult, StepStatus
from openautoglm.models.embedded import EmbeddedModel
from openautoglm.models.scripted import ScriptedModel
from openautoglm.plan import parse_plan
from openautoglm.planning import PlanningContext, RulePlanner
from openautoglm.planning.intent import split_parts
from openautoglm.planning.kinds import Kind, classify, small_talk_act
from openautoglm.store import Store
from openautoglm.tools.base import ToolRegistry
from openautoglm.tools.builtin import builtin_tools

NOW = datetime(2026, 11, 18, 15, 0).astimezone()


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> ToolRegistry:
    home: Path = tmp_path_factory.mktemp("home")
    return ToolRegistry(builtin_tools(ScriptedModel(["unused"]), Settings(home=home)))


@pytest.mark.parametrize("text", ["你好", "您好！", "早上好呀", "多谢啦", "你好，最近怎么样", "hello",
                                  "Hi there, how are you?", "hey, how's it going?", "good evening", "Thanks a lot!"])
def test_small_talk_is_conversation(text: str) -> None:
    assert classify(text) == Kind.CONVERSATION


@pytest.mark.parametrize("text, act", [("You've been so helpful!", "thanks"), ("谢谢，你真厉害", "thanks"),
                                       ("Nice work, thank you!", "thanks"), ("你帮了我不少", "thanks"),
                                       ("这几天过得怎么样？", "how_are_you"), ("how's your day going?", "how_are_you"),
                                       ("Hey, how have you been?", "how_are_you")])
def test_praise_and_asking_after_ones_day_are_small_talk_too(text: str, act: str) -> None:
    assert classify(text) == Kind.CONVERSATION and small_talk_act(text) == act


@pytest.mark.parametrize("text", ["今天心情不好怎么办", "hello world program in python", "Hi, what is 3+5?",
                                  "you are great at math, what is 3+5?", "太棒了，帮我订个餐厅",
                                  "Is the report great?", "帮我查一下今天过得怎么样的天气"])
def test_a_request_that_opens_with_a_greeting_is_not_small_talk(text: str) -> None:
    assert classify(text) != Kind.CONVERSATION


@pytest.mark.parametrize("request_text, system_word", [("你好", "中文"), ("Hi there, how are you?", "English")])
async def test_small_talk_asks_the_model_for_one_short_line_in_the_request_language(
        tools: ToolRegistry, request_text: str, system_word: str) -> None:
    ctx = PlanningContext(tools=tools, now=NOW, emit=lambda *a, **k: None, model=ScriptedModel(["unused"]))
    plan = await RulePlanner(model_fill=False).plan(request_text, ctx)
    assert [s.uses for s in plan.steps] == ["llm.generate"] and not plan.unsupported
    assert system_word in plan.steps[0].with_["system"] and plan.steps[0].with_["max_tokens"] <= 48


def compose_small_talk(tools: ToolRegistry, request: str, model_text: str, capable: bool = True) -> Any:
    plan = parse_plan({"steps": [{"id": "hi", "uses": "llm.generate", "with": {"prompt": request},
                                  "description": request}]})
    done = StepResult("hi", "llm.generate", StepStatus.SUCCEEDED, output=model_text, attempts=1)
    composer = Composer(ScriptedModel(["unused"], can_plan=capable))
    return composer.compose(ComposeInput(request, plan, [done], tools))


@pytest.mark.parametrize("request_text, model_text, answer", [
    ("你好", "Hello! I'm here to help with any kind of writing.", "你好！有什么可以帮你的吗？"),  # wrong language
    ("谢谢你", "谢谢你！😊😊😊😊😊😊", "不客气！还有什么可以帮你的吗？"),  # a loop of emoji
    ("最近怎么样", "最近怎么样？", "我很好，谢谢！有什么可以帮你的吗？"),  # the question asked back
    ("Goodbye!", "再见再见再见再见再见", "Goodbye, have a nice day!"),
])
async def test_small_talk_whose_model_line_fails_gets_the_courtesy_reply(
        tools: ToolRegistry, request_text: str, model_text: str, answer: str) -> None:
    out = await compose_small_talk(tools, request_text, model_text)
    assert (out.status, out.answer) == ("succeeded", answer)
    assert 0.5 <= out.confidence <= 0.7


async def test_a_capable_models_good_line_is_the_reply_and_only_its_first_sentence(tools: ToolRegistry) -> None:
    out = await compose_small_talk(tools, "hello", "Hello, nice to see you!\n\nI am a bot that writes poems.")
    assert (out.status, out.answer) == ("succeeded", "Hello, nice to see you!")
    out = await compose_small_talk(tools, "Thanks, you were a big help", "Glad I could help. I am glad. I am glad.")
    assert out.answer == "Glad I could help."


@pytest.mark.parametrize("request_text, model_text, answer", [
    ("Thanks! See you tomorrow.", "I'm sorry for your loss.", "You're welcome! Anything else I can help with?"),
    ("嗨，今天过得好吗？", "你好，猪猪！", "我很好，谢谢！有什么可以帮你的吗？"),
])
async def test_on_a_small_model_small_talk_gets_the_courtesy_reply_for_its_act(
        tools: ToolRegistry, request_text: str, model_text: str, answer: str) -> None:
    out = await compose_small_talk(tools, request_text, model_text, capable=False)
    assert (out.status, out.answer) == ("succeeded", answer)


@pytest.mark.parametrize("request_text, parts", [("嗨，今天过得好吗？", 1), ("Thanks! See you tomorrow.", 1),
                                                  ("谢谢！再算一下 12*7", 2)])
def test_courtesies_said_together_are_one_part(request_text: str, parts: int) -> None:
    assert len(split_parts(request_text)) == parts


@pytest.mark.model
@pytest.mark.parametrize("request_text", ["你好", "hello", "谢谢你"])
async def test_small_talk_on_the_embedded_model_is_a_short_reply_that_succeeds(
        tmp_path: Path, embedded_model: EmbeddedModel, request_text: str) -> None:
    glm = AutoGLM(settings=Settings(home=tmp_path, planner="rules"), model=embedded_model,
                  store=Store(f"sqlite:///{tmp_path / 't.db'}"))
    async with glm:
        result = await glm.run(request_text)
    assert result.status == "succeeded", result.answer
    assert 0 < len(result.answer) <= 80 and "\n" not in result.answer
    chinese = any("\u4e00" <= c <= "\u9fff" for c in result.answer)
    assert chinese == (request_text != "hello"), result.answer
