"""Backends come from registries: a new model backend, vector store or planner is one class and one registration
(a decorator, or an entry point of an installed package), and autoglm.yaml names it."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Sequence
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from openautoglm import AutoGLM, Settings
from openautoglm import registry as registry_module
from openautoglm.config import NodeConfig
from openautoglm.embeddings import EmbeddingsConfig
from openautoglm.errors import ConfigError
from openautoglm.memory.kb import KnowledgeBase, KnowledgeConfig, VectorStore
from openautoglm.memory.kb.vectors import Hit, vector_stores
from openautoglm.models.backends import model_backends
from openautoglm.models.base import ChatModel, ChatRequest, ChatResponse
from openautoglm.models.factory import build_model, model_for_node
from openautoglm.models.pool import Router
from openautoglm.plan import Plan, Step
from openautoglm.planning import PlanningContext, planners
from openautoglm.planning.base import Planner


@model_backends.register("test-echo")
class EchoModel(ChatModel):
    """Answers with its configured prefix and the last message: enough to see which node served a call."""

    def __init__(self, name: str, prefix: str) -> None:
        self.name = name
        self.prefix = prefix

    @classmethod
    def from_node(cls, config: NodeConfig) -> EchoModel:
        return cls(config.name, config.model or "")

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(text=self.prefix + request.messages[-1].content, model=self.name)


@vector_stores.register("test-memory")
class MemoryStore(VectorStore):
    """Vectors in a dict, searched by brute force."""

    name = "test-memory"
    opened: ClassVar[list[MemoryStore]] = []

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.vectors: dict[int, tuple[np.ndarray, int]] = {}
        MemoryStore.opened.append(self)

    @classmethod
    def from_config(cls, config: KnowledgeConfig, *, dim: int, conn: Any, lock: threading.RLock,
                    reset: bool = False) -> MemoryStore:
        return cls(dim)

    def add(self, ids: Sequence[int], vectors: Sequence[Sequence[float]], doc_ids: Sequence[int]) -> None:
        for cid, vector, doc in zip(ids, vectors, doc_ids, strict=True):
            self.vectors[cid] = (np.asarray(vector, dtype=np.float32), doc)

    def delete(self, ids: Collection[int]) -> None:
        for cid in ids:
            self.vectors.pop(cid, None)

    def search(self, vector: Sequence[float], k: int, doc_ids: Collection[int] | None = None) -> list[Hit]:
        query = np.asarray(vector, dtype=np.float32)
        scored = [(cid, float(v @ query)) for cid, (v, doc) in self.vectors.items()
                  if doc_ids is None or doc in doc_ids]
        return sorted(scored, key=lambda hit: -hit[1])[:k]

    def count(self) -> int:
        return len(self.vectors)


@planners.register("test-one-step")
class OneStepPlanner(Planner):
    name = "test-one-step"

    async def plan(self, request: str, ctx: PlanningContext) -> Plan:
        return Plan(steps=[Step(id="only", uses="llm.generate", with_={"prompt": request})])


class PluginModel(EchoModel):
    """Registered by no decorator: only the fake entry point below offers it."""

    @classmethod
    def from_node(cls, config: NodeConfig) -> PluginModel:
        return cls(config.name, "plugin:")


@pytest.fixture
def installed_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As if a package declared ``[project.entry-points."openautoglm.models"] test-plugin = ...:PluginModel``."""
    offered = {"openautoglm.models": [
        EntryPoint(name="test-plugin", value=f"{__name__}:PluginModel", group="openautoglm.models"),
        EntryPoint(name="test-broken", value="no_such_module_here:Model", group="openautoglm.models"),
    ]}
    monkeypatch.setattr(registry_module, "_entry_points", lambda group: offered.get(group, []))
    model_backends.refresh()
    yield
    monkeypatch.undo()
    model_backends.refresh()


async def test_a_registered_model_backend_is_named_by_settings(tmp_path: Path) -> None:
    single = build_model(Settings(home=tmp_path, model_provider="test-echo", model="single:"))
    assert isinstance(single, EchoModel)
    assert (await single.complete(ChatRequest.of("hi"))).text == "single:hi"

    pool = build_model(Settings(home=tmp_path, enable_caching=False,
                                nodes=[NodeConfig(name="e1", backend="test-echo", model="node:")]))
    assert isinstance(pool, Router) and isinstance(pool.get("e1").model, EchoModel)
    answer = await pool.complete(ChatRequest.of("hi"))
    assert (answer.text, answer.node) == ("node:hi", "e1")
    await pool.aclose()

    async with AutoGLM(settings=Settings(home=tmp_path, model_provider="test-echo", model="app:")) as app:
        assert await app.call_tool("llm.generate", {"prompt": "hello"}) == "app:hello"


def test_an_unknown_backend_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"neither a URL nor a model backend \(.*local.*openai.*test-echo"):
        build_model(Settings(home=tmp_path, model_provider="nowhere"))
    with pytest.raises(ConfigError, match=r"unknown model backend 'nowhere'; known: .*local, openai"):
        build_model(Settings(home=tmp_path, nodes=[NodeConfig(name="n", backend="nowhere")]))
    with pytest.raises(ConfigError, match=r"unknown vector store 'nowhere'; known: .*qdrant, sqlite"):
        KnowledgeBase.from_settings(Settings(home=tmp_path, knowledge=KnowledgeConfig(backend="nowhere"),
                                             embeddings=EmbeddingsConfig(provider="hashing", dim=64)))
    with pytest.raises(TypeError, match="subclass of ChatModel"):
        model_backends.register("not-a-model")(dict)


async def test_a_model_backend_from_an_entry_point(tmp_path: Path, installed_plugin: None) -> None:
    assert {"test-plugin", "test-broken", "local", "openai"} <= set(model_backends.names())
    model = build_model(Settings(home=tmp_path, model_provider="test-plugin"))
    assert type(model) is PluginModel
    assert (await model.complete(ChatRequest.of("x"))).text == "plugin:x"
    with pytest.raises(ConfigError, match=r"model backend 'test-broken' \(no_such_module_here:Model\) could not "
                                          r"be loaded: ModuleNotFoundError"):
        build_model(Settings(home=tmp_path, model_provider="test-broken"))


def test_a_removed_plugin_is_forgotten_on_refresh(tmp_path: Path, installed_plugin: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert type(model_for_node(NodeConfig(name="p", backend="test-plugin"))) is PluginModel
    monkeypatch.setattr(registry_module, "_entry_points", lambda group: [])  # as after `pip uninstall`
    model_backends.refresh()
    assert "test-plugin" not in model_backends.names() and "test-echo" in model_backends.names()
    with pytest.raises(ConfigError, match="unknown model backend 'test-plugin'"):
        model_for_node(NodeConfig(name="p", backend="test-plugin"))


def test_a_registered_vector_store_holds_the_knowledge_base_vectors(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, knowledge=KnowledgeConfig(backend="test-memory"),
                        embeddings=EmbeddingsConfig(provider="hashing", dim=64))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "warranty.txt").write_text("Warranty claims need the original invoice and the serial number.",
                                       encoding="utf-8")
    (docs / "shipping.txt").write_text("Parcels ship within two working days from the Shanghai warehouse.",
                                       encoding="utf-8")
    kb = KnowledgeBase.from_settings(settings)
    try:
        assert isinstance(kb.vectors, MemoryStore) and kb.vectors is MemoryStore.opened[-1]
        kb.add([docs])
        assert kb.vectors.count() == 2
        hits = kb.search("warranty claims invoice", k=1, mode="vector")
        assert hits and hits[0].name == "warranty.txt"
    finally:
        kb.close()


async def test_a_registered_planner_is_named_by_settings(tmp_path: Path) -> None:
    app = AutoGLM(settings=Settings(home=tmp_path, planner="test-one-step"),
                  model=EchoModel("echo", "planned:"))
    async with app:
        assert isinstance(app.planner, OneStepPlanner)
        result = await app.run("write a haiku")
    # The plan is the registered planner's; the echo model's reply only repeats the prompt, so the composer does
    # not pass it off as the answer.
    assert [(s.id, str(s.status)) for s in result.steps] == [("only", "succeeded")]
    assert result.steps[0].output.endswith("planned:write a haiku") and result.status == "failed"
