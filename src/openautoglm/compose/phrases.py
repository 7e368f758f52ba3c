"""The composer's own sentences, in both languages: how a reply's pieces are joined, and what it says about parts
that were not done. Kept together so that wording is changed in one place."""

from __future__ import annotations

import re

from ..planning.kinds import (
    NEEDS_CAPABLE_MODEL,
    NEEDS_TOOL,
    NEEDS_TOOL_OR_MODEL,
    REASON_ACTION,
    REASON_FACT,
    REASON_TRANSLATION,
)
from .language import Lang

_ZH_WORDING = {
    REASON_ACTION: "目前没有能执行这个操作的工具",
    REASON_FACT: "没有工具能提供回答所需的信息，内置的小模型也不能可靠地回答",
    NEEDS_TOOL: "接入一个能完成它的工具",
    NEEDS_TOOL_OR_MODEL: "接入能提供这些信息的工具，或配置一个能力更强的模型",
    REASON_TRANSLATION: "内置的小模型翻译得不可靠",
    NEEDS_CAPABLE_MODEL: "配置一个能力更强的模型（或接入翻译工具）",
}
_END = re.compile(r"[。！？!?.…]$")


def words(text: str, lang: Lang) -> str:
    """A reason or need from the plan in the reply's language (the plan records them in English)."""
    if lang == "zh":
        return _ZH_WORDING.get(text, text)
    return text


def quoted(text: str, lang: Lang) -> str:
    text = text.strip().rstrip("。.？?！!")
    return f"「{text}」" if lang == "zh" else f"“{text}”"


def unsupported(text: str, reason: str, needs: str, lang: Lang) -> str:
    if lang == "zh":
        sentence = f"我无法完成{quoted(text, lang)}：{words(reason, lang) or '没有能做这件事的工具'}。"
        return sentence + (f"如果{words(needs, lang)}，就可以做到。" if needs else "")
    sentence = f"I can't do {quoted(text, lang)}: {reason or 'nothing available can do it'}."
    return sentence + (f" It would be possible with {needs}." if needs else "")


_COURTESY = {
    "greeting": ("你好！有什么可以帮你的吗？", "Hello! How can I help you?"),
    "how_are_you": ("我很好，谢谢！有什么可以帮你的吗？", "I'm doing well, thanks! How can I help you?"),
    "thanks": ("不客气！还有什么可以帮你的吗？", "You're welcome! Anything else I can help with?"),
    "farewell": ("再见，祝你愉快！", "Goodbye, have a nice day!"),
}


def courtesy(act: str, lang: Lang) -> str:
    """A reply to small talk (``greeting``, ``how_are_you``, ``thanks``, ``farewell``) that states nothing."""
    zh, en = _COURTESY.get(act, _COURTESY["greeting"])
    return zh if lang == "zh" else en


def failed(text: str, error: str, lang: Lang) -> str:
    reason = short(error)
    if lang == "zh":
        return f"{quoted(text, lang)}没能完成" + (f"：{reason}" if reason else "") + "。"
    return f"I could not do {quoted(text, lang)}" + (f": {reason}" if reason else "") + "."


def skipped(text: str, lang: Lang) -> str:
    if lang == "zh":
        return f"{quoted(text, lang)}没有执行，因为它需要的上一步没有完成。"
    return f"I did not do {quoted(text, lang)}, because a step it needs did not succeed."


def unchecked(text: str, tool: str, lang: Lang) -> str:
    """A capable model's answer standing in for a tool that failed: shown, but marked as not from the tool."""
    if lang == "zh":
        return f"（{tool} 没能给出结果，以下由模型回答，未经核实）{text}"
    return f"({tool} gave no result; the model answered this instead, unverified:) {text}"


def instead(failed_tool: str, stand_in: str, lang: Lang) -> str:
    if lang == "zh":
        return f"（{failed_tool} 没能给出结果，改由 {stand_in} 回答）"
    return f"({failed_tool} gave no result; {stand_in} answered instead) "


def unchecked_text(problems: list[str], lang: Lang, capable: bool = True) -> str:
    """Why a model's text is not shown, and (for the built-in model) what would make it possible. The checks are
    named in English replies only: in a Chinese one they would be English inside Chinese; the trace has them."""
    listed = "; ".join(problems[:2])
    if lang == "zh":
        if capable:
            return "模型写出的文字没有通过检查，没有采用"
        return ("内置的小模型写出的文字没有通过检查，没有采用；配置一个能力更强的模型（如 GLM API 或 vLLM 节点）"
                "就可以做到")
    if capable:
        return f"the model's text failed its checks ({listed})"
    # The advice first: failed() keeps the first 160 characters.
    return (f"a configured capable model (the GLM API, a vLLM node) would make it possible; the built-in small "
            f"model's text failed its checks ({listed})")


def percent(sentence: str, value: float, lang: Lang) -> str:
    """A computed percentage said as one, to two decimals ("…= 17.654099，即 17.65%")."""
    said = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{sentence}，即 {said}%" if lang == "zh" else f"{sentence}, i.e. {said}%"


def short(error: str | None, limit: int = 160) -> str:
    """The first line of an error, without the tool-name prefix tools put on their messages."""
    line = (error or "").strip().splitlines()[0] if (error or "").strip() else ""
    line = re.sub(r"^[\w.-]+:\s+", "", line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def sentence(text: str, lang: Lang) -> str:
    """``text`` ending like a sentence."""
    text = text.strip()
    if not text or _END.search(text):
        return text
    return text + ("。" if lang == "zh" else ".")


def join(pieces: list[tuple[str, bool]], lang: Lang) -> str:
    """Sentences as one reply: Chinese ones run on, English ones take a space, and a piece marked as continuing
    the one before (it used that one's result) joins it with a semicolon. Pieces of several lines keep them; the
    last piece ends as it was written."""
    out = ""
    previous = ""
    for text, continues in pieces:
        text = text.strip()
        if not text:
            continue
        if not out:
            out = text
        elif "\n" in text or "\n" in previous:
            out = sentence(out, lang) + "\n" + text
        elif continues:
            out = out.rstrip("。.") + ("；" if lang == "zh" else "; ") + text
        else:
            out = sentence(out, lang) + ("" if lang == "zh" else " ") + text
        previous = text
    return out
