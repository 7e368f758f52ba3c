"""The writer for a capable model: it words the reply from the step results, and its reply is used only if it
passes the checks on generated text and every number, date and name in it is found in the results or the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

from ..models.base import ChatModel, ChatRequest, reporting_model_events
from ..tools.llm import DATA_NOTICE, fence_data
from .base import ComposeInput
from .checks import text_problems
from .grounding import Known, ungrounded
from .language import Lang
from .outcomes import Outcome, Source, plain

PROMPTS = Path(__file__).with_name("prompts")
LANGUAGE_NAMES = {"zh": "Chinese (简体中文)", "en": "English"}
RESULT_CHARS = 1500
CAPABLE = "planning"


@cache
def _prompt(name: str) -> str:
    """A prompt template, read once (not a file read on the event loop for every reply)."""
    return (PROMPTS / name).read_text(encoding="utf-8")


class ModelWriter:
    name = "model"

    def __init__(self, model: ChatModel, max_tokens: int = 400) -> None:
        self.model = model
        self.max_tokens = max_tokens

    def request(self, inp: ComposeInput, parts: Sequence[Outcome], lang: Lang, draft: str) -> ChatRequest:
        system = _prompt("write_system.txt").format(
            language=LANGUAGE_NAMES[lang],
            instructions=f"The operator's instructions for every reply:\n{inp.instructions}" if inp.instructions
            else "")
        results = "\n".join(
            f"- {p.part}: {p.source.value}\n{fence_data(p.sentence + _data(p))}" for p in parts)
        user = _prompt("write_user.txt").format(
            request=inp.request, results=results, draft=fence_data(draft))
        # Asked of the capable nodes: in a pool the capability that reaches them is "planning" (a small node would
        # only have its reply rejected).
        return ChatRequest.of(user, system=f"{DATA_NOTICE}\n{system}", max_tokens=self.max_tokens, temperature=0.0,
                              capability=CAPABLE)

    async def write(self, inp: ComposeInput, parts: Sequence[Outcome], lang: Lang, draft: str
                    ) -> tuple[str, list[str]]:
        """The model's reply and what is wrong with it (empty when it may be shown)."""
        with reporting_model_events(inp.emit):
            response = await self.model.complete(self.request(inp, parts, lang, draft))
        reply = response.text.strip()
        problems = text_problems(reply, lang, inp.request, inp.instructions)
        known = Known.of([inp.request, draft, *(p.output for p in parts if p.output is not None)])
        problems += ungrounded(reply, known)
        problems += [f"it does not name the source {name}" for name in _sources(parts) if name not in reply]
        return reply, problems


def _sources(parts: Sequence[Outcome]) -> list[str]:
    """The files knowledge answers rest on: a reply must name them, as the plain one does."""
    names: list[str] = []
    for part in parts:
        if part.source == Source.KNOWLEDGE and isinstance(part.output, dict):
            names += [str(s["name"]) for s in part.output.get("sources") or [] if isinstance(s, dict)][:1]
        elif part.source == Source.KNOWLEDGE and isinstance(part.output, list) and part.output:
            names.append(str(part.output[0].get("name", "")))
    return [n for n in dict.fromkeys(names) if n]


def _data(part: Outcome) -> str:
    if part.output is None:
        return ""
    text = plain(part.output)
    return "\n" + (text if len(text) <= RESULT_CHARS else text[:RESULT_CHARS] + "…")
