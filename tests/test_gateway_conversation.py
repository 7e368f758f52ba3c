"""A conversation through the gateway with the official openai client: the whole ``messages`` array counts.

Turn 2's "它" is answered from turn 1's sales data; a stateless client that resends the history gets what a
session gets; a system prompt sets the reply language and reaches the model writing text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import openai
import pytest

from gateway_support import database, gateway, new_key
from openautoglm.app import AutoGLM
from openautoglm.config import Settings
from openautoglm.events import EventKind, step_outputs
from openautoglm.models.base import ChatRequest
from openautoglm.models.scripted import ScriptedModel
from openautoglm.planning import RulePlanner
from openautoglm.store import Store

BEST = "上周哪个产品卖得最好？"
FOLLOW_UP = "它比第二名多卖了多少件？"
HAN = re.compile(r"[\u4e00-\u9fff]")


def writer(request: ChatRequest) -> str:
    """A model that writes in the language its system message asks for."""
    system = " ".join(m.content for m in request.messages if m.role == "system")
    return "Welcome aboard, glad to have you with us!" if "English" in system else "欢迎加入，很高兴与你共事！"


def conversation_glm(url: str, model: Any = None) -> AutoGLM:
    # The rule planner without its embedder: the words of these requests choose their tools.
    return AutoGLM(settings=Settings(auth="required", database_url=url), store=Store(url), planner=RulePlanner(),
                   model=model or ScriptedModel([writer]))


def ask(client: openai.OpenAI, messages: list[dict[str, str]], **extra: Any) -> tuple[str, dict[str, Any]]:
    reply = client.chat.completions.create(model="autoglm", messages=messages,  # type: ignore[arg-type]
                                           extra_body=extra or None)
    return reply.choices[0].message.content or "", (reply.model_extra or {})["autoglm"]


def sold(glm: AutoGLM, task_id: str) -> list[int]:
    """Units of each ranked product, as turn 1's step recorded them."""
    outputs = step_outputs(glm.store.events(task_id))
    return [p["units"] for p in outputs["top_products"]["products"]]


def without_task_ids(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**s, "with": {k: v for k, v in s["with"].items() if k != "task_id"}} for s in plan["steps"]]


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_follow_up_about_it_is_answered_from_the_earlier_turns_data(db: str, tmp_path: Path) -> None:
    with database(db, tmp_path) as url:
        glm = conversation_glm(url)
        with gateway(glm) as server:
            client = openai.OpenAI(base_url=server.url + "/v1", api_key=new_key(glm, "user", owner="ann"),
                                   max_retries=0, timeout=60)
            first, first_ext = ask(client, [{"role": "user", "content": BEST}])
            units = sold(glm, first_ext["task_id"])
            assert len(units) >= 2 and first_ext["status"] == "succeeded"

            # Stateless: the client resends the conversation; the gateway finds turn 1's task by its reply.
            history = [{"role": "user", "content": BEST}, {"role": "assistant", "content": first}]
            second, second_ext = ask(client, [*history, {"role": "user", "content": FOLLOW_UP}])
            assert second_ext["status"] == "succeeded"
            assert str(units[0] - units[1]) in second, second
            recall = second_ext["plan"]["steps"][0]
            assert recall["uses"] == "memory.recall" and recall["with"]["task_id"] == first_ext["task_id"]
            assert "memory.recall" not in [s["uses"] for s in first_ext["plan"]["steps"]]
            trace = glm.trace(second_ext["task_id"])
            assert not [e for e in trace if e.kind == EventKind.STEP_STARTED and e.data["uses"] == "sales.top_products"]

            # The same conversation kept by the gateway as a session gives the same answer from the same plan.
            s_first, s_first_ext = ask(client, [{"role": "user", "content": BEST}], session_id="ann-1")
            s_second, s_second_ext = ask(client, [{"role": "user", "content": FOLLOW_UP}], session_id="ann-1")
            assert s_first == first and s_second == second
            assert without_task_ids(s_second_ext["plan"]) == without_task_ids(second_ext["plan"])
            assert s_second_ext["plan"]["steps"][0]["with"]["task_id"] == s_first_ext["task_id"]

            # Another owner resending ann's conversation does not reach ann's data: the reply stays words.
            bob = openai.OpenAI(base_url=server.url + "/v1", api_key=new_key(glm, "user", owner="bob"),
                                max_retries=0, timeout=60)
            _, bob_ext = ask(bob, [*history, {"role": "user", "content": FOLLOW_UP}])
            assert "memory.recall" not in [s["uses"] for s in bob_ext["plan"]["steps"]]


def test_a_system_prompt_sets_the_reply_language_and_reaches_the_writer(tmp_path: Path) -> None:
    model = ScriptedModel([writer])
    with database("sqlite", tmp_path) as url:
        glm = conversation_glm(url, model)
        with gateway(glm) as server:
            client = openai.OpenAI(base_url=server.url + "/v1", api_key=new_key(glm, "user"), max_retries=0,
                                   timeout=60)
            english = [{"role": "system", "content": "Always answer in English."}]
            plain, _ = ask(client, [{"role": "user", "content": BEST}])
            answer, ext = ask(client, [*english, {"role": "user", "content": BEST}])
            best = step_outputs(glm.store.events(ext["task_id"]))["top_products"]["products"][0]
            assert best["product"] in plain  # without a system prompt: the request's own language
            assert best["product_en"] in answer and f"{best['units']:,}" in answer and not HAN.search(answer), answer
            assert ext["status"] == "succeeded"

            welcome, ext = ask(client, [*english, {"role": "user", "content": "写一句欢迎新同事的话"}])
            assert welcome.endswith("Welcome aboard, glad to have you with us!") and not HAN.search(welcome)
            step = ext["plan"]["steps"][0]
            assert step["uses"] == "llm.generate" and step["with"]["system"] == "Always answer in English."
            started = next(e for e in glm.trace(ext["task_id"]) if e.kind == EventKind.TASK_STARTED)
            assert started.data["language"] == "en"
            chinese, _ = ask(client, [{"role": "system", "content": "请用中文回答。"},
                                      {"role": "user", "content": "write a line welcoming a new colleague"}])
            assert chinese.endswith("欢迎加入，很高兴与你共事！")
