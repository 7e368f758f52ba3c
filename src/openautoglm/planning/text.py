"""Words of a request or a tool description, in Chinese or English, and the bilingual concepts they stand for.

No segmenter is needed: Chinese runs are cut by longest match against the lexicon, and whatever is left becomes
character bigrams, so a Chinese tool description still meets a Chinese request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import yaml

LEXICON_FILE = files("openautoglm.planning") / "lexicon.yaml"
_CJK = re.compile(r"[\u4e00-\u9fff]+")
# A degree sign belongs to its unit (°C, ℃): without it the "C" of "-40 °C" says nothing.
_WORD = re.compile(r"°[CFcf]\b|[℃℉]|[A-Za-z][A-Za-z0-9']*|\d+(?:\.\d+)?")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


@dataclass(frozen=True)
class Lexicon:
    concepts: dict[str, frozenset[str]] = field(default_factory=dict)  # word -> concept names
    stopwords: frozenset[str] = frozenset()
    max_len: int = 1
    # Entries of several English words ("how many weeks"): a word-by-word match never sees them.
    phrases: re.Pattern[str] | None = None

    @classmethod
    def load(cls, path: Path | Traversable = LEXICON_FILE) -> Lexicon:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        words: dict[str, set[str]] = {}
        for concept, members in (data.get("concepts") or {}).items():
            for word in members:
                words.setdefault(str(word).lower(), set()).add(str(concept))
        stop = frozenset(str(w).lower() for w in data.get("stopwords") or [])
        longest = max((len(w) for w in words if _CJK.fullmatch(w)), default=1)
        multi = sorted((w for w in words if " " in w), key=len, reverse=True)
        phrases = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in multi) + r")\b") if multi else None
        return cls({w: frozenset(c) for w, c in words.items()}, stop, longest, phrases)


@cache
def lexicon() -> Lexicon:
    return Lexicon.load()


def stem(word: str) -> str:
    """A light English stem, enough that 'sold'/'selling' and 'products'/'product' meet."""
    w = word.lower()
    if w.endswith("'s"):  # today's date, the store's revenue: the word itself
        return w[:-2]
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if len(w) > len(suffix) + 2 and w.endswith(suffix) and not w.endswith("ss"):
            return w[: -len(suffix)] + keep
    return w


def _cjk_terms(run: str, lex: Lexicon) -> list[str]:
    out: list[str] = []
    leftover: list[str] = []
    i = 0

    def flush() -> None:
        piece = "".join(leftover)
        if len(piece) == 1:
            if piece not in lex.stopwords:
                out.append(piece)
        else:
            out.extend(piece[j : j + 2] for j in range(len(piece) - 1))
        leftover.clear()

    while i < len(run):
        for size in range(min(lex.max_len, len(run) - i), 1, -1):
            if run[i : i + size] in lex.concepts:
                flush()
                out.append(run[i : i + size])
                i += size
                break
        else:
            if run[i] in lex.concepts or run[i] in lex.stopwords:
                flush()
                if run[i] not in lex.stopwords:
                    out.append(run[i])
            else:
                leftover.append(run[i])
            i += 1
    flush()
    return out


def terms(text: str, lex: Lexicon | None = None) -> list[str]:
    """Content words: English words (lower-cased; their stems too), Chinese lexicon words and bigrams."""
    lex = lex or lexicon()
    out: list[str] = []
    text = _CAMEL.sub(" ", text)
    for chunk in re.split(r"([\u4e00-\u9fff]+)", text):
        if not chunk:
            continue
        if _CJK.fullmatch(chunk):
            out.extend(_cjk_terms(chunk, lex))
            continue
        for word in _WORD.findall(chunk.replace("_", " ")):
            low = word.lower()
            if low in lex.stopwords or low.replace(".", "").isdigit():
                continue
            out.append(low)
            if (s := stem(low)) != low:
                out.append(s)
    return out


def concepts(words: list[str], lex: Lexicon | None = None) -> set[str]:
    lex = lex or lexicon()
    found: set[str] = set()
    for w in words:
        found |= lex.concepts.get(w, frozenset())
        if w.isascii() and (s := stem(w)) != w:
            found |= lex.concepts.get(s, frozenset())
    return found


def features(text: str, lex: Lexicon | None = None) -> dict[str, str]:
    """Each matchable feature of ``text`` -> the word that gave it (concepts are prefixed with '@')."""
    lex = lex or lexicon()
    out: dict[str, str] = {}
    for w in terms(text, lex):
        out.setdefault(w, w)
        for c in concepts([w], lex):
            out.setdefault("@" + c, w)
    if lex.phrases is not None:
        for m in lex.phrases.finditer(" ".join(text.lower().split())):
            phrase = m.group(0)
            out.setdefault(phrase, phrase)
            for c in lex.concepts.get(phrase, frozenset()):
                out.setdefault("@" + c, phrase)
    return out


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))
