"""Which tool fits a part of a request: lexical and bilingual-concept overlap with each tool's name, description
and parameters, plus (when an embedder is given) semantic similarity over the same texts.

Scores are explainable: each candidate carries the words that matched, for ``autoglm plan --explain``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import AutoGLMError
from ..tools.base import Tool, ToolRegistry
from .intent import Part
from .measures import kind_of, named_choices, unit_pair
from .slots import slot_kind
from .text import features, has_cjk, lexicon

# Tools a rule planner never picks by matching: the model answers whatever no tool fits, as the fallback step, and
# a follow-up plan reads an earlier turn's data with the recall (planning/carry.py).
GENERATE = "llm.generate"
GENERIC_TOOLS = frozenset({GENERATE, "llm.extract", "memory.recall"})
# Generic verbs ("get", "查询", "find") say that something is wanted, not which tool gives it.
WEAK_CONCEPTS = frozenset({"query", "write", "compute"})
NAME_WEIGHT, DESCRIPTION_WEIGHT, PARAMETER_WEIGHT = 1.5, 1.0, 0.4
CONCEPT_FACTOR, WEAK_FACTOR = 0.8, 0.25
# Below this a tool is not taken for a part (calibrated as "one specific word or concept in common").
MIN_SCORE = 0.9
EMBED_CHARS = 240  # a tool's name and the start of its description say what it is for
SEMANTIC_FLOOR, SEMANTIC_SPAN, SEMANTIC_ALONE = 0.80, 0.08, 0.88
# A request in one language and a tool described in the other share no words, and e5's cross-lingual cosines sit
# lower (measured with the bundled model: a Chinese request and unrelated English tools 0.76-0.83, the tool that
# does what is asked 0.83-0.86). Meaning alone picks such a tool only when it stands out: at least CROSS_ALONE and
# CROSS_MARGIN above every other tool (unrelated requests: margin at most 0.007 over 40 TaskBench tools; "发货到..."
# and logistics.ship: 0.054), scored from CROSS_FLOOR.
CROSS_ALONE, CROSS_MARGIN, CROSS_FLOOR = 0.83, 0.02, 0.78


@dataclass
class Candidate:
    tool: str
    score: float
    lexical: float
    semantic: float | None = None
    matched: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tool": self.tool, "score": round(self.score, 3), "lexical": round(self.lexical, 3),
                               "matched": self.matched}
        if self.semantic is not None:
            out["semantic"] = round(self.semantic, 3)
        return out


def _tool_text(tool: Tool) -> tuple[str, str, str]:
    name = tool.name.replace(".", " ").replace("_", " ").replace("-", " ")
    props = (tool.parameters or {}).get("properties") or {}
    params = " ".join(f"{k.replace('_', ' ')} {v.get('description', '') if isinstance(v, dict) else ''}"
                      for k, v in props.items())
    return name, tool.description or "", params


class ToolIndex:
    """An index over the tools a planner may pick from. Build once per registry; :meth:`rank` per part."""

    def __init__(self, tools: Iterable[Tool], embedder: Any = None, semantic_weight: float = 1.5,
                 vector_cache: dict[str, list[float]] | None = None) -> None:
        self.tools = [t for t in tools if t.name not in GENERIC_TOOLS]
        self.embedder = embedder
        # Tool texts recur across registries (a benchmark builds one per case): embed each text once.
        self.vector_cache = vector_cache if vector_cache is not None else {}
        self.semantic_weight = semantic_weight
        self._docs: list[dict[str, float]] = []
        self._sources: list[dict[str, str]] = []
        for t in self.tools:
            weights: dict[str, float] = {}
            sources: dict[str, str] = {}
            for text, weight in zip(_tool_text(t), (NAME_WEIGHT, DESCRIPTION_WEIGHT, PARAMETER_WEIGHT), strict=True):
                for feat, word in features(text).items():
                    if weight > weights.get(feat, 0.0):
                        weights[feat] = weight
                        sources[feat] = word
            self._docs.append(weights)
            self._sources.append(sources)
        n = len(self.tools)
        df: dict[str, int] = {}
        for doc in self._docs:
            for feat in doc:
                df[feat] = df.get(feat, 0) + 1
        # With few tools, IDF says little; it only damps features most tools share.
        self._idf = {f: 1.0 if n < 4 else min(1.0, math.log((n + 1) / (c + 0.5)) / math.log(n + 1) + 0.35)
                     for f, c in df.items()}
        self._vectors: list[list[float]] | None = None
        self._chinese = [has_cjk(f"{t.name} {t.description}") for t in self.tools]
        self.disabled: str | None = None

    def _feature_weight(self, feat: str) -> float:
        if feat.startswith("@"):
            return WEAK_FACTOR if feat[1:] in WEAK_CONCEPTS else CONCEPT_FACTOR
        concepts = lexicon().concepts.get(feat, frozenset())
        if concepts and concepts <= WEAK_CONCEPTS:
            return WEAK_FACTOR
        return 1.0

    def _tool_vectors(self) -> list[list[float]] | None:
        if self.embedder is None or not self.tools:
            return None
        try:
            if self._vectors is None:
                texts = [f"{t.name}: {t.description}"[:EMBED_CHARS] for t in self.tools]
                todo = [t for t in dict.fromkeys(texts) if t not in self.vector_cache]
                if todo:
                    self.vector_cache.update(zip(todo, self.embedder.embed(todo, kind="passage"), strict=True))
                self._vectors = [self.vector_cache[t] for t in texts]
        except AutoGLMError as exc:
            self._disable(exc)
            return None
        return self._vectors

    def _disable(self, exc: AutoGLMError) -> None:
        # Keyword rules work alone; say once why semantic retrieval is off.
        self.disabled = str(exc)
        self.embedder = None

    def _semantic(self, query: str) -> list[float] | None:
        vectors = self._tool_vectors()
        if vectors is None or self.embedder is None:
            return None
        try:
            q = self.embedder.embed([query], kind="query")[0]
        except AutoGLMError as exc:
            self._disable(exc)
            return None
        return [sum(a * b for a, b in zip(q, v, strict=False)) for v in vectors]

    def offers(self, tool: str, concept: str) -> bool:
        """Whether a tool's name, description or parameters name the ``concept`` (a lexicon group: "translate")."""
        names = [t.name for t in self.tools]
        return tool in names and f"@{concept}" in self._docs[names.index(tool)]

    def kinship(self, a: str, b: str) -> float | None:
        """How alike two tools' jobs are: the cosine of their descriptions' embeddings (None without them)."""
        vectors = self._tool_vectors()
        names = [t.name for t in self.tools]
        if vectors is None or a not in names or b not in names:
            return None
        va, vb = vectors[names.index(a)], vectors[names.index(b)]
        return sum(x * y for x, y in zip(va, vb, strict=False))

    @staticmethod
    def _stands_out(sims: list[float], i: int) -> bool:
        others = [x for j, x in enumerate(sims) if j != i]
        return bool(others) and sims[i] >= CROSS_ALONE and sims[i] - max(others) >= CROSS_MARGIN

    def rank(self, query: str, exclude: Sequence[str] = (), context: str = "") -> list[Candidate]:
        """Tools for ``query``, best first. ``context`` holds words of the query that are entities (the dates it
        names): they add to a tool that other words already match, but never match a tool alone. "今天心情不好怎么办"
        shares only 今天 with time.resolve, whose description lists 今天 as an example of its input: the request is
        not asking for a date."""
        qfeats = features(query)
        entity_words = set(features(context).values()) if context else set()
        chinese = has_cjk(query)
        sims = self._semantic(query)
        # Meaning alone may choose a tool only for what the request asks, not for where it sits in time: without
        # this, "What should I read now?" lands on time.now by the meaning of "now" alone.
        bare = _blank(query, context.split()) if context.strip() else query
        alone = self._semantic(bare) if sims and bare.strip() and bare != query else sims
        # e5 cosines sit in a narrow band (unrelated texts ~0.75, related ~0.85+): only the part above
        # SEMANTIC_FLOOR counts, scaled so that a clearly related tool gains about one matched word.
        sem_norm = [min(1.0, max(0.0, (x - SEMANTIC_FLOOR) / SEMANTIC_SPAN)) for x in sims] if sims else None
        out: list[Candidate] = []
        for i, tool in enumerate(self.tools):
            if tool.name in exclude:
                continue
            doc, sources = self._docs[i], self._sources[i]
            best: dict[str, tuple[float, str]] = {}
            for feat, qword in qfeats.items():
                if feat not in doc:
                    continue
                # A word and its concept count once: the stronger of the two.
                gain = doc[feat] * self._idf.get(feat, 1.0) * self._feature_weight(feat)
                if gain > best.get(qword, (0.0, ""))[0]:
                    best[qword] = (gain, qword if sources[feat] == qword else f"{qword}~{sources[feat]}")
            if entity_words and set(best) <= entity_words:
                best = {}
            lexical = sum(g for g, _ in best.values())
            matched = [m for _, m in sorted(best.values(), reverse=True)]
            semantic = sims[i] if sims else None
            score = lexical
            if sem_norm is not None and (lexical > 0 or (alone[i] if alone else 0.0) >= SEMANTIC_ALONE):
                score += self.semantic_weight * sem_norm[i]
            elif (sims and alone and semantic is not None and chinese != self._chinese[i]
                  and self._stands_out(alone, i)):
                score = self.semantic_weight * min(1.0, (semantic - CROSS_FLOOR) / SEMANTIC_SPAN)
                matched = ["<meaning, across languages>"]
            out.append(Candidate(tool.name, score, lexical, semantic, matched))
        out.sort(key=lambda c: -c.score)
        return out


ENUM_FIT = 0.3  # per option (an enum parameter's value other than its default) that the request names
# What an entity in a part says about a tool: a tool with a parameter that takes it fits better.
ENTITY_FIT = {"expression": ("arithmetic", 1.0), "date_text": ("dates", 0.3), "date": ("dates", 0.3),
              "start": ("dates", 0.3), "place": ("places", 0.3), "url": ("urls", 0.8), "file": ("files", 0.5)}


UNIT_PAIR_FIT = 0.5

_DATE_JOINERS = frozenset({"from", "between", "and", "to", "until", "through", "从", "到", "至"})


def date_words(part: Part) -> str:
    """Words that situate a part in time rather than say what it asks, for :meth:`ToolIndex.rank`'s context: the
    dates it names ("今天", "last week") and the words of the present (lexicon group ``present``: 现在, now).
    "现在学什么编程语言好？" shares only 现在 with time.now: it asks which language to learn, not the time."""
    text = part.text.lower()
    present = [w for w, groups in lexicon().concepts.items() if "present" in groups and _names(text, w)]
    return " ".join([d.text for d in part.dates] + present)


def _blank(text: str, words: Iterable[str]) -> str:
    """``text`` without ``words`` (case aside), for judging what the rest of it means."""
    for word in sorted(set(words), key=len, reverse=True):
        text = re.sub(re.escape(word), " ", text, flags=re.IGNORECASE)
    return " ".join(text.split())


def _names(text: str, word: str) -> bool:
    """Whether lower-case ``text`` holds ``word``: as a substring in Chinese, as a whole word in English."""
    if has_cjk(word):
        return word in text
    return re.search(rf"\b{re.escape(word)}\b", text) is not None


def words_besides_dates(part: Part) -> str:
    """The part's text with the dates it writes in figures blanked out, for matching words to tools: such a date is
    an entity the tools that take one gain on (:func:`fit_entities`), and its characters ("3月1日到5月1日" holds 日到,
    like a tool description's example "11月1日到3日") say nothing about what is asked of it. Dates in words
    ("last week", 下周三) stay: their words are what a tool description names."""
    text = part.text
    for d in sorted(part.dates, key=lambda d: -d.span[0]):
        if re.search(r"\d", d.text):
            # The words joining two dates stay ("between ... and", 从...到): they say a span is asked about.
            joiners = " ".join(w for w in re.findall(r"[A-Za-z]+|[从到至]", d.text) if w.lower() in _DATE_JOINERS)
            text = text[:d.span[0]] + f" {joiners} " + text[d.span[1]:]
    return text


def fit_entities(ranked: list[Candidate], part: Part, tools: ToolRegistry) -> list[Candidate]:
    """Add to each candidate's score what the part's entities say (an arithmetic expression and a tool that
    takes one), then sort again. Only tools already matched by some word gain, except for arithmetic and URLs,
    which by themselves say what is wanted."""
    for cand in ranked:
        props = (tools.get(cand.tool).parameters or {}).get("properties") or {}
        if cand.lexical > 0 and (named := named_choices(tools.get(cand.tool).parameters or {}, part.text)):
            # "which day ..." for a tool that can rank by day: options it has fit the request.
            cand.score += ENUM_FIT * named
            cand.matched.append(f"<{named} option{'s' * (named > 1)} named>")
        if cand.lexical > 0 and any(kind_of(n, sp) == "unit_from" for n, sp in props.items() if isinstance(sp, dict)) \
                and unit_pair(part.text):
            # "-12 °F in °C": two units of one measure are what a converter takes, whatever few words surround them.
            cand.score += UNIT_PAIR_FIT
            cand.matched.append("<units→from/to>")
        gained: set[str] = set()
        for name, spec in props.items():
            kind = slot_kind(name, spec if isinstance(spec, dict) else {})
            if kind not in ENTITY_FIT or kind in gained:
                continue
            attr, bonus = ENTITY_FIT[kind]
            present = getattr(part, attr) or (kind == "expression" and part.computes and part.refers_back)
            if present and (cand.lexical > 0 or kind in ("expression", "url")):
                gained.add(kind)
                cand.score += bonus
                cand.matched.append(f"<{attr[:-1] if attr.endswith('s') else attr}→{name}>")
    ranked.sort(key=lambda c: -c.score)
    return ranked
