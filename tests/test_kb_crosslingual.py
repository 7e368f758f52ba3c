"""A question in one language finds, and is judged relevant to, a passage in the other (the real bundled embedder)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from openautoglm.app import AutoGLM
from openautoglm.config import Settings
from openautoglm.embeddings import CachedEmbedder, E5Embedder
from openautoglm.memory.kb import KnowledgeBase, KnowledgeConfig
from openautoglm.planning.rules import KNOWLEDGE_RELEVANCE

DOCS = {
    "aftersales.md": """# 售后服务

## 退货期限
商品签收后七天内，未经使用且包装完好的，可以申请无理由退货。

## 退款
仓库验收退货后，退款在三个工作日内原路退回。

## 运费
质量问题退货的来回运费由商家承担，个人原因退货的寄回运费由买家承担。

## 发票
电子发票在订单完成后二十四小时内发送到注册邮箱。
""",
    "office.md": """# 办公室守则

## 门禁
员工凭工牌进出大楼，访客需要在前台登记身份证。

## 会议室
会议室需要提前一天在内网预订，超过两小时的会议需要经理批准。

## 打印
每人每月可以免费打印五百页黑白文件，彩色一页按五页计算。

## 午餐
食堂午餐时间为十一点半到一点半，员工每天有八十元餐补。
""",
    "devices.md": """# Devices

## Warranty
Every device carries a two-year warranty against manufacturing defects; accidental damage is not covered.

## Repairs
Send a faulty device to the repair centre in Shenzhen together with the original receipt.

## Batteries
Batteries that fall below eighty percent capacity within the first year are replaced free of charge.

## Firmware
Firmware updates are released on the first Tuesday of each month and install overnight.
""",
    "travel.md": """# Travel

## Booking
Flights for business trips are booked through the travel desk at least ten days ahead.

## Allowance
The daily allowance abroad is four hundred yuan, paid with the next salary.

## Hotels
Hotels may cost at most six hundred yuan a night in first-tier cities.

## Visas
The legal department issues invitation letters for visas within five working days.
""",
}

# (question, file that answers it) — each in the other language than its document.
ACROSS = [
    ("How long do I have to return an item?", "aftersales.md"),
    ("How many pages can I print for free each month?", "office.md"),
    ("设备保修多久？", "devices.md"),
    ("出国出差每天补贴多少钱？", "travel.md"),
]
UNANSWERABLE = ["What is the capital of Australia?", "Who won the 2018 football world cup?", "红烧肉怎么做？",
                "明天上海会下雨吗？"]


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    root = tmp_path_factory.mktemp("crosslingual")
    for name, text in DOCS.items():
        (root / name).write_text(text, encoding="utf-8")
    base = KnowledgeBase(root / "kb.db", CachedEmbedder(E5Embedder()), config=KnowledgeConfig())
    base.add([root])
    yield base
    base.close()


def best(kb: KnowledgeBase, question: str) -> tuple[str, float]:
    """The top hit's file, and the relevance the planner sees (the best of the top three)."""
    hits = kb.search(question, 3)
    return hits[0].name, max(h.relevance for h in hits)


def test_questions_across_languages_reach_the_planner_threshold_only_with_the_correction(kb: KnowledgeBase) -> None:
    """Not every one: on the held-out set of bench/kb_relevance.py 7 of 11 such questions reach it (3 before)."""

    def reaching() -> list[str]:
        found = []
        for question, file in ACROSS:
            name, relevance = best(kb, question)
            assert name == file, question  # retrieval finds the right document either way
            if relevance >= KNOWLEDGE_RELEVANCE:
                found.append(question)
        return found

    with_correction = reaching()
    kb.config = kb.config.model_copy(update={"cross_lingual_relevance": False})
    try:
        without = reaching()
    finally:
        kb.config = kb.config.model_copy(update={"cross_lingual_relevance": True})
    assert without == [] and len(with_correction) >= 2, with_correction
    assert ACROSS[1][0] in with_correction  # the question the run below asks


def test_questions_the_documents_cannot_answer_stay_below(kb: KnowledgeBase) -> None:
    for question in UNANSWERABLE:
        assert best(kb, question)[1] < KNOWLEDGE_RELEVANCE, question


def test_centres_are_kept_in_the_base_and_survive_reopening(kb: KnowledgeBase) -> None:
    assert set(kb._language.centers) == {"zh", "en"}
    again = KnowledgeBase(kb.path, kb.embedder, config=KnowledgeConfig())
    try:
        assert set(again._language.centers) == {"zh", "en"}
        assert best(again, ACROSS[0][0]) == best(kb, ACROSS[0][0])
    finally:
        again.close()


async def test_an_english_question_over_chinese_documents_is_answered_and_cites_file_and_line(
        tmp_path: Path) -> None:
    from openautoglm.models.scripted import ScriptedModel

    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    app = AutoGLM(settings=Settings(home=tmp_path / "home", planner="rules"),
                  model=ScriptedModel(["this small model's text must not be used"], can_plan=False))
    try:
        app.knowledge.add([folder])
        result = await app.run(ACROSS[1][0])  # an English question; the answer is in a Chinese document
        assert result.plan is not None and [s.uses for s in result.plan.steps] == ["knowledge.answer"]
        assert result.status == "succeeded", result.answer
        assert "五百页" in result.answer and "office.md (line 10 § 办公室守则 › 打印" in result.answer
        kept = await app.run(UNANSWERABLE[0])  # and one they cannot answer is not sent there
        assert kept.plan is None or "knowledge.answer" not in [s.uses for s in kept.plan.steps]
    finally:
        await app.aclose()
