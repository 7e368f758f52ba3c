"""Does the knowledge base know the answer? Relevance measured per language pair, on two sets.

    .venv/bin/python bench/kb_relevance.py [--set dev|heldout|both] [--calibrate]

The rule planner sends a question to the knowledge base only when its best passage's relevance reaches
``KNOWLEDGE_RELEVANCE`` (planning/rules.py). This prints, per pair of question language and answering document
language, how many answerable questions reach it, and, per question language, how many questions the documents
cannot answer reach it too (false accepts). ``dev`` is the development set (bench/kb_dev.py's documents and
questions, plus DEV_UNANSWERABLE): calibrate here. ``heldout`` (bench/kb_eval.py's, plus HELDOUT_UNANSWERABLE) is
for checking only. Each set is measured without and with ``knowledge.cross_lingual_relevance``, side by side.
``--calibrate`` prints, per pair, the centred cosine of the best passage in the other language (what
``XL_SCALE`` in memory/kb/base.py is read from) for answerable and unanswerable questions.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import kb_dev  # noqa: E402
import kb_eval  # noqa: E402
from openautoglm.embeddings import CachedEmbedder, E5Embedder, Embedder  # noqa: E402
from openautoglm.language import script  # noqa: E402
from openautoglm.memory.kb import KnowledgeBase, KnowledgeConfig  # noqa: E402
from openautoglm.planning.rules import KNOWLEDGE_RELEVANCE  # noqa: E402

# Questions the development documents (kb_dev.py) cannot answer: unrelated ones and ones next to their topics.
DEV_UNANSWERABLE = [
    "明天北京会下雨吗", "公司股票今天涨了多少", "红烧肉怎么做", "新员工入职培训有几天", "食堂几点开饭",
    "出差订机票需要谁审批", "年终奖什么时候发", "办公室的无线网络密码是多少",
    "What's the weather in Shanghai tomorrow?", "Who won the football world cup in 2018?",
    "How do I reset my bank card PIN?", "What is the dress code at the office?",
    "How many vacation days do new employees get?", "Can I bring my dog to work?",
    "What is the company's stock ticker?", "How do I book a meeting room?",
]

# Questions the evaluation documents (kb_eval.py) cannot answer. Written with the set above, never tuned on.
HELDOUT_UNANSWERABLE = [
    "明年的公司年会在哪里办", "图书馆几点关门", "怎么申请停车证", "股票期权怎么行权", "今天人民币兑美元汇率多少",
    "健身房年卡多少钱", "办公室可以养猫吗", "怎么给客户开增值税专用发票",
    "How do I renew my passport?", "What is the capital of Australia?", "How much is the gym membership?",
    "Does the company pay for English lessons?", "When is the next public holiday?", "How do I print in colour?",
    "What is the maternity leave policy?", "Can I rent a car through the company?",
]

SETS = {
    "dev": (kb_dev.DOCS, kb_dev.NOISE, kb_dev.QUESTIONS, DEV_UNANSWERABLE),
    "heldout": (kb_eval.DOCS, [], kb_eval.QUESTIONS, HELDOUT_UNANSWERABLE),
}


def build(workdir: Path, name: str, embedder: Embedder, config: KnowledgeConfig | None = None) -> KnowledgeBase:
    docs, noise, _, _ = SETS[name]
    folder = workdir / name
    folder.mkdir(parents=True, exist_ok=True)
    for file, text in docs.items():
        (folder / file).write_text(text, encoding="utf-8")
    if noise:
        (folder / "noise.txt").write_text("\n".join(noise) + "\n", encoding="utf-8")
    kb = KnowledgeBase(workdir / f"{name}.db", embedder, config=config or KnowledgeConfig())
    kb.add([folder])
    return kb


def relevance(kb: KnowledgeBase, question: str) -> float:
    """What the planner sees (Services.knowledge_relevance): the best relevance among the top three hits."""
    return max((h.relevance for h in kb.search(question, 3)), default=0.0)


def measure(kb: KnowledgeBase, name: str) -> dict[str, list[float]]:
    """Relevance of each question, grouped: 'zh->en' (answerable, question -> document language), 'none<-zh'."""
    docs, _, questions, unanswerable = SETS[name]
    groups: dict[str, list[float]] = {}
    for q, file, _ in questions:
        pair = f"{script(q) or 'en'}->{script(docs[file]) or 'en'}"
        groups.setdefault(f"ans {pair}", []).append(relevance(kb, q))
    for q in unanswerable:
        groups.setdefault(f"none {script(q) or 'en'}", []).append(relevance(kb, q))
    return groups


def centred(kb: KnowledgeBase, name: str) -> dict[str, list[float]]:
    """Per pair: the centred cosine of the best passage in the other language than the question's."""
    docs, _, questions, unanswerable = SETS[name]
    items = [(q, script(docs[f]) or "en") for q, f, _ in questions] + [(q, None) for q in unanswerable]
    out: dict[str, list[float]] = {}
    for q, written_in in items:
        asked_in = script(q) or "en"
        other = "en" if asked_in == "zh" else "zh"
        if written_in == asked_in:
            continue
        vector = kb._language.apply(kb.embedder.embed_query(q))
        found = kb.vectors.search(vector, kb.config.candidates, None)
        chunks = kb.catalog.chunks([cid for cid, _ in found])
        best = next((cos for cid, cos in found if (script(chunks[cid].text) or "en") == other), None)
        value = kb._language.centered(vector, best, other) if best is not None else None
        if value is not None:
            out.setdefault(f"{'ans' if written_in else 'none'} {asked_in}->{other}", []).append(round(value, 3))
    return out


def table(before: dict[str, list[float]], after: dict[str, list[float]], threshold: float) -> list[str]:
    """Per group: how many reach the threshold, and the median relevance, without and with the correction."""
    rows = [f"{'group':10} {'n':>3} | {'reach before':>12} {'median':>6} | {'reach after':>11} {'median':>6}",
            "-" * 60]
    for key in sorted(before):
        b, a = before[key], after[key]
        rows.append(f"{key:10} {len(b):3d} | {sum(x >= threshold for x in b):7d}/{len(b):<4d} "
                    f"{statistics.median(b):6.3f} | {sum(x >= threshold for x in a):6d}/{len(a):<4d} "
                    f"{statistics.median(a):6.3f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=["dev", "heldout", "both"], default="both")
    parser.add_argument("--calibrate", action="store_true", help="print the centred cosines per pair")
    args = parser.parse_args()
    embedder = CachedEmbedder(E5Embedder())
    with tempfile.TemporaryDirectory() as tmp:
        for name in (["dev", "heldout"] if args.set == "both" else [args.set]):
            kb = build(Path(tmp), name, embedder)
            after = measure(kb, name)
            kb.config = kb.config.model_copy(update={"cross_lingual_relevance": False})
            before = measure(kb, name)
            print(f"\n{name}: questions whose best passage reaches relevance {KNOWLEDGE_RELEVANCE} (ans = answerable "
                  "'question->document' language; none = unanswerable, by question language)")
            print("\n".join(table(before, after, KNOWLEDGE_RELEVANCE)))
            if args.calibrate:
                for key, values in sorted(centred(kb, name).items()):
                    print(f"  centred {key}: {sorted(values)}")
            kb.close()


if __name__ == "__main__":
    main()
