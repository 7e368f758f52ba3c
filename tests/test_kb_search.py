"""Knowledge-base search internals: score fusion, the in-memory vector matrix, the cross-lingual correction."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from openautoglm.embeddings import CachedEmbedder, HashingEmbedder
from openautoglm.memory.kb import KnowledgeBase, KnowledgeConfig, SqliteVecStore
from openautoglm.memory.kb.base import fuse
from openautoglm.memory.kb.catalog import connect
from openautoglm.memory.kb.language import script

sys.path.insert(0, str(Path(__file__).parent))
from test_kb import real_embedder

# -- fusion ----------------------------------------------------------------------------------------------------------


def test_score_fusion_keeps_weak_keyword_matches_below_good_vector_hits() -> None:
    vector = [(1, 0.88), (2, 0.87), (3, 0.86), (4, 0.85), (5, 0.84), (6, 0.70)]
    weak = [(11, 2.0), (12, 1.9), (13, 1.8)]  # one common word of a ten-word query: a fifth of the ideal
    fused = [cid for cid, _ in fuse(weak, vector, KnowledgeConfig(), ideal=10.0)][:5]
    assert fused == [1, 2, 3, 4, 5]
    # Reciprocal rank fusion lets the same weak matches take three of the top five.
    rrf = [cid for cid, _ in fuse(weak, vector, KnowledgeConfig(fusion="rrf"), ideal=10.0)][:5]
    assert len(set(rrf) & {11, 12, 13}) >= 2


def test_score_fusion_lets_a_complete_keyword_match_lift_a_vector_candidate() -> None:
    vector = [(1, 0.88), (2, 0.87), (3, 0.86), (4, 0.80), (5, 0.70)]
    keyword = [(4, 9.5), (1, 1.0)]  # chunk 4 contains every query word (bm25 close to the ideal)
    fused = fuse(keyword, vector, KnowledgeConfig(vector_weight=0.7), ideal=10.0)
    assert [cid for cid, _ in fused] == [1, 4, 2, 3, 5]  # from fourth to second
    v4 = (0.80 - 0.70) / (0.88 - 0.70)
    assert fused[1][1] == pytest.approx(0.7 * v4 + 0.3 * 0.95)


def test_rrf_fusion_is_still_available() -> None:
    fused = dict(fuse([(1, 5.0), (2, 4.0)], [(2, 0.9), (3, 0.8)], KnowledgeConfig(fusion="rrf", rrf_k=60)))
    assert fused[2] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[1] == pytest.approx(1 / 61) and fused[3] == pytest.approx(1 / 62)


def test_query_weight_is_the_score_of_a_chunk_holding_every_query_word(tmp_path: Path) -> None:
    kb = KnowledgeBase(tmp_path / "kb.db", HashingEmbedder(64))
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(12):
        (docs / f"d{i}.txt").write_text(f"filler text number {i} about nothing in particular", encoding="utf-8")
    (docs / "hit.txt").write_text("warranty claims need the original invoice", encoding="utf-8")
    kb.add([docs])
    ideal = kb.catalog.query_weight("warranty invoice")
    (cid, bm25), *_ = kb.catalog.keyword_search("warranty invoice", 5)
    assert kb.catalog.chunks([cid])[cid].name == "hit.txt"
    assert 0.6 < bm25 / ideal <= 1.3  # every word once, about average length
    # A word found nowhere raises the ideal: the same chunk now explains only part of the query.
    assert kb.catalog.query_weight("warranty invoice quittung") > 1.4 * ideal
    kb.close()


# -- the in-memory matrix ----------------------------------------------------------------------------------------------


def _clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim)).astype(np.float32)
    X = centres[rng.integers(0, 40, n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def test_writes_after_the_index_is_built_are_searched_without_reloading(tmp_path: Path) -> None:
    store = SqliteVecStore(connect(tmp_path / "v.db"), 32, ivf_min=500, nprobe=8)
    X = _clustered(2000, 32, seed=1)
    store.add(list(range(1, 2001)), X.tolist(), [i % 5 for i in range(2000)])
    store.optimize()
    assert store.search(X[10], 1)[0][0] == 11
    matrix = store._matrix
    new = _clustered(50, 32, seed=2)
    store.add(list(range(5001, 5051)), new.tolist(), [9] * 50)
    store.delete([11])
    store.conn.commit()
    assert store._matrix is matrix  # updated in place, not read again
    assert store.search(new[3], 1)[0][0] == 5004
    assert 11 not in {i for i, _ in store.search(X[10], 10)}
    assert [i for i, _ in store.search(new[0], 5, doc_ids={9})] == [i for i, _ in store.search_exact(new[0], 5,
                                                                                                    doc_ids={9})]
    # Enough new rows fold the tail into the cells; results stay exact for the rows themselves.
    more = _clustered(1500, 32, seed=3)
    store.add(list(range(8001, 9501)), more.tolist(), [7] * 1500)
    assert not store._matrix.tail and store.search(more[100], 1)[0][0] == 8101


def test_another_connections_write_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    reader = SqliteVecStore(connect(path), 16)
    writer = SqliteVecStore(connect(path), 16)
    X = _clustered(20, 16, seed=4)
    writer.add(list(range(1, 11)), X[:10].tolist(), [1] * 10)
    writer.conn.commit()
    assert reader.search(X[0], 1)[0][0] == 1
    writer.add([99], X[15:16].tolist(), [2])
    writer.conn.commit()
    assert reader.search(X[15], 1)[0][0] == 99  # PRAGMA data_version changed: read again


def test_probing_more_cells_recovers_more_of_the_exact_neighbours(tmp_path: Path) -> None:
    store = SqliteVecStore(connect(tmp_path / "v.db"), 48, ivf_min=1000)
    X = _clustered(6000, 48, seed=5)
    store.add(list(range(1, 6001)), X.tolist(), [0] * 6000)
    store.optimize()
    queries = _clustered(40, 48, seed=6)
    exact = [{i for i, _ in store.search_exact(q, 10)} for q in queries]
    recalls = []
    for nprobe in (2, 8, 32):
        store.nprobe = nprobe
        recalls.append(np.mean([len({i for i, _ in store.search(q, 10)} & e) / 10
                                for q, e in zip(queries, exact, strict=True)]))
    assert recalls[0] < recalls[1] <= recalls[2]
    assert recalls[2] >= 0.95


# -- the cross-lingual correction ----------------------------------------------------------------------------------


def test_script_tells_chinese_from_english() -> None:
    assert script("退货需要在七天内申请，运费由买家承担。") == "zh"
    assert script("Returns must be requested within seven days.") == "en"
    assert script("退货政策 returns policy") is None
    assert script("12345") is None


ZH = [
    "公司班车每天早上七点半从地铁站出发，晚上六点从园区返回。",
    "新员工入职当天需要到人事部领取工牌和电脑。",
    "会议室可以在内部系统上预订，最长使用四小时。",
    "办公用品每月第一周统一申领，由行政部发放。",
    "年度体检安排在每年十月，由公司统一组织。",
    "员工生日当月可以领取一张两百元的购物卡。",
    "园区食堂提供早餐和午餐，晚餐需要提前预订。",
    "季度团建活动的预算为每人三百元。",
    "快递统一寄送到一楼前台，需要凭手机号领取。",
]
EN = [
    "The guest wifi password changes every Monday and is shown at the reception desk.",
    "Laptops must be encrypted before they leave the office for the first time.",
    "Lost badges are replaced by the security office for a fee of 50 yuan.",
    "Expense reports above 5,000 yuan need the approval of a department director.",
    "The fire drill takes place on the first Friday of March and September.",
    "Bicycles may be parked in the basement rack; electric scooters may not be charged indoors.",
    "Recycling bins for batteries are next to the lifts on every floor.",
    "Visitors must be accompanied by an employee at all times inside the building.",
    "The coffee machines are descaled every Thursday afternoon.",
]
CROSS = [  # (question in one language, index into the other language's list)
    ("访客Wi-Fi密码多久更换一次", "en", 0),
    ("丢了门禁卡怎么补办", "en", 2),
    ("消防演习是什么时候", "en", 4),
    ("When is the annual health check?", "zh", 4),
    ("Where do I pick up parcels?", "zh", 8),
]


@pytest.fixture(scope="module")
def e5() -> CachedEmbedder:
    return real_embedder()


def _rank(kb: KnowledgeBase, question: str, text: str, debias: bool) -> int:
    kb.config = kb.config.model_copy(update={"language_debias": debias})
    hits = kb.search(question, 18, mode="vector")
    return next(i for i, h in enumerate(hits, start=1) if h.text.strip() == text)


def test_questions_find_passages_in_the_other_language(tmp_path: Path, e5: CachedEmbedder) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate(ZH + EN):
        (docs / f"p{i:02d}.txt").write_text(text, encoding="utf-8")
    kb = KnowledgeBase(tmp_path / "kb.db", e5, config=KnowledgeConfig(chunk_chars=200))
    kb.add([docs])
    assert kb._language.direction is not None
    before = [_rank(kb, q, (EN if lang == "en" else ZH)[i], False) for q, lang, i in CROSS]
    after = [_rank(kb, q, (EN if lang == "en" else ZH)[i], True) for q, lang, i in CROSS]
    assert sum(after) < sum(before)
    assert all(r <= 3 for r in after), (before, after)
    # Another process opening the same file uses the stored direction.
    again = KnowledgeBase(tmp_path / "kb.db", e5)
    assert again._language.direction is not None
    np.testing.assert_allclose(again._language.direction, kb._language.direction)
    again.close()
    kb.close()


def test_a_one_language_base_has_no_direction_to_remove(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate(EN):
        (docs / f"p{i}.txt").write_text(text, encoding="utf-8")
    kb = KnowledgeBase(tmp_path / "kb.db", HashingEmbedder(64))
    kb.add([docs])
    assert kb._language.direction is None
    q = HashingEmbedder(64).embed_query("coffee machines")
    assert kb._language.apply(q) == q
    kb.close()
