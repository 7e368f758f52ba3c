"""The embedding component: the bundled multilingual model, an OpenAI-compatible endpoint on loopback, hashing."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from openautoglm.config import Settings
from openautoglm.embeddings import (
    E5Embedder,
    EmbeddingsConfig,
    HashingEmbedder,
    OpenAIEmbedder,
    make_embedder,
)
from openautoglm.errors import ConfigError, ModelResponseError, ModelUnavailable


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def e5() -> E5Embedder:
    return E5Embedder()


def test_e5_vectors_are_normalised_and_sized(e5: E5Embedder) -> None:
    vectors = e5.embed(["退货政策", "return policy", ""])
    assert len(vectors) == 3
    for v in vectors:
        assert len(v) == e5.dim == 384
        assert math.isclose(math.sqrt(_dot(v, v)), 1.0, rel_tol=1e-5)


def test_e5_ranks_the_answering_passage_first_in_both_languages(e5: E5Embedder) -> None:
    passages = [
        "商品签收后七天内可以申请无理由退货。",
        "Our support team answers tickets Monday to Friday.",
        "熊猫主要以竹子为食。",
        "Mount Everest is about 8,849 metres high.",
    ]
    P = e5.embed(passages)
    for query, want in [("怎么退货", 0), ("What do pandas eat?", 2), ("珠穆朗玛峰有多高", 3)]:
        q = e5.embed_query(query)
        scores = [_dot(q, p) for p in P]
        assert max(range(len(P)), key=scores.__getitem__) == want, (query, scores)


def test_e5_batches_match_single_calls(e5: E5Embedder) -> None:
    texts = [f"第{i}段文字 paragraph {i}" for i in range(5)]
    e5_small = E5Embedder(batch_size=2)
    batched = e5_small.embed(texts)
    singles = [e5.embed([t])[0] for t in texts]
    for a, b in zip(batched, singles, strict=True):
        assert _dot(a, b) > 0.999


class SlowCountingEmbedder(HashingEmbedder):
    """Hashing vectors from an engine that takes 50 ms a batch and fails on the text "boom"."""

    def __init__(self) -> None:
        super().__init__(dim=64)
        self.batches: list[list[str]] = []

    def _embed_batch(self, texts: list[str], kind: Any) -> list[list[float]]:
        self.batches.append(list(texts))
        time.sleep(0.05)
        if "boom" in texts:
            raise ModelUnavailable("the engine choked on boom")
        return super()._embed_batch(texts, kind)


def embed_at_once(embedder: SlowCountingEmbedder, texts: list[str]) -> tuple[dict[str, list[float]],
                                                                               dict[str, Exception]]:
    """Each text embedded by a thread of its own, all started together."""
    results: dict[str, list[float]] = {}
    errors: dict[str, Exception] = {}

    def work(text: str) -> None:
        try:
            results[text] = embedder.embed([text], kind="query")[0]
        except ModelUnavailable as exc:
            errors[text] = exc

    threads = [threading.Thread(target=work, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_callers_waiting_for_a_busy_engine_share_its_next_batch() -> None:
    embedder = SlowCountingEmbedder()
    texts = [f"request {i}" for i in range(12)]
    results, errors = embed_at_once(embedder, texts)
    # Each caller got the vector of its own text, and the engine ran fewer batches than there were callers.
    assert not errors and sorted(results) == sorted(texts)
    alone = HashingEmbedder(dim=64)
    assert all(_dot(results[t], alone.embed([t], kind="query")[0]) > 0.999 for t in texts)
    assert len(embedder.batches) < len(texts) and max(len(b) for b in embedder.batches) > 1, embedder.batches


def test_a_text_that_breaks_the_engine_fails_only_its_own_caller() -> None:
    embedder = SlowCountingEmbedder()
    texts = [f"request {i}" for i in range(6)]
    results, errors = embed_at_once(embedder, [*texts, "boom"])
    assert sorted(results) == sorted(texts)
    assert list(errors) == ["boom"] and "choked" in str(errors["boom"])


def test_one_embedder_is_safe_to_share_between_threads(e5: E5Embedder) -> None:
    expected = e5.embed(["线程安全 thread safety"])[0]
    results: list[list[float]] = []

    def work() -> None:
        results.append(e5.embed(["线程安全 thread safety"])[0])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    assert all(_dot(r, expected) > 0.999 for r in results)


def test_hashing_embedder_is_deterministic_and_lexical() -> None:
    h = HashingEmbedder(128)
    a, b, c = h.embed(["退货政策七天", "退货政策七天", "weather in Beijing"])
    assert a == b
    assert _dot(a, b) > 0.999
    assert _dot(a, c) < 0.5


# -- an OpenAI-compatible endpoint on loopback --------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    calls: list[dict[str, Any]] = []  # noqa: RUF012 - shared on purpose: the test reads what the server saw
    mode = "ok"

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        if self.mode == "error":
            self._send(500, {"error": {"message": "boom"}})
            return
        if self.mode == "bad":
            self._send(400, {"error": {"message": "no such model"}})
            return
        # A deterministic 3-d "embedding": length, count of CJK chars, 1 — scaled so normalisation shows.
        data = [
            {"object": "embedding", "index": i,
             "embedding": [float(len(t)), float(sum("\u4e00" <= ch <= "\u9fff" for ch in t)), 1.0]}
            for i, t in enumerate(body["input"])
        ]
        data.reverse()  # servers may answer out of order; the client must sort by index
        self._send(200, {"object": "list", "data": data, "model": body["model"],
                         "usage": {"prompt_tokens": 1, "total_tokens": 1}})

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    _Handler.calls = []
    _Handler.mode = "ok"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_openai_embedder_batches_sorts_and_normalises(endpoint: str) -> None:
    emb = make_embedder(EmbeddingsConfig(provider="openai", base_url=endpoint, model="bge-m3", api_key="k1",
                                         batch_size=2))
    assert isinstance(emb, OpenAIEmbedder)
    vectors = emb.embed(["ab", "你好吗", "xyz1"])
    assert emb.dim == 3
    assert len(_Handler.calls) == 2  # three texts in batches of two
    assert _Handler.calls[0]["body"]["model"] == "bge-m3"
    assert _Handler.calls[0]["auth"] == "Bearer k1"
    raw = [2.0, 0.0, 1.0]
    norm = math.sqrt(sum(x * x for x in raw))
    assert vectors[0] == pytest.approx([x / norm for x in raw])
    assert vectors[1][1] > 0  # the CJK count of the second text, so the order was kept


def test_openai_embedder_errors_say_what_failed(endpoint: str) -> None:
    _Handler.mode = "bad"
    emb = OpenAIEmbedder(base_url=endpoint, model="nope")
    with pytest.raises(ModelResponseError, match="refused"):
        emb.embed(["x"])
    _Handler.mode = "error"
    with pytest.raises(ModelUnavailable, match="unavailable"):
        emb.embed(["x"])


def test_openai_provider_needs_url_and_model() -> None:
    with pytest.raises(ConfigError, match=r"embeddings\.base_url"):
        make_embedder(EmbeddingsConfig(provider="openai"))


def test_settings_choose_the_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(make_embedder(Settings().embeddings), E5Embedder)
    monkeypatch.setenv("AUTOGLM_EMBEDDINGS__PROVIDER", "hashing")
    assert isinstance(make_embedder(Settings().embeddings), HashingEmbedder)
