"""Routing policies as versioned data: the document's bounds, versions in the store (activate, rollback, pin),
their application to a real router over fake nodes on loopback, the resource table, and the CLI."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from openautoglm.cli import main
from openautoglm.config import RouterSettings
from openautoglm.errors import ConfigError, NotFound, PolicyConflict
from openautoglm.models.base import ChatRequest
from openautoglm.models.openai_compat import OpenAICompatibleModel
from openautoglm.models.pool import Router
from openautoglm.models.pool.node import resource_factor
from openautoglm.policies.book import PolicyBook
from openautoglm.policies.document import parse_policy
from openautoglm.store import Store
from openautoglm.testing import FakeOpenAI


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'p.db'}")
    yield s
    s.close()


@pytest.fixture
def fakes() -> Iterator[Callable[..., FakeOpenAI]]:
    made: list[FakeOpenAI] = []

    def make(mode: Any = "echo", **options: Any) -> FakeOpenAI:
        fake = FakeOpenAI(mode, **options).start()
        made.append(fake)
        return fake

    yield make
    for fake in made:
        fake.stop()


def two_nodes(a: FakeOpenAI, b: FakeOpenAI) -> Router:
    return Router([OpenAICompatibleModel(a.base_url, "m", name="a"), OpenAICompatibleModel(b.base_url, "m", name="b")],
                  settings=RouterSettings(probe_interval_s=None))


def test_every_knob_is_bounded_and_unknown_sections_are_refused() -> None:
    ok = parse_policy({"routes": {"chat": {"weights": {"a": 2, "b": 0}, "limits": {"a": 4}, "retries": 2}},
                       "sections": {"composer": {"min_confidence": 0.7}}})
    assert ok.route("chat").weight("b") == 0 and ok.section("composer").min_confidence == 0.7  # type: ignore[union-attr,attr-defined]
    for bad, says in [
        ({"routes": {"chat": {"weights": {"a": 101}}}}, "within 0..100"),
        ({"routes": {"chat": {"limits": {"a": 0}}}}, "within 1..1024"),
        ({"routes": {"chat": {"retries": 9}}}, "retries"),
        ({"sections": {"suport": {}}}, "unknown policy section 'suport'"),
        ({"sections": {"composer": {"min_confidence": 2}}}, "min_confidence"),
        ({"routes": {"bad name!": {}}}, "not a node or capability name"),
    ]:
        with pytest.raises(ConfigError, match=says):
            parse_policy(bad)


def test_versions_activate_rollback_and_pin_with_who_when_why(store: Store) -> None:
    book = PolicyBook(store)
    v1 = book.create({"routes": {"chat": {"weights": {"a": 1}}}}, "ops@x", "baseline")
    v2 = book.create({"routes": {"chat": {"weights": {"a": 3}}}}, "ops@x", "a is faster", parent=v1.version)
    assert (v1.version, v2.version) == (1, 2) and book.state().active is None
    book.activate(1, "ops@x")
    state = book.activate(2, "ops@x", "try a")
    assert (state.active, state.previous) == (2, 1)
    assert book.diff(1, 2) == ["~ routes.chat.weights.a: 1.0 -> 3.0"]
    assert book.rollback("ops@y", "worse").active == 1  # type: ignore[union-attr]
    pinned = book.pin(None, "ops@y", "hold")
    assert pinned.pinned and pinned.active == 1
    with pytest.raises(PolicyConflict, match="pinned"):
        book.activate(2, "ops@x")
    with pytest.raises(PolicyConflict, match="pinned"):
        book.rollback("ops@x")
    assert book.rollback("loop", by_loop=True) is None  # the loop yields to a pin
    assert book.unpin("ops@y").pinned is False
    with pytest.raises(NotFound):
        book.activate(9, "ops@x")
    with pytest.raises(ConfigError, match="routing strategy"):
        book.create({"routes": {"chat": {"strategy": "fastest_ever"}}}, "ops@x")
    kinds = [(e.kind, e.version, e.author) for e in book.history()]
    assert kinds[:4] == [("policy.unpinned", 1, "ops@y"), ("policy.pinned", 1, "ops@y"),
                         ("policy.rolled_back", 2, "ops@y"), ("policy.activated", 2, "ops@x")]
    assert book.history()[2].reason == "worse" and book.history()[2].data == {"to": 1, "test": None}


async def test_the_active_policy_steers_a_real_router_at_once(store: Store,
                                                              fakes: Callable[..., FakeOpenAI]) -> None:
    a, b = fakes("echo"), fakes("echo")
    router = two_nodes(a, b)
    book = PolicyBook(store, router)
    try:
        version = book.create({"routes": {"text-generation": {"weights": {"a": 0}}}}, "ops", "drain a").version
        book.activate(version, "ops")
        assert router.arms.version == version
        for _ in range(20):
            await router.complete(ChatRequest.of("hi"))
        assert (a.requests, b.requests) == (0, 20)
        a.reset_counts(), b.reset_counts()
        b.set(mode="error", status=503)  # the node the policy keeps fails: availability beats the policy
        answer = await router.complete(ChatRequest.of("still"))
        assert answer.text == "still" and a.requests == 1
        book.rollback("ops")
        assert router.arms.version is None  # nothing before it: routing as configured
        assert router.signals.describe()["calls"] == 21
    finally:
        await router.aclose()


async def test_the_cache_section_turns_the_response_cache_off_and_on(
        store: Store, fakes: Callable[..., FakeOpenAI], tmp_path: Path) -> None:
    from openautoglm.models.pool.cache import SQLiteCache

    node = fakes("echo")
    router = Router([OpenAICompatibleModel(node.base_url, "m", name="n")], cache=SQLiteCache(tmp_path / "c.db"),
                    settings=RouterSettings(probe_interval_s=None))
    book = PolicyBook(store, router)
    try:
        for _ in range(2):
            await router.complete(ChatRequest.of("same", temperature=0))
        assert node.requests == 1  # the second came from the cache
        book.activate(book.create({"sections": {"cache": {"enabled": False}}}, "ops").version, "ops")
        await router.complete(ChatRequest.of("same", temperature=0))
        assert node.requests == 2
        book.rollback("ops")
        await router.complete(ChatRequest.of("same", temperature=0))
        assert node.requests == 2
    finally:
        await router.aclose()


async def test_limits_of_a_policy_cap_a_nodes_concurrency(store: Store, fakes: Callable[..., FakeOpenAI]) -> None:
    slow = fakes("echo", latency_s=0.05)
    router = Router([OpenAICompatibleModel(slow.base_url, "m", name="s")],
                    settings=RouterSettings(probe_interval_s=None))
    book = PolicyBook(store, router)
    try:
        book.activate(book.create({"routes": {"text-generation": {"limits": {"s": 2}}}}, "ops").version, "ops")
        peak = 0

        async def call() -> None:
            nonlocal peak
            task = asyncio.create_task(router.complete(ChatRequest.of("x")))
            await asyncio.sleep(0.01)
            peak = max(peak, router.get("s").in_flight)
            await task

        await asyncio.gather(*(call() for _ in range(6)))
        assert peak == 2
    finally:
        await router.aclose()


def test_the_resource_table() -> None:
    assert resource_factor(90, 10) == 0  # hot and short of memory: drained
    assert resource_factor(90, 50) == 1  # hot but with memory: left as it is
    assert resource_factor(50, 40) == 1.5  # idle with memory: takes more
    assert resource_factor(75, 40) == 1
    assert resource_factor(None, 10) == 1  # nothing reported: nothing changes


async def test_a_drained_node_gets_no_calls_while_another_is_usable(fakes: Callable[..., FakeOpenAI]) -> None:
    a, b = fakes("echo"), fakes("echo")
    router = two_nodes(a, b)
    try:
        router.get("a").report_load(cpu_percent=95, memory_free_percent=8, queue_depth=12)
        assert router.describe()[0]["state"] == "drained"
        for _ in range(10):
            await router.complete(ChatRequest.of("hi"))
        assert (a.requests, b.requests) == (0, 10)
        router.get("b").report_load(cpu_percent=97, memory_free_percent=5, queue_depth=30)
        await router.complete(ChatRequest.of("hi"))  # both drained: still served, not refused
        assert a.requests + b.requests == 11
    finally:
        await router.aclose()


def test_cli_lists_diffs_rolls_back_and_refuses_bad_input_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AUTOGLM_DATA_DIR", str(tmp_path))
    # main() points logging at this test's captured stdout, which is closed after it: later tests' logs would fail.
    monkeypatch.setattr("openautoglm.logs.configure_logging", lambda level: None)

    def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
        """``autoglm policy ARGS`` in this process (main() as the console script runs it)."""
        monkeypatch.setattr(sys, "argv", ["autoglm", "policy", *args])
        with pytest.raises(SystemExit) as exited:
            main()
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, int(exited.value.code or 0), out.out, out.err)

    doc = tmp_path / "p.yaml"
    doc.write_text("routes:\n  text-generation:\n    weights: {a: 2}\n")
    assert _cli("create", str(doc), "--activate", "-r", "a first", home=tmp_path).returncode == 0
    doc.write_text("routes:\n  text-generation:\n    weights: {a: 1, b: 3}\n")
    assert _cli("create", str(doc), "--activate", home=tmp_path).returncode == 0
    listed = _cli("list", home=tmp_path).stdout
    assert "v1" in listed and "* " in listed.splitlines()[1] and "a first" in listed
    assert "~ routes.text-generation.weights.a: 2.0 -> 1.0" in _cli("diff", "2", home=tmp_path).stdout
    assert "active: 1 (previous: 2)" in _cli("rollback", home=tmp_path).stdout
    doc.write_text("routes: {x: {weights: {a: -1}}}\n")
    bad = _cli("create", str(doc), home=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "within 0..100" in bad.stderr
    missing = _cli("show", "7", home=tmp_path)
    assert missing.returncode == 2 and missing.stderr.strip() == "autoglm: error: no policy version 7"
