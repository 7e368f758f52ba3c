"""Customer service with confidence routing, measured on a labelled set of customer messages.

    .venv/bin/python bench/support.py [--fit]

The sample shop (src/openautoglm/testing/shop.yaml: policy documents in Chinese and English, an order API on
loopback, configured as an ``openapi`` tool) and bench/support_messages.yaml (106 messages: answerable, partly
answerable, out of scope, angry, ambiguous; a dev split and a held-out split). Each message goes through
``SupportDesk.ask`` with the bundled embedder; a follow-up is asked after its previous message in one conversation.

A draft is *correct* when it rests on the labelled source (document or order) and contains every labelled fact.
A message is *safe to send* when it is answerable and its draft is correct (or, asking back for an order number,
when that is what it needs). Correct routing: ``auto_reply`` when safe to send; ``suggest`` when the draft is correct
(an agent gets a right draft to approve); ``handoff`` when it is not safe to send (out of scope, angry, ambiguous,
partly answerable, or a wrong draft).

``--fit`` fits the confidence's logistic weights on the dev split only (apps/support/calibration.yaml), then
measures. The held-out split is never fitted or tuned on. Prints per split: per route how many and how many
correct, the precision of automatic replies, the share of out-of-scope messages handed off and of answerable ones
answered automatically, and a reliability table (confidence bins against the share safe to send); then, side by
side, the same drafts routed by the composer's general confidence formula instead of the calibrated one.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from openautoglm import AutoGLM  # noqa: E402
from openautoglm.apps.support import SupportDesk, SupportReply  # noqa: E402
from openautoglm.apps.support.confidence import fit  # noqa: E402
from openautoglm.config import KnowledgeConfig, OpenAPIConfig, Settings, SupportSettings  # noqa: E402
from openautoglm.models.scripted import ScriptedModel  # noqa: E402
from openautoglm.testing.fake_orders import FakeOrderAPI, write_shop_documents  # noqa: E402

LABELS = HERE / "support_messages.yaml"
CALIBRATION = HERE.parent / "src" / "openautoglm" / "apps" / "support" / "calibration.yaml"
BINS = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 1.01))


@dataclass
class Row:
    label: dict[str, Any]
    reply: SupportReply

    @property
    def draft_correct(self) -> bool:
        want = self.label.get("source")
        if not want or not self.reply.draft or not self.reply.sources:
            return False
        source = self.reply.sources[0]
        where = "order" if source.get("type") == "tool" else str(source.get("name", "")).split(".")[0]
        return where == want and all(f.lower() in self.reply.draft.lower() for f in self.label.get("facts", []))

    @property
    def safe(self) -> bool:
        if self.label.get("clarify"):
            return "clarification" in self.reply.features
        return self.label["kind"] == "answerable" and self.draft_correct

    @property
    def routed_right(self) -> bool:
        route = self.reply.route
        if route == "auto_reply":
            return self.safe
        if route == "suggest":
            return self.draft_correct
        return not self.safe


async def measure(glm: AutoGLM, labels: list[dict[str, Any]]) -> list[Row]:
    desk = SupportDesk(glm)
    rows = []
    for n, label in enumerate(labels):
        conversation = None
        if label.get("after"):
            conversation = f"bench-{n}-{time.time_ns()}"
            await desk.ask(label["after"], conversation)
        rows.append(Row(label, await desk.ask(label["text"], conversation)))
    return rows


def report(name: str, rows: list[Row]) -> None:
    print(f"\n## {name} ({len(rows)} messages)\n")
    print("| route | messages | routed right |")
    print("|---|---:|---:|")
    for route in ("auto_reply", "suggest", "handoff"):
        chosen = [r for r in rows if r.reply.route == route]
        print(f"| {route} | {len(chosen)} | {sum(r.routed_right for r in chosen)} |")
    auto = [r for r in rows if r.reply.route == "auto_reply"]
    precision = sum(r.safe for r in auto) / len(auto) if auto else float("nan")
    outside = [r for r in rows if r.label["kind"] == "out_of_scope"]
    answerable = [r for r in rows if r.label["kind"] == "answerable"]
    print(f"\nauto_reply precision: {precision:.1%} ({sum(r.safe for r in auto)}/{len(auto)})")
    print(f"out of scope handed off: {sum(r.reply.route == 'handoff' for r in outside)}/{len(outside)}")
    print(f"answerable answered automatically: {sum(r.reply.route == 'auto_reply' for r in answerable)}"
          f"/{len(answerable)}")
    by_kind = {}
    for r in rows:
        by_kind.setdefault(r.label["kind"], {}).setdefault(r.reply.route, 0)
        by_kind[r.label["kind"]][r.reply.route] += 1
    print("routes by kind: " + "; ".join(f"{k}: {v}" for k, v in sorted(by_kind.items())))
    print("\n| confidence | messages | safe to send | mean confidence |")
    print("|---|---:|---:|---:|")
    for low, high in BINS:
        chosen = [r for r in rows if low <= r.reply.confidence < high]
        if not chosen:
            print(f"| {low:.1f}–{min(high, 1.0):.1f} | 0 | – | – |")
            continue
        share = sum(r.safe for r in chosen) / len(chosen)
        mean = sum(r.reply.confidence for r in chosen) / len(chosen)
        print(f"| {low:.1f}–{min(high, 1.0):.1f} | {len(chosen)} | {share:.0%} | {mean:.2f} |")


def baseline_route(row: Row) -> str:
    """The route the composer's own confidence would give the same draft (compose/confidence.py: 0.95 for a
    tool's result, 0.50 + 0.45 * relevance for a knowledge-base answer), by the same thresholds."""
    reply = row.reply
    if "clarification" in reply.features:
        return reply.route
    if not reply.draft:
        return "handoff"
    confidence = 0.95 if reply.features.get("order") else 0.50 + 0.45 * reply.features.get("relevance", 0.0)
    return "auto_reply" if confidence >= 0.9 else "suggest" if confidence >= 0.7 else "handoff"


def side_by_side(rows: list[Row]) -> None:
    print("\n## calibrated confidence against the composer's confidence formula (same drafts, same thresholds)\n")
    print("| split | confidence | auto replies | auto precision | out of scope handed off | answerable auto |")
    print("|---|---|---:|---:|---:|---:|")
    for split in ("dev", "heldout"):
        chosen = [r for r in rows if r.label["split"] == split]
        for name, route in (("calibrated", lambda r: r.reply.route), ("composer formula", baseline_route)):
            auto = [r for r in chosen if route(r) == "auto_reply"]
            safe = sum(r.safe for r in auto)
            outside = [r for r in chosen if r.label["kind"] == "out_of_scope"]
            answerable = [r for r in chosen if r.label["kind"] == "answerable"]
            print(f"| {split} | {name} | {len(auto)} | {safe / len(auto) if auto else float('nan'):.1%} | "
                  f"{sum(route(r) == 'handoff' for r in outside)}/{len(outside)} | "
                  f"{sum(route(r) == 'auto_reply' for r in answerable)}/{len(answerable)} |")


def wrong(rows: list[Row]) -> None:
    for r in rows:
        if not r.routed_right:
            print(f"  wrong: [{r.label['split']}/{r.label['kind']}] {r.label['text']!r} -> {r.reply.route} "
                  f"{r.reply.confidence} draft={r.reply.draft!r} features={r.reply.features}")


def write_calibration(rows: list[Row]) -> None:
    data = [(r.reply.features, int(r.safe)) for r in rows
            if r.reply.features and "clarification" not in r.reply.features]
    calibration = fit(data)
    CALIBRATION.write_text(
        "# Written by `bench/support.py --fit` from the dev split of bench/support_messages.yaml "
        f"({len(data)} drafts): logistic weights of P(safe to send | features).\n"
        + yaml.safe_dump({"bias": calibration.bias, "weights": calibration.weights}, sort_keys=False),
        encoding="utf-8")
    print(f"fitted on {len(data)} dev drafts: bias {calibration.bias}, weights {calibration.weights}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fit", action="store_true", help="fit calibration.yaml on the dev split first")
    parser.add_argument("--show-wrong", action="store_true", help="list the messages routed wrongly")
    args = parser.parse_args()
    labels = yaml.safe_load(LABELS.read_text(encoding="utf-8"))["messages"]
    with FakeOrderAPI() as api, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = Settings(home=folder, knowledge=KnowledgeConfig(path=folder / "kb.db"),
                            openapi=[OpenAPIConfig(name="orders", spec=api.spec_url, allow_private=True)],
                            support=SupportSettings(order_tool="orders.get_order"))
        glm = AutoGLM(settings=settings, model=ScriptedModel(["unused"]))
        started = time.perf_counter()
        glm.knowledge.add(write_shop_documents(folder / "docs"))
        print(f"knowledge base: {len(glm.knowledge.documents())} documents in {time.perf_counter() - started:.1f} s")
        if args.fit:
            write_calibration(await measure(glm, [m for m in labels if m["split"] == "dev"]))
        started = time.perf_counter()
        rows = await measure(glm, labels)
        elapsed = time.perf_counter() - started
        await glm.aclose()
    print(f"{len(rows)} messages in {elapsed:.1f} s ({1000 * elapsed / len(rows):.0f} ms each, order lookups "
          "through the loopback API included)")
    for split in ("dev", "heldout"):
        report(split, [r for r in rows if r.label["split"] == split])
    side_by_side(rows)
    if args.show_wrong:
        wrong(rows)


if __name__ == "__main__":
    asyncio.run(main())
