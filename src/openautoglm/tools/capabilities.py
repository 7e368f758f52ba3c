"""``assistant.capabilities``: what this assistant can do, read off the tools it has ("你能做什么", "what can you do").

The answer is data, not the model's self-description: the registry's tools grouped by their name's first part
(``sales.rank`` → ``sales``), each group said in a phrase of the reply's language. A group this module has no phrase
for (a user's own tools, an MCP server's) is said by its tools' own descriptions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Tool, ToolContext, ToolRegistry

CAPABILITIES = "assistant.capabilities"

# The built-in groups, as a person would say them. Order: the order of the reply.
_PHRASES: dict[str, tuple[str, str]] = {
    "math": ("计算算式和百分比", "work out arithmetic and percentages"),
    "measure": ("换算长度、重量、温度等单位", "convert units of length, weight, temperature and more"),
    "finance": ("计算单利和复利", "work out simple and compound interest"),
    "time": ("回答日期、星期和时间，计算相隔天数", "answer dates, weekdays and the time, and count days between dates"),
    "sales": ("查询、汇总和排名销售数据", "look up, total and rank the sales data"),
    "report": ("生成带图表的销售报告", "produce sales reports with charts"),
    "knowledge": ("根据知识库里的文档回答问题并注明出处", "answer from the knowledge base's documents, citing them"),
    "sql": ("查询已配置的数据库", "query the configured databases"),
    "weather": ("查询天气预报", "look up weather forecasts"),
    "web": ("读取网页", "read web pages"),
    "files": ("读取文件", "read files"),
    "workflow": ("运行已登记的工作流", "run the registered workflows"),
    "memory": ("接着之前的对话回答", "follow up on earlier turns of a conversation"),
}
# Groups that are how the assistant works, not something to offer: the model steps and this tool itself.
_UNSAID = frozenset({"llm", "assistant"})


class CapabilitiesTool(Tool):
    name = CAPABILITIES
    description = ("What this assistant can do: its own tools and abilities (你能做什么, 你会什么, 你有什么功能, "
                   "能帮我做什么, what can you do, what are your capabilities).")
    parameters = {"type": "object", "properties": {}, "additionalProperties": False}  # noqa: RUF012
    source = "builtin"
    portable = False  # it holds this process's tool registry: it runs where the task runs

    def __init__(self, registry: Callable[[], ToolRegistry]) -> None:
        self._registry = registry

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        groups: dict[str, list[dict[str, str]]] = {}
        for tool in self._registry():
            group = tool.name.split(".", 1)[0]
            if group in _UNSAID or (tool.roles is not None and ctx.role not in tool.roles):
                continue
            groups.setdefault(group, []).append({"tool": tool.name, "description": _first_sentence(tool.description)})
        known = [g for g in _PHRASES if g in groups]
        return {"groups": [{"group": g, "tools": groups[g]} for g in known + sorted(set(groups) - set(known))]}

    def answer(self, output: Any, lang: str) -> str | None:
        if not isinstance(output, dict) or not output.get("groups"):
            return None
        zh = lang == "zh"
        said = []
        for group in output["groups"]:
            phrase = _PHRASES.get(group["group"])
            if phrase is not None:
                said.append(phrase[0] if zh else phrase[1])
            else:
                said.extend(f"{t['tool']}（{t['description']}）" if zh else f"{t['tool']} ({t['description']})"
                            for t in group["tools"])
        if zh:
            return "我可以：" + "；".join(said) + "。数字、日期和事实都来自这些工具和数据，不是模型凭记忆说的。"
        return ("I can " + "; ".join(said) + ". Numbers, dates and facts come from these tools and data, not from "
                "the model's memory.")


def _first_sentence(text: str) -> str:
    line = (text or "").strip().split("\n", 1)[0]
    for end in (". ", "。", "："):
        if end in line:
            line = line.split(end, 1)[0]
    return line.rstrip(".。 ")
