"""SQL tools on SQLite: read-only enforced by the database (authorizer, query_only, mode=ro), attacked for real."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from openautoglm import AutoGLM, ScriptedModel, Settings
from openautoglm.errors import ConfigError, ToolArgumentError, ToolError, ToolPermissionError
from openautoglm.tools import Tool, ToolContext, ToolRegistry
from openautoglm.tools.sql import sql_tools


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    (tmp_path / "db").mkdir()
    path = tmp_path / "db" / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.executescript("""
            CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL);
            CREATE INDEX items_name ON items(name);
            CREATE VIEW big AS SELECT * FROM items WHERE qty > 10;
            INSERT INTO items VALUES (1, '苹果', 5), (2, 'pear', 20), (3, 'plum', 12);
        """)
        conn.executemany("INSERT INTO items VALUES (?, ?, ?)", [(i, f"item{i}", i) for i in range(4, 300)])
    conn.close()
    return path


def checksum(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        state = (conn.execute("SELECT * FROM items ORDER BY id").fetchall(),
                 conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall(),
                 conn.execute("PRAGMA user_version").fetchall())
    conn.close()
    return hashlib.sha256(repr(state).encode()).hexdigest()


def tools_for(path: Path, **kw: Any) -> ToolRegistry:
    return ToolRegistry(sql_tools("shop", f"sqlite:///{path}", **kw))


async def call(registry: ToolRegistry, name: str, **args: Any) -> Any:
    tool: Tool = registry.get(name)
    return await tool(tool.validate(args), ToolContext())


async def test_schema_in_description_and_reads(shop: Path) -> None:
    tools = tools_for(shop, max_rows=50)
    assert tools.names() == ["sql.shop.query", "sql.shop.tables"]
    query = tools.get("sql.shop.query")
    assert "items(id INTEGER, name TEXT, qty INTEGER)" in query.description
    assert "big(" in query.description and "[view]" in query.description
    out = await call(tools, "sql.shop.query", sql="SELECT name, qty FROM items WHERE id <= 3 ORDER BY id")
    assert out == {"columns": ["name", "qty"], "rows": [{"name": "苹果", "qty": 5}, {"name": "pear", "qty": 20},
                                                         {"name": "plum", "qty": 12}],
                   "row_count": 3, "truncated": False}
    assert "苹果 | 5" in query.summarize(out)
    capped = await call(tools, "sql.shop.query", sql="SELECT * FROM items")
    assert capped["row_count"] == 50 and capped["truncated"]
    fewer = await call(tools, "sql.shop.query", sql="SELECT * FROM items", max_rows=7)
    assert fewer["row_count"] == 7
    with pytest.raises(ToolArgumentError):
        query.validate({"sql": "SELECT 1", "max_rows": 51})
    listed = await call(tools, "sql.shop.tables")
    assert {t["name"] for t in listed["tables"]} == {"items", "big"}
    recursive = await call(tools, "sql.shop.query", sql="WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 "
                           "FROM n WHERE x < 10) SELECT sum(x) AS s FROM n")
    assert recursive["rows"] == [{"s": 55}]


ATTACKS = [
    "INSERT INTO items VALUES (999, 'evil', 1)",
    "REPLACE INTO items VALUES (1, 'evil', 1)",
    "INSERT INTO items VALUES (1, 'x', 1) ON CONFLICT(id) DO UPDATE SET qty = 0",
    "UPDATE items SET qty = 0",
    "DELETE FROM items",
    "WITH doomed AS (SELECT id FROM items) DELETE FROM items WHERE id IN (SELECT id FROM doomed)",
    "DROP TABLE items",
    "DROP VIEW big",
    "DROP INDEX items_name",
    "CREATE TABLE evil (a)",
    "CREATE TEMP TABLE evil (a)",
    "CREATE TABLE evil AS SELECT * FROM items",
    "CREATE VIEW evil AS SELECT 1",
    "CREATE TRIGGER evil AFTER INSERT ON items BEGIN DELETE FROM items; END",
    "CREATE INDEX evil ON items(qty)",
    "ALTER TABLE items ADD COLUMN evil TEXT",
    "ALTER TABLE items RENAME TO gone",
    "SELECT 1; DELETE FROM items",
    "SELECT * FROM items; DROP TABLE items",
    "ATTACH DATABASE '{tmp}/evil.db' AS evil",
    "ATTACH DATABASE ':memory:' AS mem",
    "DETACH DATABASE main",
    "VACUUM",
    "VACUUM INTO '{tmp}/copy.db'",
    "REINDEX items_name",
    "ANALYZE",
    "PRAGMA query_only=OFF",
    "PRAGMA query_only = 0",
    "PRAGMA writable_schema=ON",
    "PRAGMA journal_mode=DELETE",
    "PRAGMA user_version=42",
    "PRAGMA main.user_version = 42",
    "PRAGMA foreign_keys=OFF",
    "PRAGMA wal_checkpoint",
    "PRAGMA optimize",
    "BEGIN IMMEDIATE",
    "COMMIT",
    "SAVEPOINT s1",
    "SELECT load_extension('/tmp/evil.so')",
    "SELECT fts3_tokenizer('simple')",
    "CREATE VIRTUAL TABLE evil USING fts5(a)",
]


@pytest.mark.parametrize("attack", ATTACKS)
async def test_writes_and_escapes_are_refused(shop: Path, attack: str) -> None:
    tools = tools_for(shop)
    before = checksum(shop)
    sql = attack.format(tmp=shop.parent)
    with pytest.raises((ToolPermissionError, ToolArgumentError)) as info:
        await call(tools, "sql.shop.query", sql=sql)
    message = str(info.value)
    assert message.startswith("sql.shop.query: ")
    assert "read-only" in message or "one SQL statement" in message, message
    assert checksum(shop) == before
    assert sorted(p.name for p in shop.parent.iterdir()) == ["shop.db"]  # no attached or copied files


async def test_refusal_names_what_was_refused(shop: Path) -> None:
    tools = tools_for(shop)
    with pytest.raises(ToolPermissionError, match=r"read-only \(PRAGMA query_only=OFF\)"):
        await call(tools, "sql.shop.query", sql="PRAGMA query_only=OFF")
    with pytest.raises(ToolPermissionError, match=r"read-only \(DELETE items\)"):
        await call(tools, "sql.shop.query", sql="DELETE FROM items")
    with pytest.raises(ToolPermissionError, match=r"ATTACH"):
        await call(tools, "sql.shop.query", sql=f"ATTACH DATABASE '{shop.parent}/x.db' AS x")


async def test_reading_pragmas_is_allowed(shop: Path) -> None:
    tools = tools_for(shop)
    assert (await call(tools, "sql.shop.query", sql="PRAGMA query_only"))["rows"] == [{"query_only": 1}]
    info = await call(tools, "sql.shop.query", sql="PRAGMA table_info(items)")
    assert [r["name"] for r in info["rows"]] == ["id", "name", "qty"]


async def test_time_limit_stops_a_runaway_query(shop: Path) -> None:
    tools = tools_for(shop, timeout_s=0.3)
    with pytest.raises(ToolError, match=r"ran longer than 0.3s"):
        await call(tools, "sql.shop.query",
                   sql="WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM n) SELECT count(*) FROM n")


async def test_writes_when_granted_need_approval(shop: Path) -> None:
    settings = Settings(sql_databases=[{"name": "shop", "url": f"sqlite:///{shop}", "allow_writes": True}])
    approvals: list[str] = []

    async def approve(tool: Tool, args: dict[str, Any], ctx: ToolContext) -> bool:
        approvals.append(tool.name)
        return "qty = 99" in args["sql"]

    insert = {"steps": [{"id": "w", "uses": "sql.shop.execute",
                         "with": {"sql": "UPDATE items SET qty = 99 WHERE id = 1"}}]}
    denied = AutoGLM(settings=settings, model=ScriptedModel(["unused"]))  # no approver: nobody can approve
    assert denied.tools.get("sql.shop.execute").side_effects
    result = await denied.execute(insert)
    assert result.steps[0].status == "failed" and "not approved" in (result.steps[0].error or "")
    assert [e.data["approved"] for e in denied.trace(result.task_id) if e.kind == "approval"] == [False]
    await denied.aclose()

    app = AutoGLM(settings=settings, model=ScriptedModel(["unused"]), approver=approve)
    result = await app.execute(insert)
    assert result.steps[0].status == "succeeded" and result.steps[0].output == {"rowcount": 1}
    assert approvals == ["sql.shop.execute"]
    # The query tool stays read-only even on a database that grants writes.
    result = await app.execute({"steps": [{"id": "q", "uses": "sql.shop.query", "with": {"sql": "DELETE FROM items"}}]})
    assert result.steps[0].status == "failed" and "read-only" in (result.steps[0].error or "")
    await app.aclose()
    with sqlite3.connect(shop) as conn:
        assert conn.execute("SELECT qty FROM items WHERE id = 1").fetchone() == (99,)
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (299,)
    conn.close()


async def test_a_write_in_a_plan_is_a_failed_step_with_the_refusal_in_the_trace(shop: Path) -> None:
    settings = Settings(sql_databases=[{"name": "shop", "url": f"sqlite:///{shop}"}])
    app = AutoGLM(settings=settings, model=ScriptedModel(["unused"]))
    before = checksum(shop)
    plan = {"steps": [
        {"id": "count", "uses": "sql.shop.query", "with": {"sql": "SELECT count(*) AS n FROM items"}},
        {"id": "wipe", "uses": "sql.shop.query", "with": {"sql": "DELETE FROM items"}},
        {"id": "after", "uses": "math.calculate", "with": {"expression": "${wipe.output.row_count} + 1"}},
        {"id": "sales", "uses": "sql.query", "with": {"sql": "DROP TABLE sales"}},
    ]}
    result = await app.execute(plan)
    status = {s.id: str(s.status) for s in result.steps}
    assert status == {"count": "succeeded", "wipe": "failed", "after": "skipped", "sales": "failed"}
    events = app.trace(result.task_id)
    failed = {e.step_id: e.data for e in events if e.kind == "step.failed"}
    assert failed["wipe"]["error_type"] == "ToolPermissionError"
    assert "refused by the database" in failed["wipe"]["error"] and "DELETE items" in failed["wipe"]["error"]
    assert "read-only (a schema change (CREATE/DROP/ALTER))" in failed["sales"]["error"]
    assert result.status == "partial" and "没能完成" not in result.answer  # an English request: English reply
    assert "could not do" in result.answer and "refused" in result.answer
    assert checksum(shop) == before
    await app.aclose()


def test_configuration_mistakes_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not mysql"):
        sql_tools("x", "mysql://u@127.0.0.1/db")
    with pytest.raises(ConfigError, match="in-memory"):
        sql_tools("x", "sqlite://")
    with pytest.raises(ConfigError, match="not a SQLAlchemy URL"):
        sql_tools("x", "::::")
    missing = ToolRegistry(sql_tools("gone", f"sqlite:///{tmp_path / 'nope.db'}"))
    assert "unavailable" in missing.get("sql.gone.query").description  # listing tools never fails


async def test_granted_writes_still_cannot_attach_other_files(shop: Path) -> None:
    async def approve(tool: Tool, args: dict[str, Any], ctx: ToolContext) -> bool:
        return True

    settings = Settings(sql_databases=[{"name": "shop", "url": f"sqlite:///{shop}", "allow_writes": True}])
    app = AutoGLM(settings=settings, model=ScriptedModel(["unused"]), approver=approve)
    result = await app.execute({"steps": [{"id": "a", "uses": "sql.shop.execute",
                                           "with": {"sql": f"ATTACH DATABASE '{shop.parent}/other.db' AS o"}}]})
    assert result.steps[0].status == "failed" and "refused by the database" in (result.steps[0].error or "")
    assert sorted(p.name for p in shop.parent.iterdir()) == ["shop.db"]
    await app.aclose()
