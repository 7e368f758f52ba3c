"""The knowledge base on real files, the real bundled embedding model, and both vector backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from openautoglm.app import AutoGLM
from openautoglm.config import Settings
from openautoglm.embeddings import CachedEmbedder, E5Embedder, HashingEmbedder
from openautoglm.errors import AutoGLMError, NotFound
from openautoglm.memory.kb import KnowledgeBase, KnowledgeConfig, SqliteVecStore

sys.path.insert(0, str(Path(__file__).parent))
from kb_docs import write_corpus


def real_embedder() -> CachedEmbedder:
    """The real bundled model, with each distinct text embedded once per test module: the tests ingest the same
    corpus many times, and what they check is retrieval, not how fast the model runs on a busy machine."""
    return CachedEmbedder(E5Embedder())


@pytest.fixture(scope="module")
def embedder() -> CachedEmbedder:
    return real_embedder()


@pytest.fixture(params=["sqlite", "qdrant"])
def kb(request: pytest.FixtureRequest, tmp_path: Path, embedder: CachedEmbedder) -> Iterator[KnowledgeBase]:
    # Qdrant in its local in-memory mode: the same client code as against a server, no server needed.
    base = KnowledgeBase(tmp_path / "kb.db", embedder, config=KnowledgeConfig(backend=request.param))
    yield base
    base.close()


@pytest.fixture(scope="module", params=["sqlite", "qdrant"])
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           embedder: CachedEmbedder) -> Iterator[tuple[KnowledgeBase, Path]]:
    """One ingested corpus per backend, shared by the tests that only read."""
    root = tmp_path_factory.mktemp(f"loaded-{request.param}")
    corpus = write_corpus(root / "docs")
    base = KnowledgeBase(root / "kb.db", embedder, config=KnowledgeConfig(backend=request.param))
    base.add([corpus])
    yield base, corpus
    base.close()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "docs")


def test_ingests_mixed_documents_and_names_a_file_it_cannot_read(kb: KnowledgeBase, corpus: Path) -> None:
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    report = kb.add([corpus])
    assert sorted(Path(s).name for s in report.added) == [
        "faq.html", "handbook.docx", "prices.csv", "returns.md", "shipping.txt", "warranty.pdf"]
    assert [Path(f.source).name for f in report.failed] == ["broken.pdf"]
    assert "PDF" in report.failed[0].error
    assert report.chunks == sum(d.chunks for d in kb.documents())
    assert kb.vectors.count() == report.chunks


def test_progress_goes_to_stderr_and_errors_are_reported_as_they_happen(
    kb: KnowledgeBase, corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (corpus / "empty.docx").write_bytes(b"")
    seen: list[str] = []
    report = kb.add([corpus], progress=True, on_error=lambda e: seen.append(Path(e.source).name))
    captured = capsys.readouterr()
    assert "kb add" in captured.err and "7/7" in captured.err
    assert captured.out == ""
    assert seen == ["empty.docx"] and len(report.added) == 6


@pytest.mark.parametrize(
    "query, file, text",
    [
        ("我们的退货政策是什么？", "returns.md", "七天内"),
        ("how long is the warranty", "warranty.pdf", "two-year warranty"),
        ("年假有几天", "handbook.docx", "十五天"),
        ("经理每天餐补多少", "handbook.docx", "120元"),
        ("小风扇的价格", "prices.csv", "59"),
        ("forgot my password", "faq.html", "Forgot password"),
        ("delivery time within China", "shipping.txt", "three to five working days"),
    ],
)
def test_hybrid_search_finds_the_passage_with_its_source_and_position(
    loaded: tuple[KnowledgeBase, Path], query: str, file: str, text: str
) -> None:
    kb, corpus = loaded
    hits = kb.search(query, k=3)
    assert hits, query
    top = hits[0]
    assert (top.name, text in top.text) == (file, True), [(h.name, h.text[:40]) for h in hits]
    assert top.source == str(corpus / file)
    assert top.position and top.score > 0


def test_positions_follow_structure(loaded: tuple[KnowledgeBase, Path]) -> None:
    kb, _ = loaded
    by_text = {h.text[:20]: h for h in kb.search("warranty repairs service centre Shenzhen", k=5)}
    repair = next(h for t, h in by_text.items() if "Shenzhen" in h.text)
    assert repair.position.startswith("p.2")  # the second PDF page
    returns = kb.search("退货运费谁承担", k=1)[0]
    assert returns.heading == "售后服务 › 退货政策"
    assert "line 5" in returns.position
    table = kb.search("尺码不合适怎么办", k=1)[0]
    assert "row" in table.position and "尺码不合适" in table.text and "处理方式: 免费换货一次" in table.text
    assert "should not be indexed" not in " ".join(h.text for h in kb.search("tracking", k=10))


def test_filters_limit_results_to_matching_documents(loaded: tuple[KnowledgeBase, Path]) -> None:
    kb, _ = loaded
    only_pdf = kb.search("policy", k=5, filters={"types": ["pdf"]})
    assert only_pdf and {h.name for h in only_pdf} == {"warranty.pdf"}
    by_glob = kb.search("退货", k=5, filters={"source": "*.csv"})
    assert {h.name for h in by_glob} <= {"prices.csv"}
    assert kb.search("退货", k=5, filters={"source": "*.nothing"}) == []


def test_readding_skips_unchanged_reingests_changed_and_removes_deleted(kb: KnowledgeBase, corpus: Path) -> None:
    kb.add([corpus])
    again = kb.add([corpus])
    assert (again.added, again.updated, again.removed, again.chunks) == ([], [], [], 0)
    assert len(again.unchanged) == 6

    (corpus / "shipping.txt").write_text("Shipping policy\n\nExpress delivery to Hainan costs 35 yuan.\n",
                                         encoding="utf-8")
    (corpus / "prices.csv").unlink()
    changed = kb.add([corpus])
    assert [Path(s).name for s in changed.updated] == ["shipping.txt"]
    assert [Path(s).name for s in changed.removed] == ["prices.csv"]
    assert len(changed.unchanged) == 4 and changed.added == []
    assert kb.search("Hainan express", k=1)[0].name == "shipping.txt"
    assert all("three to five" not in h.text for h in kb.search("delivery three to five working days", k=10))
    assert all(h.name != "prices.csv" for h in kb.search("小风扇的价格", k=10))
    assert kb.vectors.count() == sum(d.chunks for d in kb.documents())


def test_remove_forgets_a_file_and_unknown_paths_say_so(kb: KnowledgeBase, corpus: Path) -> None:
    kb.add([corpus])
    removed = kb.remove([corpus / "returns.md"])
    assert [Path(s).name for s in removed] == ["returns.md"]
    assert all(h.name != "returns.md" for h in kb.search("退货政策", k=10))
    with pytest.raises(NotFound, match="kb list"):
        kb.remove([corpus / "returns.md"])
    assert kb.remove([corpus]) and kb.documents() == []


def test_hybrid_uses_both_rankings(loaded: tuple[KnowledgeBase, Path]) -> None:
    kb, _ = loaded
    keyword = kb.search("退货运费", k=3, mode="keyword")
    vector = kb.search("退货运费", k=3, mode="vector")
    hybrid = kb.search("退货运费", k=3)
    assert keyword[0].name == vector[0].name == hybrid[0].name == "returns.md"
    assert hybrid[0].keyword_rank == 1 and hybrid[0].vector_rank is not None
    # Score fusion: 0.7 x the cosine rescaled over the vector candidates + 0.3 x BM25 / the query's ideal BM25.
    assert 0.3 < hybrid[0].score <= 1.0 and hybrid[0].score >= hybrid[-1].score
    default = kb.config
    kb.config = default.model_copy(update={"fusion": "rrf"})
    try:
        rrf = kb.search("退货运费", k=3)
    finally:
        kb.config = default
    # Reciprocal rank fusion: 1/(60 + keyword rank) + 1/(60 + vector rank).
    assert rrf[0].keyword_rank == 1 and rrf[0].vector_rank is not None
    expected = 1 / 61 + 1 / (60 + rrf[0].vector_rank)
    assert rrf[0].score == pytest.approx(expected, abs=1e-6)


def test_a_changed_embedder_is_refused_until_reindexed(tmp_path: Path, corpus: Path, embedder: CachedEmbedder) -> None:
    path = tmp_path / "kb.db"
    first = KnowledgeBase(path, embedder)
    first.add([corpus / "returns.md"])
    first.close()
    with pytest.raises(AutoGLMError, match="kb reindex"):
        KnowledgeBase(path, HashingEmbedder(64))
    redo = KnowledgeBase(path, HashingEmbedder(64), reindex=True)
    assert redo.reindex() == sum(d.chunks for d in redo.documents())
    assert redo.search("退货政策", k=1)[0].name == "returns.md"
    redo.close()
    KnowledgeBase(path, HashingEmbedder(64)).close()  # accepted now


def test_inverted_file_keeps_recall_against_exact_search(tmp_path: Path) -> None:
    """Past ivf_min vectors, sqlite-vec searches k-means cells; check it against the exact scan."""
    import numpy as np

    from openautoglm.memory.kb.catalog import connect

    rng = np.random.default_rng(7)
    centres = rng.standard_normal((40, 64)).astype(np.float32)
    X = centres[rng.integers(0, 40, 4000)] + 0.5 * rng.standard_normal((4000, 64)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    store = SqliteVecStore(connect(tmp_path / "v.db"), 64, ivf_min=1000, nprobe=12)
    store.add(list(range(1, 4001)), X.tolist(), [i % 7 for i in range(4000)])
    exact = [store.search(q, 10) for q in X[:30]]
    store.optimize()
    assert store._centroids is not None and len(store._centroids) == int(4000**0.5)
    approx = [store.search(q, 10) for q in X[:30]]
    recall = np.mean([len({i for i, _ in a} & {i for i, _ in e}) / 10 for a, e in zip(approx, exact, strict=True)])
    assert recall >= 0.9
    assert all(a[0][0] == i + 1 for i, a in enumerate(approx))  # each vector finds itself first
    only = store.search(X[0], 5, doc_ids={3})
    assert only and all((cid - 1) % 7 == 3 for cid, _ in only)


# -- through the app: the tools, the CLI, and a full run on the embedded model ------------------------------------


async def test_knowledge_search_tool_returns_source_position_score_text(tmp_path: Path, corpus: Path) -> None:
    from openautoglm.models.scripted import ScriptedModel

    app = AutoGLM(settings=Settings(home=tmp_path / "home"), model=ScriptedModel(["unused"]))
    try:
        app.knowledge.add([corpus / "returns.md", corpus / "shipping.txt"])
        results = await app.call_tool("knowledge.search", {"query": "退货政策", "k": 2})
        assert len(results) == 2
        assert set(results[0]) == {"source", "name", "position", "score", "relevance", "text"}
        assert results[0]["name"] == "returns.md"
        # The knowledge base lives in the app's own SQLite file by default.
        assert Path(app.knowledge.path) == Path(app.settings.db_url.removeprefix("sqlite:///"))
    finally:
        await app.aclose()


async def test_knowledge_answer_cites_its_sources(tmp_path: Path, corpus: Path) -> None:
    from openautoglm.models.scripted import ScriptedModel

    # A model that can plan writes the answer from the excerpts it is shown.
    model = ScriptedModel(["七天内可以无理由退货 [1]。"], can_plan=True)
    app = AutoGLM(settings=Settings(home=tmp_path / "home"), model=model)
    try:
        app.knowledge.add([corpus / "returns.md", corpus / "shipping.txt"])
        result = await app.execute({"steps": [
            {"id": "kb", "uses": "knowledge.answer", "with": {"question": "我们的退货政策是什么？"}}]})
        assert result.status == "succeeded"
        prompt = model.requests[0].messages[-1].content
        assert "returns.md" in prompt and "七天内" in prompt  # the excerpts reached the model, labelled
        assert "七天内可以无理由退货" in result.answer
        assert "来源" in result.answer and "returns.md (line 5 § 售后服务 › 退货政策" in result.answer
    finally:
        await app.aclose()


async def test_with_a_small_model_knowledge_answer_quotes_the_documents(tmp_path: Path, corpus: Path) -> None:
    from openautoglm.models.scripted import ScriptedModel

    model = ScriptedModel(["this small model's text must not be used"], can_plan=False)
    app = AutoGLM(settings=Settings(home=tmp_path / "home"), model=model)
    try:
        app.knowledge.add([corpus / "returns.md", corpus / "shipping.txt"])
        output = await app.call_tool("knowledge.answer", {"question": "退货运费谁承担？"})
        assert model.requests == []
        assert output["method"] == "extract"
        assert "运费由买家承担" in output["answer"] and output["answer"].endswith("[1]")
        assert output["sources"][0]["name"] == "returns.md"
        english = await app.call_tool("knowledge.answer", {"question": "How long does delivery take in China?"})
        assert "three to five working days" in english["answer"]
        assert english["sources"][0]["name"] == "shipping.txt"
    finally:
        await app.aclose()


@pytest.mark.model
async def test_run_answers_the_return_policy_from_the_documents_and_names_the_file(
    tmp_path: Path, corpus: Path
) -> None:
    app = AutoGLM(settings=Settings(home=tmp_path / "home"))
    try:
        app.knowledge.add([corpus])
        result = await app.run("我们的退货政策是什么？")
        assert result.status == "succeeded", result.answer
        assert result.plan is not None and [s.uses for s in result.plan.steps] == ["knowledge.answer"]
        assert "returns.md" in result.answer
        assert "七天内" in result.answer  # the cited excerpt, from the file, whatever the small model wrote
    finally:
        await app.aclose()


def _autoglm(*args: str) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name("autoglm"))
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=300, env=os.environ.copy(),
                          stdin=subprocess.DEVNULL, check=False)


def test_kb_cli_add_search_list_remove(corpus: Path) -> None:
    (corpus / "broken.docx").write_bytes(b"not a zip")
    added = _autoglm("kb", "add", str(corpus), "--json")
    assert added.returncode == 1  # one file failed; the rest were added
    report = json.loads(added.stdout)
    assert len(report["added"]) == 6 and [Path(f["source"]).name for f in report["failed"]] == ["broken.docx"]

    found = _autoglm("kb", "search", "我们的退货政策是什么？", "--json", "-k", "2")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert hits[0]["source"] == str(corpus / "returns.md")
    assert {"source", "position", "score", "text"} <= set(hits[0])

    listed = _autoglm("kb", "list")
    assert listed.returncode == 0 and str(corpus / "warranty.pdf") in listed.stdout

    assert _autoglm("kb", "remove", str(corpus / "warranty.pdf")).returncode == 0
    missing = _autoglm("kb", "remove", str(corpus / "warranty.pdf"))
    assert missing.returncode != 0
    lines = [line for line in missing.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "not in the knowledge base" in lines[0]
