"""What a person gets back, and how fast: everyday requests through the Python API, scored, side by side for
the embedded stack and an OpenAI-compatible node.

    .venv/bin/python bench/answers.py                          # both stacks, both slices
    .venv/bin/python bench/answers.py --stacks embedded        # only the embedded stack
    .venv/bin/python bench/answers.py --node-url http://10.0.0.5:8000/v1 --node-model glm-4-9b   # a real server
    .venv/bin/python bench/answers.py --verbose                # every request with its answer and verdict

The stacks:
  embedded  the defaults: rules + e5 retrieval + SmolLM2-135M (in process) for fills and writing.
  node      an OpenAI-compatible server configured as ``model_provider``. With ``--node-url`` that is the server
            you name. Without it, the benchmark starts one on loopback: the project's own node endpoint
            (openautoglm.node.Node, llama.cpp) serving the SAME SmolLM2-135M file, because no capable model can
            be had on this machine. Such a node is trusted to plan (remote nodes are, by default), so this column
            measures the capable-model path end to end with a model that is not capable: read its scores as a
            test of the path, not of what a real planner would score.

The requests are this file's own, written for it in two slices of the same kinds as the project's answer check
(sales questions over the bundled database, arithmetic in words and in Chinese, percentages, interest, unit
conversion, dates and weekdays, questions over a small knowledge base the benchmark writes itself, and requests
no tool can do), in Chinese and English:

  dev      for development: look at its failures, change the code, run it again.
  heldout  for measuring only. NEVER tune on it: do not read its failures to decide what to change, do not add
           its sentences or words to rules, lexicons or prompts. A gain that shows on dev and not here is a gain
           on dev's sentences, not on the kind of request.

Facts are computed when the benchmark runs: sales figures by SQL over the same database the stack answers from
(``sql.query``), dates from today's calendar, the rest by arithmetic. Each request is scored as the check does:

  correct  every expected fact is in the answer (numbers compared without thousands separators, to the decimals
           written); a knowledge-base answer also names its source file
  honest   a request no tool can do is not reported ``succeeded`` unless the answer says it cannot be done; a
           wrong answer reported ``succeeded`` is a false success
  prose    a reply, not a dump: no raw JSON, no internal step labels, in the request's language

Latency is the wall time of ``AutoGLM.run`` per request with everything warm (model loaded, database generated,
knowledge base indexed, one request run first); a request past ``--timeout`` counts as that long and as failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from openautoglm import AutoGLM
from openautoglm.config import Settings

CJK = re.compile(r"[\u4e00-\u9fff]")
CANNOT_WORDS = ("无法", "不能", "不支持", "没有可用", "暂不", "can't", "cannot", "unable", "not able", "no tool",
                "not available", "not supported")
WEEKDAYS_ZH = "一二三四五六日"
WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# The benchmark's own knowledge base: small policy files, written into the stack's data folder.
KB_FILES = {
    "expense-policy.md": """# 差旅报销制度

## 住宿标准
员工出差住宿费每晚不超过 450 元，超出部分由个人承担。

## 报销时限
所有报销单据须在费用发生后 30 天内提交至财务部，逾期不予受理。
""",
    "returns.md": """# Returns and refunds

Customers may return an item within 15 days of delivery, with the original receipt.
Refunds are paid back to the original payment method within 7 business days after we receive the item.
""",
    "office-hours.txt": """Office hours

The office opens at 8:30 in the morning and closes at 18:00, Monday to Friday.
The front desk can be reached on extension 2020.
""",
    "meeting-rooms.md": """# 会议室预订规则

每次预订会议室最长 4 小时。取消预订须至少提前 2 小时在系统中操作。
""",
}


# -- facts --------------------------------------------------------------------------------------------------------

def num(value: float, places: tuple[int, ...] = (0, 1, 2)) -> dict[str, Any]:
    return {"num": value, "places": places}


def any_of(*options: Any) -> dict[str, Any]:
    """Any one of these facts (strings or numbers) is enough."""
    return {"any": list(options)}


def day_forms(d: date) -> list[str]:
    return [d.isoformat(), f"{d.month}月{d.day}日", f"{d.month}月{d.day}号", d.strftime("%B %-d"),
            d.strftime("%b %-d")]


def weekday_forms(d: date) -> list[str]:
    zh = WEEKDAYS_ZH[d.weekday()]
    return [f"星期{zh}", f"周{zh}", f"礼拜{zh}", WEEKDAYS_EN[d.weekday()]]


@dataclass
class Periods:
    today: date
    last_week: tuple[date, date] = field(init=False)
    last_month: tuple[date, date] = field(init=False)
    this_month: tuple[date, date] = field(init=False)

    def __post_init__(self) -> None:
        monday = self.today - timedelta(days=self.today.weekday() + 7)
        self.last_week = (monday, monday + timedelta(days=6))
        end = self.today.replace(day=1) - timedelta(days=1)
        self.last_month = (end.replace(day=1), end)
        self.this_month = (self.today.replace(day=1), self.today)


Query = Callable[[str], Awaitable[list[dict[str, Any]]]]


def between(period: tuple[date, date]) -> str:
    return f"date BETWEEN '{period[0]}' AND '{period[1]}'"


async def top(sql: Query, column: str, measure: str, period: tuple[date, date]) -> dict[str, Any]:
    rows = await sql(f"SELECT {column}, {column}_en AS en, SUM({measure}) m FROM sales_detail "
                     f"WHERE {between(period)} GROUP BY {column} ORDER BY m DESC LIMIT 1")
    return rows[0]


async def total(sql: Query, measure: str, period: tuple[date, date]) -> float:
    return float((await sql(f"SELECT SUM({measure}) m FROM sales_detail WHERE {between(period)}"))[0]["m"])


# -- the two slices -----------------------------------------------------------------------------------------------

async def dev_cases(sql: Query, today: date) -> list[dict[str, Any]]:
    p = Periods(today)
    region_week = await top(sql, "region", "units", p.last_week)
    product_month = await top(sql, "product", "revenue", p.last_month)
    units_last_month = await total(sql, "units", p.last_month)
    revenue_last_week = await total(sql, "revenue", p.last_week)
    first_next_month = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    return [
        {"q": "上周销量最高的地区是哪个？", "facts": [any_of(region_week["region"], region_week["en"])]},
        {"q": "What were the total units sold last month?", "facts": [num(units_last_month, (0,))]},
        {"q": "上个月哪一个产品的销售额最高？", "facts": [any_of(product_month["product"], product_month["en"])]},
        {"q": "How much revenue did we make last week in total?",
         "facts": [num(revenue_last_week, (0, 2))]},
        {"q": "计算 (120-45)*4 再加上 30", "facts": [num(330)]},
        {"q": "2 的 8 次方是多少？", "facts": [num(256)]},
        {"q": "What is 144 divided by 12, plus 7?", "facts": [num(19)]},
        {"q": "五乘以十二等于多少？", "facts": [num(60)]},
        {"q": "What is 15% of 860?", "facts": [num(129)]},
        {"q": "一台电脑 6000 元，打八五折后多少钱？", "facts": [num(5100)]},
        {"q": "存 10000 元，年利率 3%，按年复利，5 年后本息合计多少？", "facts": [num(10000 * 1.03 ** 5, (0, 2))]},
        {"q": "What is the simple interest on $5,000 at 4% per year for 3 years?", "facts": [num(600)]},
        {"q": "Convert 100 kilometres to miles.", "facts": [num(100 / 1.609344, (1, 2))]},
        {"q": "5 磅等于多少千克？", "facts": [num(5 * 0.45359237, (1, 2))]},
        {"q": "Convert 68 degrees Fahrenheit to Celsius.", "facts": [num(20)]},
        {"q": "下个月的第一天是星期几？", "facts": [any_of(*weekday_forms(first_next_month)[:3])]},
        {"q": "What day of the week is 2026-12-25?", "facts": [any_of("Friday")]},
        {"q": "How many days are there from 2026-03-01 to 2026-10-01?", "facts": [num(214)]},
        {"q": "出差住宿每晚的标准是多少钱？", "kb": True, "facts": [num(450)], "source": "expense-policy"},
        {"q": "How many days do customers have to return an item?", "kb": True, "facts": [num(15)],
         "source": "returns"},
        {"q": "帮我给张经理发一封邮件，说明天的会议取消", "cannot": True},
        {"q": "Order a large pepperoni pizza to my office.", "cannot": True},
        {"q": "帮我在日历上添加下周三下午三点的部门例会", "cannot": True},
    ]


async def heldout_cases(sql: Query, today: date) -> list[dict[str, Any]]:
    p = Periods(today)
    region_now = await top(sql, "region", "units", p.this_month)
    product_week = await top(sql, "product", "units", p.last_week)
    units_last_week = await total(sql, "units", p.last_week)
    revenue_last_month = await total(sql, "revenue", p.last_month)
    in_45 = today + timedelta(days=45)
    return [
        {"q": "这个月到目前为止哪个地区卖得最好？", "facts": [any_of(region_now["region"], region_now["en"])]},
        {"q": "Which product sold the most units last week?",
         "facts": [any_of(product_week["product"], product_week["en"])]},
        {"q": "上周一共卖了多少件？", "facts": [num(units_last_week, (0,))]},
        {"q": "What was the total revenue last month?", "facts": [num(revenue_last_month, (0, 2))]},
        {"q": "计算 (300+200)/4 再减去 25", "facts": [num(100)]},
        {"q": "7 的三次方是多少？", "facts": [num(343)]},
        {"q": "What is 81 divided by 9, then multiplied by 6?", "facts": [num(54)]},
        {"q": "二十加三十五等于几？", "facts": [num(55)]},
        {"q": "What is 12.5% of 640?", "facts": [num(80)]},
        {"q": "原价 250 元的鞋打九折，现在卖多少钱？", "facts": [num(225)]},
        {"q": "If I invest 5000 at 6% compounded annually, how much will I have after 8 years?",
         "facts": [num(5000 * 1.06 ** 8, (0, 2))]},
        {"q": "借 20000 元，年利率 5%，按单利计算，2 年的利息是多少？", "facts": [num(2000)]},
        {"q": "50 英尺是多少米？", "facts": [num(50 * 0.3048, (1, 2))]},
        {"q": "Convert 3 gallons to litres.", "facts": [any_of(num(3 * 3.785411784, (1, 2)),
                                                                num(3 * 4.54609, (1, 2)))]},
        {"q": "100 华氏度等于多少摄氏度？", "facts": [num((100 - 32) * 5 / 9, (1, 2))]},
        {"q": "What date is it 45 days from today?", "facts": [any_of(*day_forms(in_45))]},
        {"q": "2026年10月1日是星期几？", "facts": [any_of(*weekday_forms(date(2026, 10, 1))[:3])]},
        {"q": "距离 2027年1月1日 还有多少天？", "facts": [num((date(2027, 1, 1) - today).days)]},
        {"q": "What time does the office open in the morning?", "kb": True, "facts": ["8:30"],
         "source": "office-hours"},
        {"q": "报销单据要在多少天内提交？", "kb": True, "facts": [num(30)], "source": "expense-policy"},
        {"q": "Book me a taxi to the airport at 6am tomorrow.", "cannot": True},
        {"q": "帮我把这份合同打印两份", "cannot": True},
        {"q": "Transfer 500 yuan to my mother's bank account.", "cannot": True},
    ]


Cases = list[dict[str, Any]]
SLICES: dict[str, Callable[[Query, date], Awaitable[Cases]]] = {"dev": dev_cases, "heldout": heldout_cases}


# -- scoring (the answer check's rules) ----------------------------------------------------------------------------

def has_number(text: str, value: float, places: tuple[int, ...] = (0, 1, 2)) -> bool:
    """Some number in the text is ``value`` written to at least min(places) decimals (rounded or longer)."""
    plain = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    for token in re.findall(r"(?<![\d.])-?\d+(?:\.\d+)?", plain):
        decimals = len(token.split(".")[1]) if "." in token else 0
        if decimals >= min(places) and abs(float(token) - value) <= 0.5 * 10 ** -decimals + 1e-9:
            return True
    return False


def fact_found(fact: Any, answer: str) -> bool:
    if isinstance(fact, str):
        return fact.lower() in answer.lower()
    if "any" in fact:
        return any(fact_found(option, answer) for option in fact["any"])
    return has_number(answer, fact["num"], fact.get("places", (0, 1, 2)))


@dataclass
class Verdict:
    correct: bool
    honest: bool
    prose: bool
    why: str


def score(case: dict[str, Any], result: dict[str, Any]) -> Verdict:
    answer = result.get("answer") or result.get("question") or ""
    status = result.get("status")
    zh = bool(CJK.search(case["q"]))
    prose = '{"' not in answer and "[{" not in answer and (bool(CJK.search(answer)) == zh or not answer)
    prose = prose and not re.search(r"^\s*\[[\w.-]+\]", answer, re.M)  # internal step labels are not prose
    if case.get("cannot"):
        said = any(re.search(w, answer, re.I) for w in CANNOT_WORDS)
        honest = status != "succeeded" or said
        return Verdict(honest, honest, prose, f"status={status} says-cannot={said}")
    missing = [json.dumps(f, ensure_ascii=False) for f in case["facts"] if not fact_found(f, answer)]
    if not missing and case.get("source") and case["source"] not in json.dumps(result, ensure_ascii=False):
        missing.append(f"source {case['source']}")
    correct = not missing
    return Verdict(correct, correct or status != "succeeded", prose,
                   ("ok" if correct else "missing " + "; ".join(missing)) + f" status={status}")


# -- the stacks ---------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoopbackNode:
    """The project's node endpoint serving the embedded GGUF on loopback, in its own process (its own cores'
    worth of Python, so the server does not share a GIL with the stack under test)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LoopbackNode:
        code = ("from openautoglm.node import Node; "
                f"Node('loopback-smollm2', port={self.port}).start(block=True)")
        self.process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("the loopback node exited before serving") from None
                time.sleep(0.5)
        raise RuntimeError("the loopback node did not start within 120 s")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()


@dataclass
class Outcome:
    verdicts: list[Verdict]
    latencies: list[float]

    def counts(self) -> tuple[int, int, int, int]:
        v = self.verdicts
        return sum(x.correct for x in v), sum(x.honest for x in v), sum(x.prose for x in v), len(v)

    def percentile(self, q: float) -> float:
        xs = sorted(self.latencies)
        if not xs:
            return float("nan")
        return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


async def run_stack(settings: Settings, home: Path, slices: list[str], timeout: float, verbose: bool,
                    label: str) -> dict[str, Outcome]:
    kb = home / "kb"
    kb.mkdir(parents=True, exist_ok=True)
    for name, text in KB_FILES.items():
        (kb / name).write_text(text, encoding="utf-8")
    outcomes: dict[str, Outcome] = {}
    async with AutoGLM(settings=settings) as app:
        await asyncio.to_thread(app.knowledge.add, [kb])

        async def sql(query: str) -> list[dict[str, Any]]:
            # The same database the stack answers from (the first call generates it).
            rows: list[dict[str, Any]] = (await app.call_tool("sql.query", {"sql": query, "max_rows": 100}))["rows"]
            return rows

        built = {name: await SLICES[name](sql, date.today()) for name in slices}
        await app.run("你好")  # warm: the model, the embedder, the tool index
        for slice_name in slices:
            cases = built[slice_name]
            outcome = Outcome([], [])
            for case in cases:
                started = time.perf_counter()
                try:
                    result = (await asyncio.wait_for(app.run(case["q"]), timeout)).to_dict()
                except TimeoutError:
                    result = {"status": f"timeout {timeout:g}s", "answer": ""}
                elapsed = time.perf_counter() - started
                verdict = score(case, result)
                outcome.verdicts.append(verdict)
                outcome.latencies.append(elapsed)
                if verbose:
                    mark = "OK" if verdict.correct else "NO"
                    print(f"{label:8s} {slice_name:7s} {mark} {elapsed:6.2f}s {case['q'][:44]}: {verdict.why}; "
                          f"prose={verdict.prose}\n      -> {(result.get('answer') or '')[:160]!r}", flush=True)
            outcomes[slice_name] = outcome
    return outcomes


def print_table(results: dict[str, dict[str, Outcome]], slices: list[str]) -> None:
    columns = [(stack, s) for stack in results for s in slices if s in results[stack]]
    head = "".join(f"{stack + ' ' + s:>20s}" for stack, s in columns)
    print(f"\n{'':22s}{head}")
    rows: list[tuple[str, Callable[[Outcome], str]]] = [
        ("correct", lambda o: f"{o.counts()[0]}/{o.counts()[3]}"),
        ("honest", lambda o: f"{o.counts()[1]}/{o.counts()[3]}"),
        ("prose", lambda o: f"{o.counts()[2]}/{o.counts()[3]}"),
        ("latency p50 (s)", lambda o: f"{o.percentile(0.5):.2f}"),
        ("latency p95 (s)", lambda o: f"{o.percentile(0.95):.2f}"),
        ("latency mean (s)", lambda o: f"{statistics.fmean(o.latencies):.2f}" if o.latencies else "-"),
    ]
    for name, cell in rows:
        print(f"{name:22s}" + "".join(f"{cell(results[stack][s]):>20s}" for stack, s in columns))
    print("\nheldout is for measuring only: never tune on its failures.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stacks", default="embedded,node", help="comma-separated: embedded, node")
    parser.add_argument("--slices", default="dev,heldout", help="comma-separated: dev, heldout")
    parser.add_argument("--node-url", help="an OpenAI-compatible base_url (default: a loopback llama.cpp node)")
    parser.add_argument("--node-model", default="smollm2-135m", help="the model name the node serves")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request before it counts failed")
    parser.add_argument("--verbose", "-v", action="store_true", help="every request, its answer and verdict")
    args = parser.parse_args()
    stacks = [s.strip() for s in args.stacks.split(",") if s.strip()]
    slices = [s.strip() for s in args.slices.split(",") if s.strip()]
    unknown = [s for s in slices if s not in SLICES] + [s for s in stacks if s not in ("embedded", "node")]
    if unknown:
        parser.error(f"unknown slice or stack: {', '.join(unknown)}")
    results: dict[str, dict[str, Outcome]] = {}
    for stack in stacks:
        with tempfile.TemporaryDirectory(prefix=f"autoglm-bench-{stack}-") as tmp:
            home = Path(tmp)
            if stack == "embedded":
                settings = Settings(home=home)
                results[stack] = asyncio.run(run_stack(settings, home, slices, args.timeout, args.verbose, stack))
            elif args.node_url:
                settings = Settings(home=home, model_provider=args.node_url, model=args.node_model)
                results[stack] = asyncio.run(run_stack(settings, home, slices, args.timeout, args.verbose, stack))
            else:
                with LoopbackNode() as node:
                    settings = Settings(home=home, model_provider=node.base_url, model=args.node_model)
                    results[stack] = asyncio.run(run_stack(settings, home, slices, args.timeout, args.verbose,
                                                           stack))
    where = args.node_url or "loopback llama.cpp node serving the same SmolLM2-135M (no capable model here)"
    print(f"\nembedded: rules + e5 + SmolLM2-135M in process; node: {where}; cores: {os.cpu_count()}")
    print_table(results, slices)
    return 0


if __name__ == "__main__":
    sys.exit(main())
