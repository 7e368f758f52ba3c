"""Shared by the customer-service tests: the sample shop's knowledge base (built once per test session with the
bundled embedder) and its order API on loopback, and settings that configure the order lookup as an openapi tool."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openautoglm.config import KnowledgeConfig, OpenAPIConfig, Settings, SupportSettings
from openautoglm.testing.fake_orders import FakeOrderAPI, write_shop_documents


@pytest.fixture(scope="session")
def order_api() -> Iterator[FakeOrderAPI]:
    with FakeOrderAPI() as api:
        yield api


@pytest.fixture(scope="session")
def shop_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The knowledge base file with the shop's policies (ingested once; each test reads it)."""
    from openautoglm.memory.kb import KnowledgeBase

    folder = tmp_path_factory.mktemp("shop")
    path = folder / "kb.db"
    kb = KnowledgeBase.from_settings(Settings(knowledge=KnowledgeConfig(path=path)))
    try:
        report = kb.add(write_shop_documents(folder / "docs"))
        assert not report.failed
    finally:
        kb.close()
    return path


def shop_settings(kb_path: Path, api: FakeOrderAPI, db_url: str, **support: Any) -> Settings:
    return Settings(
        database_url=db_url,
        knowledge=KnowledgeConfig(path=kb_path),
        openapi=[OpenAPIConfig(name="orders", spec=api.spec_url, allow_private=True)],
        support=SupportSettings(order_tool="orders.get_order", **support),
    )
