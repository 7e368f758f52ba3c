"""Words and sentences in Chinese and English: tokens for BM25 (jieba segmentation), sentence boundaries."""

from __future__ import annotations

import logging
import re
import threading
from importlib.resources import files
from typing import Any

from ...extras import require_extra

STOPWORDS = frozenset(
    word
    for line in (files("openautoglm.memory.kb") / "stopwords.txt").read_text(encoding="utf-8").splitlines()
    if not line.startswith("#")
    for word in line.split()
)
_WORD = re.compile(r"[0-9a-z]+(?:[.'][0-9a-z]+)*|[\u4e00-\u9fff\u3400-\u4dbf]+")
_lock = threading.Lock()
_jieba = None


def _segmenter() -> Any:
    global _jieba
    with _lock:
        if _jieba is None:
            # Reached from the support desk and the planner too, not only the knowledge base: name the extra.
            require_extra("kb", "splitting Chinese text into words", "jieba")
            import jieba

            jieba.setLogLevel(logging.WARNING)  # its dictionary-loading chatter is not ours to print
            jieba.initialize()
            _jieba = jieba
    return _jieba


def tokenize(text: str) -> list[str]:
    """Lower-case search tokens: jieba's search-mode words for Chinese, whole words for Latin script."""
    jieba = _segmenter()
    tokens: list[str] = []
    for piece in jieba.cut_for_search(text.lower()):
        for word in _WORD.findall(piece):
            if word not in STOPWORDS:
                tokens.append(word)
    return tokens


# A sentence ends at 。！？；… (no space follows in Chinese) or at .!?; followed by a space in English.
_SENTENCE_END = re.compile(r"(?<=[。！？；…!?])(?![。！？；…!?”’\"'）)])|(?<=[.;])\s+(?=\S)")


def sentences(text: str) -> list[str]:
    parts = [p.strip() for p in _SENTENCE_END.split(text)]
    return [p for p in parts if p]
