"""Which language a reply is wanted in: the one a system prompt asks for, else the request's own. Pure."""

from __future__ import annotations

import re

LANGUAGES = ("zh", "en")
_HAN = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
# "answer in English", "always reply in English", "use English", "英文回答", "用英语回答", "请用中文回答"...
_ENGLISH = re.compile(r"\b(?:answer|reply|respond|write|speak|talk|use|in)\b[^.;\n]{0,40}\benglish\b|英文|英语", re.I)
_CHINESE = re.compile(r"\b(?:answer|reply|respond|write|speak|talk|use|in)\b[^.;\n]{0,40}\b(?:chinese|mandarin)\b|"
                      r"中文|汉语|普通话|简体", re.I)


def script(text: str) -> str | None:
    """'zh' or 'en' by the letters a text is written in; None when mixed (neither has four fifths of them)."""
    han = len(_HAN.findall(text))
    latin = len(_LATIN.findall(text)) / 4  # a Chinese character carries about as much as four Latin letters
    if han + latin == 0:
        return None
    share = han / (han + latin)
    return "zh" if share >= 0.8 else "en" if share <= 0.2 else None


def requested_language(instructions: str | None) -> str | None:
    """``"en"`` or ``"zh"`` when the instructions ask for a reply language, else None."""
    if not instructions:
        return None
    english, chinese = _ENGLISH.search(instructions), _CHINESE.search(instructions)
    if english and chinese:  # "answer in English, not Chinese": the one named first is the one asked for
        return "en" if english.start() < chinese.start() else "zh"
    return "en" if english else "zh" if chinese else None


def reply_language(request: str, instructions: str | None = None, *, language: str | None = None) -> str:
    """The language to answer ``request`` in: the one the caller names (``language``: "zh", "en", "Chinese"...),
    else the instructions' choice, else the request's script (Chinese when it has Chinese in it)."""
    named = (language or "").strip().lower()
    if named.startswith("zh") or named in ("chinese", "中文"):
        return "zh"
    if named.startswith("en") or named == "english":
        return "en"
    return requested_language(instructions) or ("zh" if _HAN.search(request) else "en")
