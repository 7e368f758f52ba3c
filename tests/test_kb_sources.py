"""Knowledge sources beyond files: a real SQLite table and a JSON API served on loopback, synced incrementally."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from openautoglm.app import AutoGLM
from openautoglm.config import Settings
from openautoglm.embeddings import HashingEmbedder, Kind
from openautoglm.errors import ConfigError
from openautoglm.memory.kb import KnowledgeBase, KnowledgeConfig
from openautoglm.memory.kb.config import SourceConfig
from openautoglm.memory.kb.sources import make_sources, sync_sources

FAQ = [
    (1, "退货期限", "自签收之日起七天内可以无理由退货，商品需保持完好。"),
    (2, "耳机坏了怎么办", "耳机在一年保修期内出现质量问题，可以免费维修或更换。"),
    (3, "Shipping time", "Orders inside mainland China arrive in three to five working days."),
    (4, "发票", "电子发票在订单完成后二十四小时内发送到邮箱。"),
]
ARTICLES = [
    {"id": 101, "title": "Warranty", "body": "Headphones carry a one-year warranty covering manufacturing faults."},
    {"id": 102, "title": "Gift cards", "body": "Gift cards never expire and cannot be exchanged for cash."},
    {"id": 103, "title": "会员积分", "body": "每消费一元积一分，积分在每年十二月三十一日清零。"},
    {"id": 104, "title": "Store hours", "body": "Our Shanghai store opens from 10:00 to 22:00 every day."},
    {"id": 105, "title": "Price match", "body": "We refund the difference if an item gets cheaper within 14 days."},
]


class CountingEmbedder(HashingEmbedder):
    """Hashing vectors, counting the passages embedded: re-syncing must embed only what changed."""

    def __init__(self) -> None:
        super().__init__(256)
        self.passages: list[str] = []

    def _embed_batch(self, texts: list[str], kind: Kind) -> list[list[float]]:
        if kind == "passage":
            self.passages.extend(texts)
        return super()._embed_batch(texts, kind)


def make_faq(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE faq (id INTEGER PRIMARY KEY, question TEXT, answer TEXT)")
        db.executemany("INSERT INTO faq VALUES (?, ?, ?)", FAQ)
    return path


class ArticlesAPI:
    """A paged JSON API on 127.0.0.1: ``/api/articles?page=N``, two items a page, a ``next`` link to the rest."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = [dict(a) for a in ARTICLES]
        self.requests: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.requests.append(self.path)
                url = urlparse(self.path)
                if url.path != "/api/articles":
                    self.send_error(404)
                    return
                page = int(parse_qs(url.query).get("page", ["1"])[0])
                items = api.items[(page - 1) * 2 : page * 2]
                more = page * 2 < len(api.items)
                body = json.dumps({"data": items, "next": f"/api/articles?page={page + 1}" if more else None})
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/articles"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api() -> Iterator[ArticlesAPI]:
    server = ArticlesAPI()
    yield server
    server.close()


def source_configs(db: Path, api_url: str, allow_private: bool = True) -> list[SourceConfig]:
    return [
        SourceConfig(kind="sql", name="faq", url=f"sqlite:///{db}", query="SELECT id, question, answer FROM faq",
                     key="id", title="question"),
        SourceConfig(kind="http", name="help", url=api_url, items="data", title="title",
                     allow_private=allow_private),
    ]


async def test_sync_ingests_rows_and_items_then_only_what_changed(tmp_path: Path, api: ArticlesAPI) -> None:
    db = make_faq(tmp_path / "shop.db")
    embedder = CountingEmbedder()
    kb = KnowledgeBase(tmp_path / "kb.db", embedder, config=KnowledgeConfig())
    sources = make_sources(source_configs(db, api.url), Settings(home=tmp_path / "home"))
    try:
        first = await sync_sources(kb, sources)
        assert sorted(first["faq"].added) == [f"sql:faq:faq:id={i}" for i in (1, 2, 3, 4)]
        assert sorted(first["help"].added) == [f"http:help:{i}" for i in (101, 102, 103, 104, 105)]
        assert [r for r in api.requests if r.startswith("/api/articles")] == [
            "/api/articles", "/api/articles?page=2", "/api/articles?page=3"]  # followed every `next` link
        assert len(embedder.passages) == 9

        # One row changes, one row goes, one item changes: only those two are embedded again.
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE faq SET answer = '自签收之日起十五天内可以无理由退货。' WHERE id = 1")
            conn.execute("DELETE FROM faq WHERE id = 4")
        api.items[2]["body"] = "每消费一元积两分。"
        embedder.passages.clear()
        second = await sync_sources(kb, sources)
        assert second["faq"].updated == ["sql:faq:faq:id=1"] and second["faq"].removed == ["sql:faq:faq:id=4"]
        assert second["faq"].added == [] and len(second["faq"].unchanged) == 2
        assert second["help"].updated == ["http:help:103"] and len(second["help"].unchanged) == 4
        assert len(embedder.passages) == 2 and "十五天" in embedder.passages[0]

        hits = kb.search("发票 电子发票 邮箱", 3)
        assert all("电子发票" not in h.text for h in hits)  # the deleted row is gone from search
        hit = kb.search("无理由退货 签收", 1)[0]
        assert (hit.name, hit.position, hit.citation) == ("faq", "id=1", "faq (id=1)")
        assert "十五天" in hit.text
        item = kb.search("gift cards expire", 1)[0]
        assert item.citation == f"{api.url} (id=102)"
        docs = {d.source: d for d in kb.documents()}
        assert docs["sql:faq:faq:id=2"].type == "sql" and docs["http:help:101"].type == "http"

        # Nothing changed: nothing embedded, nothing written.
        embedder.passages.clear()
        third = await sync_sources(kb, sources)
        assert embedder.passages == [] and all(not r.added and not r.updated and not r.removed
                                               for r in third.values())
    finally:
        kb.close()


async def test_a_source_that_cannot_be_read_keeps_its_documents(tmp_path: Path, api: ArticlesAPI) -> None:
    db = make_faq(tmp_path / "shop.db")
    kb = KnowledgeBase(tmp_path / "kb.db", CountingEmbedder(), config=KnowledgeConfig())
    settings = Settings(home=tmp_path / "home")
    try:
        await sync_sources(kb, make_sources(source_configs(db, api.url), settings))
        assert len(kb.documents()) == 9
        api.close()  # the API goes down
        (tmp_path / "shop.db").unlink()  # and the database file is gone
        reports = await sync_sources(kb, make_sources(source_configs(db, api.url), settings))
        assert "database file not found" in reports["faq"].failed[0].error
        assert "cannot reach" in reports["help"].failed[0].error or "did not answer" in reports["help"].failed[0].error
        assert len(kb.documents()) == 9  # nothing removed because a source could not be read
    finally:
        kb.close()


async def test_loopback_api_is_refused_unless_the_source_allows_it(tmp_path: Path, api: ArticlesAPI) -> None:
    kb = KnowledgeBase(tmp_path / "kb.db", CountingEmbedder(), config=KnowledgeConfig())
    try:
        sources = make_sources(source_configs(make_faq(tmp_path / "shop.db"), api.url, allow_private=False)[1:],
                               Settings(home=tmp_path / "home"))
        reports = await sync_sources(kb, sources)
        assert "loopback" in reports["help"].failed[0].error and "http_allow" in reports["help"].failed[0].error
        assert api.requests == [] and kb.documents() == []
        # http_allow lets it through, as for HTTP tools.
        allowed = make_sources(source_configs(tmp_path / "shop.db", api.url, allow_private=False)[1:],
                               Settings(home=tmp_path / "home", http_allow=["127.0.0.1"]))
        assert len((await sync_sources(kb, allowed))["help"].added) == 5
    finally:
        kb.close()


def test_source_configs_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown knowledge source 'ftp'"):
        make_sources([SourceConfig(kind="ftp", name="x")])
    with pytest.raises(ConfigError, match="'faq' \\(sql\\): query: Field required"):
        make_sources([SourceConfig(kind="sql", name="faq", url="sqlite:///x.db", key="id")])
    with pytest.raises(ConfigError, match="two sources are named 'a'"):
        make_sources([SourceConfig(kind="folder", name="a", path=str(tmp_path))] * 2)
    with pytest.raises(ConfigError, match="url must be an http"):
        make_sources([SourceConfig(kind="http", name="h", url="file:///etc/passwd")])


async def test_sql_source_cannot_write(tmp_path: Path) -> None:
    db = make_faq(tmp_path / "shop.db")
    kb = KnowledgeBase(tmp_path / "kb.db", CountingEmbedder(), config=KnowledgeConfig())
    try:
        sources = make_sources([SourceConfig(kind="sql", name="faq", url=f"sqlite:///{db}", key="id",
                                             query="DELETE FROM faq RETURNING id")])
        reports = await sync_sources(kb, sources)
        assert "read-only" in reports["faq"].failed[0].error
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM faq").fetchone()[0] == 4
    finally:
        kb.close()


async def test_folder_source_follows_its_files(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# 退货\n\n七天内可以退货。\n", encoding="utf-8")
    (folder / "b.txt").write_text("Delivery takes three days.\n", encoding="utf-8")
    kb = KnowledgeBase(tmp_path / "kb.db", CountingEmbedder(), config=KnowledgeConfig())
    sources = make_sources([SourceConfig(kind="folder", name="docs", path=str(folder))])
    try:
        assert len((await sync_sources(kb, sources))["docs"].added) == 2
        (folder / "b.txt").unlink()
        report = (await sync_sources(kb, sources))["docs"]
        assert report.removed == [str((folder / "b.txt").resolve())] and len(report.unchanged) == 1
    finally:
        kb.close()


async def test_app_syncs_its_sources_and_an_answer_cites_the_row(tmp_path: Path, api: ArticlesAPI) -> None:
    """Through the facade with the real bundled embedder: the answer names the table and the row's key."""
    from openautoglm.models.scripted import ScriptedModel

    db = make_faq(tmp_path / "shop.db")
    settings = Settings(home=tmp_path / "home", knowledge=KnowledgeConfig(sources=source_configs(db, api.url)))
    app = AutoGLM(settings=settings, model=ScriptedModel(["unused"], can_plan=False))
    try:
        reports = await app.sync_knowledge()
        assert len(reports["faq"].added) == 4 and len(reports["help"].added) == 5
        output = await app.call_tool("knowledge.answer", {"question": "耳机坏了可以免费维修吗？"})
        assert output["sources"][0]["name"] == "faq" and output["sources"][0]["position"] == "id=2"
        answer = app.tools.get("knowledge.answer").answer(output, "zh")
        assert answer is not None and "一年保修期" in answer and "来源：faq (id=2)" in answer
        english = await app.call_tool("knowledge.answer", {"question": "Do gift cards expire?"})
        assert english["sources"][0]["name"] == api.url and english["sources"][0]["position"] == "id=102"
        with pytest.raises(ConfigError, match="no knowledge source named nope"):
            await app.sync_knowledge(["nope"])
    finally:
        await app.aclose()


async def test_schedule_syncs_again_and_survives_a_failing_run(tmp_path: Path) -> None:
    import asyncio

    from openautoglm.memory.kb import IngestReport
    from openautoglm.memory.kb.sources import SyncSchedule

    calls: list[int] = []

    async def sync() -> dict[str, IngestReport]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first run fails")
        return {"x": IngestReport()}

    schedule = SyncSchedule(sync, 0.01)
    schedule.start()
    for _ in range(200):
        if schedule.runs >= 3:
            break
        await asyncio.sleep(0.01)
    await schedule.aclose()
    assert schedule.runs >= 3 and schedule.last == {"x": IngestReport()}


def test_gateway_syncs_on_its_schedule(tmp_path: Path) -> None:
    """A real gateway with ``knowledge.sync_interval_s``: a row changed while it runs is ingested by itself."""
    import sys
    import time

    from openautoglm.embeddings import EmbeddingsConfig

    sys.path.insert(0, str(Path(__file__).parent))
    from gateway_support import gateway, make_glm

    db = make_faq(tmp_path / "shop.db")
    knowledge = KnowledgeConfig(sources=source_configs(db, "http://unused.invalid")[:1], sync_interval_s=0.2)
    glm = make_glm(f"sqlite:///{tmp_path / 'gw.db'}", options={
        "knowledge": knowledge, "embeddings": EmbeddingsConfig(provider="hashing"), "home": tmp_path / "home"})

    def row_text() -> str:
        hits = glm.knowledge.search("发票", 1, mode="keyword")
        return hits[0].text if hits else ""

    with gateway(glm):
        deadline = time.monotonic() + 20
        while "二十四小时" not in row_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "二十四小时" in row_text()
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE faq SET answer = '纸质发票随包裹寄出。' WHERE id = 4")
        while "纸质发票" not in row_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "纸质发票" in row_text()
    glm.knowledge.close()


def test_kb_cli_sync_reports_each_source_and_refuses_without_sources(tmp_path: Path, api: ArticlesAPI) -> None:
    import os
    import subprocess
    import sys

    import yaml

    def autoglm(*args: str) -> subprocess.CompletedProcess[str]:
        exe = str(Path(sys.executable).with_name("autoglm"))
        return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, env=os.environ.copy(),
                              stdin=subprocess.DEVNULL, check=False)

    db = make_faq(tmp_path / "shop.db")
    config = tmp_path / "autoglm.yaml"
    config.write_text(yaml.safe_dump({"embeddings": {"provider": "hashing"}, "knowledge": {"sources": [
        c.model_dump() for c in source_configs(db, api.url)]}}), encoding="utf-8")
    first = autoglm("kb", "sync", "--json", "--config", str(config))
    assert first.returncode == 0, first.stderr
    assert {n: len(r["added"]) for n, r in json.loads(first.stdout).items()} == {"faq": 4, "help": 5}
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE faq SET answer = '发票随包裹寄出。' WHERE id = 4")
    second = autoglm("kb", "sync", "faq", "--config", str(config))
    assert second.returncode == 0, second.stderr
    assert "faq: 0 added, 1 updated, 3 unchanged, 0 removed, 0 failed" in second.stderr
    assert "help:" not in second.stderr  # only the source named

    empty = tmp_path / "empty.yaml"
    empty.write_text("embeddings: {provider: hashing}\n", encoding="utf-8")
    refused = autoglm("kb", "sync", "--config", str(empty))
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode != 0 and len(lines) == 1 and "knowledge.sources" in lines[0]
