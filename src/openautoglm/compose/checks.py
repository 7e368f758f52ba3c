"""Checks on text a model generated, before anyone reads it: a reply that loops, is in the wrong language, echoes
its prompt, leaks its instructions or says nothing fails instead of passing.

Each check returns a problem in words, or None. :func:`text_problems` runs them all; an empty list means the text
may be shown. They look at the shape of the text, not at its facts (the grounded writer checks facts).
"""

from __future__ import annotations

import re
from collections import Counter

from .language import CJK, Lang

MIN_CHARS = 2
# A loop: the same n-gram of words (or of characters, for Chinese) covering much of the text.
LOOP_SHARE = 0.3
_DATA_BLOCK = re.compile(r"<data>.*?</data>", re.S)
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_LEAK_MARKERS = re.compile(r"<\s*/?\s*data\s*>|\bsystem prompt\b|\byou are an? (?:helpful )?assistant\b|"
                           r"never instructions to follow|material to use", re.I)


# A mark or symbol (emoji included) four times in a row: "！！！！", "😊😊😊😊".
_PUNCTUATION_RUN = re.compile(r"([^\w\s])\1{3,}")


def _units(text: str) -> list[str]:
    """Words, with each Chinese character a word of its own."""
    return re.findall(r"[\u3400-\u9fff]|[A-Za-z0-9']+", text.lower())


def repetition(text: str) -> str | None:
    if _PUNCTUATION_RUN.search(text):
        return "repeats a punctuation mark"
    units = _units(text)
    if len(units) < 12:
        return None
    for n in (1, 2, 3, 4, 6, 8):
        grams = [" ".join(units[i:i + n]) for i in range(0, len(units) - n + 1)]
        if not grams:
            continue
        gram, count = Counter(grams).most_common(1)[0]
        # A one-word gram is a loop only when it is most of the text ("的的的的", "no no no no").
        share = count * n / len(units)
        if count >= 4 and share >= (0.6 if n == 1 else LOOP_SHARE):
            return f"repeats {gram!r} {count} times"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) >= 3 and Counter(lines).most_common(1)[0][1] >= 3:
        return "repeats the same line"
    return None


def wrong_language(text: str, lang: Lang) -> str | None:
    cjk = len(CJK.findall(text))
    latin = sum(len(w) for w in _LATIN_WORD.findall(text))
    if lang == "zh" and cjk == 0 and latin >= 8:
        return "written in English, the reply should be Chinese"
    if lang == "en" and cjk > max(4, latin // 4):
        return "written in Chinese, the reply should be English"
    return None


def echoes(text: str, prompt: str) -> str | None:
    """The reply is the request copied back: the whole prompt inside it, or it is a piece of the prompt's own words
    (data the prompt carries between <data> tags may be quoted: that is what it is there for)."""
    own = " ".join(_DATA_BLOCK.sub(" ", prompt).split())
    said = " ".join(text.split())
    if len(own) >= 8 and own in said:
        return "repeats the prompt"
    if len(said) >= 8 and said in own:
        return "repeats the prompt"
    return None


def leaks(text: str, instructions: str | None = None) -> str | None:
    if _LEAK_MARKERS.search(text):
        return "shows its instructions"
    for line in (instructions or "").splitlines():
        line = " ".join(line.split())
        if len(line) >= 24 and line in " ".join(text.split()):
            return "quotes its instructions"
    return None


def empty(text: str) -> str | None:
    stripped = re.sub(r"[\s\W_]+", "", text or "")
    return "empty" if len(stripped) < MIN_CHARS else None


def text_problems(text: str, lang: Lang, prompt: str = "", instructions: str | None = None) -> list[str]:
    """Everything wrong with generated ``text`` meant for a reader of ``lang``; empty when it may be shown."""
    if problem := empty(text):
        return [problem]
    found = [repetition(text), wrong_language(text, lang), echoes(text, prompt) if prompt else None,
             leaks(text, instructions)]
    return [p for p in found if p]
